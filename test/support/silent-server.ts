// A TCP server that accepts connections and never says a word: what a hung SMTP server or provider
// looks like to a client, whose own timeout must end the wait. Tells when a client connected.
import net from 'node:net';
import { once } from 'node:events';

export async function silentTcpServer() {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    /** Resolves at the next connection. */
    connected: () => once(server, 'connection').then(() => undefined),
    /** At the next connection: resolves when the client gives it up, with how long it was held open (ms). */
    heldOpen: () => once(server, 'connection').then(([socket]: net.Socket[]) => {
      const since = performance.now();
      return new Promise<number>((resolve) => socket!.once('close', () => resolve(Math.round(performance.now() - since))));
    }),
    /** Connections accepted so far that are still open. */
    open: () => sockets.size,
    close: () => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }),
  };
}
export type SilentServer = Awaited<ReturnType<typeof silentTcpServer>>;
