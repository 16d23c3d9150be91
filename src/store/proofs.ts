import { hashNode } from '../crypto/merkle.js'

/**
 * All levels of a Merkle tree built once from the leaf hashes, so one audit of many
 * indices costs one tree build instead of one per index (`buildProof` rebuilds the tree
 * on every call: 64 challenges of a 4096-leaf piece would hash ~500k nodes).
 * Same tree shape as src/crypto/merkle.ts: an odd last node is promoted unchanged.
 */
export class MerkleLevels {
  private readonly levels: Buffer[][]

  constructor (leafHashes: readonly Buffer[]) {
    let level = leafHashes.slice()
    this.levels = [level]
    while (level.length > 1) {
      const next: Buffer[] = []
      for (let i = 0; i < level.length; i += 2) {
        const left = level[i] as Buffer
        const right = level[i + 1]
        next.push(right === undefined ? left : hashNode(left, right))
      }
      this.levels.push(next)
      level = next
    }
  }

  get root (): Buffer {
    return (this.levels[this.levels.length - 1] as Buffer[])[0] as Buffer
  }

  /** Sibling hashes from leaf `index` to the root, exactly as `buildProof(leafHashes, index)` returns them. */
  proof (index: number): Buffer[] {
    const proof: Buffer[] = []
    let i = index
    for (let depth = 0; depth < this.levels.length - 1; depth++) {
      const level = this.levels[depth] as Buffer[]
      const sibling = i % 2 === 0 ? level[i + 1] : level[i - 1]
      if (sibling !== undefined) proof.push(sibling)
      i = Math.floor(i / 2)
    }
    return proof
  }
}
