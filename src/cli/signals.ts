/** An AbortSignal that fires on the first SIGINT/SIGTERM, so long commands stop cleanly. */
export function interruptSignal (): { signal: AbortSignal, dispose: () => void } {
  const controller = new AbortController()
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
