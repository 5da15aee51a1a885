/**
 * A plain HTTP front for a relay's blob store, for the blob-transport contract
 * (blobTransportContract.ts): it forwards /blobs/* to the relay, byte for byte in both directions
 * (aborts included), and answers them with a chosen status instead while `fault` says so, as a busy
 * relay or a failing proxy would. For a browser run it also serves one page and its script from the
 * same origin (`page`), so the page's fetches to /blobs/* are same-origin.
 */
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface BlobFront {
  url: string;
  /** Until the next call, blob requests get `status` (with `code` as the relay's error code); `undefined`: forwarded again. */
  fault(status: number | undefined, code?: string): void;
  close(): Promise<void>;
}

/** Hop-by-hop headers (RFC 9110 §7.6.1) and those fetch sets itself stay on each side of the front. */
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'host', 'content-length', 'upgrade']);

/** `relay`: the relay's URL, or a function that gives it once the relay runs (a relay that must allow the front's origin starts after it). */
export async function blobFront(relay: string | (() => string), page?: { html: string; script: string }): Promise<BlobFront> {
  const target = () => new URL(typeof relay === 'string' ? relay : relay());
  let faults: { status: number; code: string | undefined } | undefined;
  /** Forwards one request with fetch, which reads an early answer (a 413 before the body is all sent) as the relay's clients do. */
  const forward = async (req: IncomingMessage, res: ServerResponse) => {
    // The client gave up (an abort): so does the request to the relay.
    const ac = new AbortController();
    res.on('close', () => res.writableFinished || ac.abort());
    try {
      const parts: Buffer[] = [];
      for await (const part of req) parts.push(part as Buffer);
      const headers = new Headers();
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && !HOP.has(k)) headers.set(k, v);
      const answer = await fetch(new URL(req.url ?? '/', target()), {
        method: req.method ?? 'GET',
        headers,
        ...(parts.length > 0 ? { body: Buffer.concat(parts) } : {}),
        signal: ac.signal,
      });
      const out: Record<string, string> = {};
      answer.headers.forEach((v, k) => HOP.has(k) || (out[k] = v));
      res.writeHead(answer.status, out);
      const reader = answer.body?.getReader();
      for (let r = await reader?.read(); r !== undefined && !r.done; r = await reader?.read()) res.write(r.value);
      res.end();
    } catch {
      res.destroy();
    }
  };
  const server = createServer((req, res) => {
    if (page !== undefined && req.url === '/') return void res.writeHead(200, { 'content-type': 'text/html' }).end(page.html);
    if (page !== undefined && req.url === '/contract.js')
      return void res.writeHead(200, { 'content-type': 'text/javascript' }).end(page.script);
    if (!req.url?.startsWith('/blobs/')) return void res.writeHead(404).end();
    if (faults !== undefined) {
      const { status, code } = faults;
      req.resume();
      return void res
        .writeHead(status, { 'content-type': 'text/plain', ...(code === undefined ? {} : { 'X-Nullroom-Blob-Error': code }) })
        .end('fault');
    }
    void forward(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    fault: (status, code) => void (faults = status === undefined ? undefined : { status, code }),
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}
