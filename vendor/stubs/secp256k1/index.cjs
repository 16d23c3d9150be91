'use strict'
// BatChain stub for 'secp256k1' (vendor/stubs/README.md): loading works, using it throws.
const fail = () => { throw new Error("'secp256k1' is a BatChain install-time stub (vendor/stubs/README.md): this kadence feature is not available") }
module.exports = new Proxy(fail, {
  get: (target, prop) => (typeof prop === 'string' && prop !== 'then' && prop !== '__esModule') ? fail : undefined
})
