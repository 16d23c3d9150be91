import { Command, CommanderError } from 'commander'
import { VERSION } from '../core/version.js'
import { registerAudit } from './commands/audit.js'
import { registerController } from './commands/controller.js'
import { registerDashboard } from './commands/dashboard.js'
import { registerDownload } from './commands/download.js'
import { registerLs } from './commands/ls.js'
import { registerNode } from './commands/node.js'
import { registerRepair } from './commands/repair.js'
import { registerScheduler } from './commands/scheduler.js'
import { registerStatus } from './commands/status.js'
import { registerTestnet } from './commands/testnet.js'
import { registerUpload } from './commands/upload.js'
import { registerWorker } from './commands/worker.js'
import { createOutput, reportError, type Output } from './output.js'

/**
 * `batchain`: argument parsing and output only; the work lives in client/ and node/.
 * Exit codes: 0 ok, 1 failure, 2 usage, 3 audit found failures, 130 interrupted.
 */
async function main (argv: string[]): Promise<number> {
  // Logs are JSON on stderr; a CLI user wants only warnings there unless asked.
  process.env.BATCHAIN_LOG_LEVEL ??= argv[2] === 'node' ? 'info' : 'error'
  const program = new Command('batchain')
    .description('BatChain: encrypted, erasure-coded file storage on a peer-to-peer network of BatNodes')
    .version(VERSION)
    .option('--json', 'print one JSON document on stdout (for scripts)')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeErr: s => process.stderr.write(s) })
  let cached: Output | undefined
  const output = (): Output => { cached ??= createOutput(program.opts<{ json?: boolean }>().json === true); return cached }
  // Every subcommand accepts --json too (commander passes it to the root through positional options).
  program.enablePositionalOptions(false)
  registerUpload(program, output)
  registerDownload(program, output)
  registerLs(program, output)
  registerAudit(program, output)
  registerRepair(program, output)
  registerStatus(program, output)
  registerNode(program, output)
  registerTestnet(program, output)
  registerWorker(program, output)
  registerScheduler(program, output)
  registerDashboard(program, output)
  registerController(program, output)
  for (const cmd of allCommands(program)) {
    if (cmd !== program) cmd.option('--json', 'print one JSON document on stdout (for scripts)').exitOverride()
    cmd.hook('preAction', (_this, actionCmd) => {
      if (actionCmd.opts<{ json?: boolean }>().json === true) cached = createOutput(true)
    })
  }
  try {
    await program.parseAsync(argv)
    return typeof process.exitCode === 'number' ? process.exitCode : 0
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return 0
      return 2
    }
    return reportError(err, output().json || argv.includes('--json'))
  }
}

function allCommands (cmd: Command): Command[] {
  return [cmd, ...cmd.commands.flatMap(allCommands)]
}

main(process.argv).then(code => {
  process.exitCode = code
  // Open sockets or timers must not keep a finished command alive.
  if (process.argv[2] !== 'node') setTimeout(() => process.exit(code), 50).unref()
}, err => {
  process.stderr.write(`batchain: ${String(err)}\n`)
  process.exit(1)
})
