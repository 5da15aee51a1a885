/** Starting and stopping the relay's server (relay.ts): listening, and the graceful shutdown. */
import type { Server } from 'node:http';
import type { BlobHttp } from './blobHttp.js';
import type { Connection } from './connection.js';

/** Listens; on failure runs `failed` and rejects. The port listened on. */
export function listen(server: Server, port: number, host: string, failed: () => void): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const onError = (e: Error) => {
      failed();
      reject(e);
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const addr = server.address();
      resolve(typeof addr === 'object' && addr !== null ? addr.port : port);
    });
  });
}

/**
 * Stops the relay: timers and waiting GETs first (`stop`), then a close frame to every connection,
 * then the server, which lets requests in flight finish for `drainMs` before it cuts what lingers;
 * the blob store is wiped last.
 */
export function shutdown(
  server: Server,
  conns: ReadonlySet<Connection>,
  stop: () => void,
  blobs: BlobHttp | undefined,
  drainMs: number,
): Promise<void> {
  return new Promise<void>((resolve) => {
    stop();
    for (const c of conns) c.goAway();
    const force = setTimeout(() => {
      for (const c of conns) c.terminate();
      server.closeAllConnections();
    }, drainMs);
    force.unref();
    server.close(() => {
      clearTimeout(force);
      if (blobs === undefined) resolve();
      else void blobs.dispose().then(resolve, resolve);
    });
    server.closeIdleConnections();
  });
}
