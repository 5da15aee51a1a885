/**
 * Forwarding one blob request to the node of the cluster that serves it (docs/PROTOCOL.md §12
 * "Files across nodes"): node:http(s) with a keep-alive agent, the body streamed both ways with
 * backpressure (an upload is piped, never held; a download is piped back), bounded in time by an
 * idle timeout, and only the headers the blob protocol defines passed on, plus the signed client
 * address (forwardAuth.ts).
 */
import { Agent as HttpAgent, type IncomingMessage, type ServerResponse, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { pipeline } from 'node:stream/promises';
import { BLOB_TICKET_HEADER, BLOB_TOKEN_HEADER } from '../blobOptions.js';
import { FORWARD_HEADER, signForward } from './forwardAuth.js';

/** Request headers passed on: those of the blob protocol (§9), nothing a client could use to speak for another. */
const PASSED = [BLOB_TICKET_HEADER, BLOB_TOKEN_HEADER, 'content-length'] as const;
/** Answer headers not passed back: they describe one hop (RFC 9110 §7.6.1), not the answer. */
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authenticate', 'date']);
/** Sockets to one other node: below the per-address HTTP connection cap (128) that node applies to this one. */
const MAX_SOCKETS = 64;
/** A forwarded request with no byte either way for this long (beyond its `?wait=`) is abandoned. */
export const FORWARD_IDLE_MS = 30_000;

/** How a forward ended without an answer from the other node (it was not reachable, or it stalled). */
export type ForwardFailure = 'unreachable';

export class BlobForwarder {
  private readonly http = new HttpAgent({ keepAlive: true, maxSockets: MAX_SOCKETS, maxFreeSockets: 8 });
  private readonly https = new HttpsAgent({ keepAlive: true, maxSockets: MAX_SOCKETS, maxFreeSockets: 8 });

  constructor(private readonly secret: Uint8Array) {}

  /**
   * Sends `req` to the node at `base` as `target` (path and query), with `address` signed, and
   * pipes its answer to `res`. Resolves when the answer has been passed on (or the client left);
   * 'unreachable' when nothing was answered, so that the caller answers itself.
   */
  forward(
    req: IncomingMessage,
    res: ServerResponse,
    base: URL,
    target: string,
    address: string,
    waitMs: number,
  ): Promise<ForwardFailure | undefined> {
    const method = req.method ?? 'GET';
    const headers: Record<string, string> = { host: base.host, [FORWARD_HEADER]: signForward(this.secret, method, target, address) };
    for (const h of PASSED) {
      const v = req.headers[h];
      if (typeof v === 'string') headers[h] = v;
    }
    // A PUT's body is streamed only with its declared length (the other node refuses one without: 411).
    const body = method === 'PUT' && headers['content-length'] !== undefined;
    if (method === 'PUT' && !body) headers['content-length'] = '0';
    const tls = base.protocol === 'https:';
    const send = tls ? httpsRequest : httpRequest;
    return new Promise((resolve) => {
      let settled = false;
      const done = (r: ForwardFailure | undefined) => {
        if (settled) return;
        settled = true;
        resolve(r);
      };
      const up = send({
        agent: tls ? this.https : this.http,
        protocol: base.protocol,
        hostname: base.hostname.replace(/^\[|\]$/g, ''),
        port: base.port,
        method,
        path: target,
        headers,
        timeout: FORWARD_IDLE_MS + waitMs,
      });
      up.on('timeout', () => up.destroy(new Error('forward timed out')));
      up.on('error', () => {
        if (!res.headersSent) return done('unreachable');
        res.destroy();
        done(undefined);
      });
      // The client left: the other node's request goes too (its upload is cut, its wait ends).
      res.on('close', () => {
        if (!res.writableFinished) up.destroy();
        done(undefined);
      });
      up.on('response', (answer) => {
        const out: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(answer.headers)) if (v !== undefined && !HOP.has(k)) out[k] = v;
        // An upload answered before its body was all passed on (a refusal, a cut): the rest is not wanted.
        const unread = body && !req.readableEnded;
        if (unread || answer.headers.connection === 'close') out.connection = 'close';
        if (unread) {
          req.unpipe(up);
          res.once('finish', () => req.destroy());
        }
        res.writeHead(answer.statusCode ?? 502, out);
        pipeline(answer, res).then(
          () => {
            // Its request was never finished: that socket cannot carry another.
            if (unread) up.destroy();
            done(undefined);
          },
          () => {
            res.destroy();
            done(undefined);
          },
        );
      });
      if (body) req.pipe(up);
      else up.end();
    });
  }

  close(): void {
    this.http.destroy();
    this.https.destroy();
  }
}
