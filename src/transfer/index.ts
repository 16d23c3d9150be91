export * from './contact.js'
export * from './client.js'
export * from './server.js'
export { PeerConnection } from './connection.js'
