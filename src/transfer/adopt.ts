import { Socket, type OnReadOpts, type SocketConstructorOpts } from 'node:net'

/**
 * Moves a connection a net.Server accepted (paused, with `pauseOnConnect`) into a new Socket that
 * reads through `onread`: the kernel copies into one shared buffer and nothing is allocated per
 * read (see FrameReader). net.Server cannot give accepted sockets `onread` (only net.connect
 * can), and without it a node receiving gigabytes of pieces spent ~17% of its CPU in garbage
 * collection of 64 KiB read buffers.
 *
 * The connection's handle is handed to the new Socket. The accepted one stays behind as an empty
 * shell until the new one closes, so the server's connection count (maxConnections, close())
 * stays right. This relies on net.Socket's `_handle` and the `handle` constructor option (not
 * documented, unchanged since early Node); where they are missing the accepted socket is used as
 * is, reading the ordinary way.
 */
export function adoptWithOnRead (accepted: Socket, onread: OnReadOpts): { socket: Socket, onread: boolean } {
  const shell = accepted as unknown as { _handle?: object | null }
  const handle = shell._handle
  if (handle === undefined || handle === null) return ordinary(accepted)
  let socket: Socket
  try {
    socket = new Socket({ handle, readable: true, writable: true, onread } as SocketConstructorOpts)
  } catch {
    return ordinary(accepted)
  }
  shell._handle = null
  socket.once('close', () => { accepted.destroy() })
  return { socket, onread: true }
}

function ordinary (accepted: Socket): { socket: Socket, onread: boolean } {
  accepted.resume()
  return { socket: accepted, onread: false }
}
