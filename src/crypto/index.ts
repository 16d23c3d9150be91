export * from './merkle.js'
export * from './aead.js'
export * from './keys.js'
export * from './capability.js'
