import { setMaxListeners } from 'node:events'

/** An AbortSignal that fires on the first SIGINT/SIGTERM, so long commands stop cleanly. */
export function interruptSignal (): { signal: AbortSignal, dispose: () => void } {
  const controller = new AbortController()
  // Every in-flight request listens on this one signal (dozens during an upload): not a leak.
  setMaxListeners(0, controller.signal)
  const onSignal = (): void => { controller.abort(new Error('Interrupted')) }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
  }
}
