import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { TestnetStartError } from '../core/errors.js'

/**
 * How to run this package's own CLI as a child process: [node, <package>/bin/batchain.js].
 * The bin sits two levels above this module both compiled (dist/testnet/) and as source
 * (src/testnet/); it loads dist/cli/main.js, so the package must be built.
 */
export function selfCliCommand (): string[] {
  const bin = fileURLToPath(new URL('../../bin/batchain.js', import.meta.url))
  const main = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url))
  if (!existsSync(bin) || !existsSync(main)) {
    throw new TestnetStartError(`Cannot find the batchain CLI to start nodes with (${bin} over ${main}): run \`npm run build\``)
  }
  return [process.execPath, bin]
}
