/**
 * Closing a test peer's socket with a reset (RST), as a crashed or unplugged peer would.
 *
 * `resetAndDestroy` on a socket whose half-close is under way (our `end()`, or the
 * automatic one after the other side's FIN) fails with EINVAL in libuv
 * (`uv_tcp_close_reset` refuses a shutting stream) and then never closes the handle: no
 * `close` event, and the descriptor stays open for the life of the process. A socket that
 * has already sent its FIN cannot look like a crash any more, so it is just destroyed.
 */
import type * as net from "node:net"

export const resetSocket = (socket: net.Socket): void => {
  if (socket.destroyed) return
  if (socket.connecting || socket.writableEnded) socket.destroy()
  else socket.resetAndDestroy()
}
