import { createMemoryStore } from '../../../src/store/index.js'
import { runStoreCompliance } from './compliance.js'

runStoreCompliance('memory store', async ({ capacity }) => {
  const store = createMemoryStore({ capacity })
  return { store, cleanup: async () => { await store.close() } }
})
