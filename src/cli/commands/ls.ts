import type { Command } from 'commander'
import { formatSize } from '../../core/size.js'
import { batchainHome, listUploads, type UploadRecord } from '../../client/index.js'
import type { Output } from '../output.js'

export function registerLs (program: Command, output: () => Output): void {
  program.command('ls')
    .description('list the uploads recorded on this machine ($BATCHAIN_HOME or ~/.batchain)')
    .action(async () => {
      const out = output()
      const uploads = await listUploads(batchainHome())
      out.result({ uploads }, ({ uploads: list }: { uploads: UploadRecord[] }) => list.length === 0
        ? 'no uploads recorded'
        : list.map(u => `${u.uploadedAt}  ${formatSize(u.size).padStart(10)}  ${u.dataShards}+${u.parityShards}  ${u.name}\n    ${u.capability}`).join('\n'))
    })
}
