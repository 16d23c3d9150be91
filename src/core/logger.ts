import { pino, type Logger } from 'pino'

export type { Logger }

/**
 * Structured JSON logs on stderr (stdout belongs to command output), one
 * namespaced child per component: `createLogger('transfer')` → component "batchain:transfer".
 * Level from BATCHAIN_LOG_LEVEL (default info; "silent" for quiet CLIs).
 */
let root: Logger | undefined

export function rootLogger (): Logger {
  root ??= pino({
    level: process.env.BATCHAIN_LOG_LEVEL ?? 'info',
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime
  }, pino.destination({ fd: 2, sync: true }))
  return root
}

export function createLogger (component: string): Logger {
  return rootLogger().child({ component: `batchain:${component}` })
}

/** A logger that drops everything, for library use and tests that do not want output. */
export function silentLogger (): Logger {
  return pino({ level: 'silent' })
}
