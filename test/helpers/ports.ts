import { createServer, type Server } from 'node:net'

/**
 * Free TCP ports on 127.0.0.1, found by letting the kernel pick one (listen on port 0) and closing
 * the listener again. Another process may take the port between this call and its use; prefer
 * letting the code under test listen on port 0 itself and report its port when it can.
 */
export async function freePort (host = '127.0.0.1'): Promise<number> {
  const [port] = await freePorts(1, host)
  return port!
}

/** n distinct free ports: all listeners are held open together, so no port is returned twice. */
export async function freePorts (n: number, host = '127.0.0.1'): Promise<number[]> {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`freePorts: n must be a non-negative integer, got ${n}`)
  const servers: Server[] = []
  try {
    const ports: number[] = []
    for (let i = 0; i < n; i++) {
      const server = createServer()
      servers.push(server)
      ports.push(await listen(server, host))
    }
    return ports
  } finally {
    await Promise.all(servers.map(async (server) => await close(server)))
  }
}

async function listen (server: Server, host: string): Promise<number> {
  return await new Promise<number>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ port: 0, host, exclusive: true }, () => {
      server.off('error', reject)
      const address = server.address()
      if (address === null || typeof address === 'string') {
        reject(new Error(`unexpected listener address ${String(address)}`))
      } else {
        resolve(address.port)
      }
    })
  })
}

async function close (server: Server): Promise<void> {
  if (!server.listening) return
  await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
}
