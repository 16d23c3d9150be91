import cliProgress from 'cli-progress'
import { formatSize } from '../core/size.js'

export interface Progress {
  update: (done: number, total?: number) => void
  stop: () => void
}

/** A progress bar on stderr when stdout is a terminal and output is not JSON; otherwise nothing. */
export function createProgress (label: string, total: number, enabled: boolean): Progress {
  if (!enabled || process.stdout.isTTY !== true) return { update: () => {}, stop: () => {} }
  const bar = new cliProgress.SingleBar({
    format: `${label} [{bar}] {percentage}% | {done} of {size} | {speed}/s | eta {eta_formatted}`,
    hideCursor: true,
    stream: process.stderr,
    etaBuffer: 50
  }, cliProgress.Presets.shades_classic)
  const started = performance.now()
  bar.start(Math.max(total, 1), 0, { done: formatSize(0), size: formatSize(total), speed: formatSize(0) })
  return {
    update: (done, newTotal) => {
      if (newTotal !== undefined && newTotal !== total) { total = newTotal; bar.setTotal(Math.max(total, 1)) }
      const secs = (performance.now() - started) / 1000
      bar.update(done, { done: formatSize(done), size: formatSize(total), speed: formatSize(secs > 0 ? Math.round(done / secs) : 0) })
    },
    stop: () => { bar.stop() }
  }
}
