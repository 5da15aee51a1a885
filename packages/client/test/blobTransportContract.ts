/**
 * The contract every BlobTransport keeps (src/blobs.ts: `fetchBlobTransport` for browsers and
 * Node's fetch, `nodeBlobTransport` over node:http), against a real relay's blob store
 * (docs/PROTOCOL.md §9). Written without node: or DOM imports, like keyStoreContract.ts, so the
 * same cases run in Node (blobTransport.test.ts) and in a Chromium page
 * (apps/web/test/blobs-browser.test.ts). Each case throws on failure.
 */
import { BlobRefused, BlobStatusError, BlobTicketRefused, type BlobTransport, ClientError, toBase64 } from '../src/index.js';

export interface BlobTransportUnderTest {
  transport: BlobTransport;
  /** A fresh upload ticket (Room.blobTicket) from a connection that is in a room. */
  ticket(): Promise<string>;
  /**
   * From now until the next call, requests to the blob store are answered with `status` (and
   * `code` in X-Nullroom-Blob-Error) instead of reaching the relay: a relay that is busy, or a proxy
   * between the client and the relay that fails. `undefined`: they reach the relay again. (Until
   * cleared, not for one request: a browser may repeat a request on its own, Chromium on a 408.)
   */
  fault(status: number | undefined, code?: string): Promise<void>;
  /** The relay's largest chunk, in bytes. */
  maxChunkBytes: number;
}

export interface BlobContractCase {
  name: string;
  run(s: BlobTransportUnderTest): Promise<void>;
}

function check(cond: boolean, what: string): asserts cond {
  if (!cond) throw new Error(`contract: ${what}`);
}
const bytes = (n: number) => {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) globalThis.crypto.getRandomValues(b.subarray(i, Math.min(n, i + 65536)));
  return b;
};
const base64url = (b: Uint8Array) => toBase64(b).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
/** A blob id (128 random bits) and its write token (256), as files.ts makes them. */
const blob = () => ({ id: base64url(bytes(16)), token: base64url(bytes(32)) });
const same = (a: Uint8Array, b: Uint8Array) => a.byteLength === b.byteLength && a.every((x, i) => x === b[i]);

/** What `p` rejected with (fails when it resolves). */
async function rejection(p: Promise<unknown>, what: string): Promise<unknown> {
  const r = await p.then(
    (v) => ({ ok: true as const, v }),
    (e: unknown) => ({ ok: false as const, e }),
  );
  check(!r.ok, `${what}: expected a rejection, got ${String(r.ok ? r.v : '')}`);
  return r.e;
}

/** A typed refusal: a ClientError with code FILE_TRANSFER whose message names neither the token nor the ticket. */
function typed(e: unknown, secrets: string[], what: string): asserts e is ClientError {
  check(e instanceof ClientError, `${what}: a ClientError, got ${e instanceof Error ? e.name : typeof e}`);
  check(e.code === 'FILE_TRANSFER', `${what}: code FILE_TRANSFER, got ${e.code}`);
  for (const s of secrets) check(!e.message.includes(s), `${what}: the message names no token or ticket`);
}

export const blobTransportContract: BlobContractCase[] = [
  {
    name: 'upload and download: chunks come back byte for byte; the status counts the chunks stored from 0 without a gap',
    async run(s) {
      const { id, token } = blob();
      const ticket = await s.ticket();
      const c0 = bytes(200_000);
      const c1 = bytes(1);
      const c3 = bytes(1000);
      await s.transport.put(id, 0, token, ticket, c0);
      await s.transport.put(id, 1, token, ticket, c1);
      check((await s.transport.head(id)) === 2, 'two chunks from 0');
      await s.transport.put(id, 3, token, ticket, c3);
      check((await s.transport.head(id)) === 2, 'a gap at 2: still two');
      const r0 = await s.transport.get(id, 0, 0);
      const r3 = await s.transport.get(id, 3, 0);
      check(r0 instanceof Uint8Array && same(r0, c0), 'chunk 0 back as sent');
      check(r3 instanceof Uint8Array && same(r3, c3), 'chunk 3 back as sent');
      check((await s.transport.get(id, 2, 0)) === 'missing', 'chunk 2 was never sent');
      // A chunk sent again (a retry after a cut) replaces itself.
      await s.transport.put(id, 1, token, ticket, c1);
      const r1 = await s.transport.get(id, 1, 0);
      check(r1 instanceof Uint8Array && same(r1, c1), 'chunk 1 after its re-send');
    },
  },
  {
    name: 'download: waits up to waitMs for a chunk not yet sent, then has it; "missing" when the wait ends first',
    async run(s) {
      const { id, token } = blob();
      const ticket = await s.ticket();
      await s.transport.put(id, 0, token, ticket, bytes(10));
      const body = bytes(5000);
      const waiting = s.transport.get(id, 1, 10_000);
      await new Promise((r) => setTimeout(r, 300));
      await s.transport.put(id, 1, token, ticket, body);
      const r = await waiting;
      check(r instanceof Uint8Array && same(r, body), 'the waiting download gets the chunk once it lands');
      const t0 = Date.now();
      check((await s.transport.get(id, 2, 300)) === 'missing', 'missing after the wait');
      check(Date.now() - t0 >= 250, 'it waited');
    },
  },
  {
    name: 'status: "missing" for a blob no one sent, and a download of it is "missing"',
    async run(s) {
      const { id } = blob();
      check((await s.transport.head(id)) === 'missing', 'status of an unknown blob');
      check((await s.transport.get(id, 0, 0)) === 'missing', 'download of an unknown blob');
    },
  },
  {
    name: 'cancel: the sender deletes the blob; then its status and every download say "gone", waiting ones too; a second delete is no error',
    async run(s) {
      const { id, token } = blob();
      const ticket = await s.ticket();
      await s.transport.put(id, 0, token, ticket, bytes(100));
      const waiting = s.transport.get(id, 1, 10_000);
      await new Promise((r) => setTimeout(r, 200));
      await s.transport.delete(id, token);
      check((await waiting) === 'gone', 'a waiting download learns the blob is gone');
      check((await s.transport.head(id)) === 'gone', 'status gone');
      check((await s.transport.get(id, 0, 0)) === 'gone', 'download gone');
      await s.transport.delete(id, token);
      await s.transport.delete(blob().id, token); // never existed: nothing to delete
      const e = await rejection(s.transport.put(id, 1, token, ticket, bytes(10)), 'an upload to a cancelled blob');
      typed(e, [token, ticket], 'an upload to a cancelled blob');
      check(e instanceof BlobRefused && e.status === 410, 'refused for good (410), not retried');
    },
  },
  {
    name: 'refused: another token cannot write to or delete a blob (BlobRefused 403, retrying cannot help)',
    async run(s) {
      const { id, token } = blob();
      const other = blob().token;
      const ticket = await s.ticket();
      await s.transport.put(id, 0, token, ticket, bytes(100));
      const put = await rejection(s.transport.put(id, 1, other, ticket, bytes(100)), 'a write with another token');
      typed(put, [token, other, ticket], 'a write with another token');
      check(put instanceof BlobRefused && put.status === 403, 'BlobRefused 403 on write');
      const del = await rejection(s.transport.delete(id, other), 'a delete with another token');
      typed(del, [token, other], 'a delete with another token');
      check(del instanceof BlobRefused && del.status === 403, 'BlobRefused 403 on delete');
      check((await s.transport.head(id)) === 1, 'the blob is untouched');
    },
  },
  {
    name: 'refused: a ticket the relay does not know is BlobTicketRefused (ask for a new one), and nothing is stored',
    async run(s) {
      const { id, token } = blob();
      const forged = base64url(bytes(32));
      const e = await rejection(s.transport.put(id, 0, token, forged, bytes(100)), 'an upload with an unknown ticket');
      typed(e, [token, forged], 'an upload with an unknown ticket');
      check(e instanceof BlobTicketRefused, `BlobTicketRefused, got ${e.name}`);
      check((await s.transport.head(id)) === 'missing', 'nothing stored');
    },
  },
  {
    name: "refused: a chunk over the relay's limit is BlobRefused 413",
    async run(s) {
      const { id, token } = blob();
      const ticket = await s.ticket();
      const e = await rejection(s.transport.put(id, 0, token, ticket, bytes(s.maxChunkBytes + 1)), 'an oversized chunk');
      typed(e, [token, ticket], 'an oversized chunk');
      check(e instanceof BlobRefused && e.status === 413, 'BlobRefused 413');
      check((await s.transport.head(id)) === 'missing', 'nothing stored');
    },
  },
  {
    name: "retry: a 5xx, a 429 or a 408 is a BlobStatusError with its status and the relay's code (retrying can help), and the retry succeeds",
    async run(s) {
      const { id, token } = blob();
      const ticket = await s.ticket();
      const body = bytes(3000);
      for (const [status, code] of [
        [503, 'BUSY'],
        [500, undefined],
        [429, 'SHARE'],
        [408, 'TOO_SLOW'],
        [507, 'STORE_FULL'],
      ] as const) {
        await s.fault(status, code);
        const e = await rejection(s.transport.put(id, 0, token, ticket, body), `an upload answered ${status}`);
        await s.fault(undefined);
        typed(e, [token, ticket], `an upload answered ${status}`);
        check(e instanceof BlobStatusError, `${status}: BlobStatusError, got ${e.name}`);
        check(e.status === status && e.blobCode === code, `${status}: status ${e.status} and code ${String(e.blobCode)}`);
      }
      await s.transport.put(id, 0, token, ticket, body);
      await s.fault(502);
      const g = await rejection(s.transport.get(id, 0, 0), 'a download answered 502');
      await s.fault(undefined);
      typed(g, [token], 'a download answered 502');
      check(g instanceof BlobStatusError && g.status === 502, 'a failed download is a BlobStatusError, not "missing"');
      const r = await s.transport.get(id, 0, 0);
      check(r instanceof Uint8Array && same(r, body), 'the retried download');
      await s.fault(503, 'BUSY');
      const h = await rejection(s.transport.head(id), 'a status answered 503');
      await s.fault(undefined);
      typed(h, [], 'a status answered 503');
      check(h instanceof BlobStatusError && h.status === 503, 'a failed status is a BlobStatusError');
      check((await s.transport.head(id)) === 1, 'the retried status');
      await s.fault(503, 'BUSY');
      const d = await rejection(s.transport.delete(id, token), 'a delete answered 503');
      await s.fault(undefined);
      typed(d, [token], 'a delete answered 503');
      check(d instanceof BlobStatusError && d.status === 503, 'a failed delete is a BlobStatusError');
      await s.transport.delete(id, token);
      check((await s.transport.head(id)) === 'gone', 'the retried delete');
    },
  },
  {
    name: 'abort: an aborted upload or download rejects at once (no ClientError: the caller cancelled it), and the transport still works',
    async run(s) {
      const { id, token } = blob();
      const ticket = await s.ticket();
      const ac = new AbortController();
      const waiting = s.transport.get(id, 0, 30_000, ac.signal);
      await new Promise((r) => setTimeout(r, 200));
      const t0 = Date.now();
      ac.abort();
      const e = await rejection(waiting, 'an aborted download');
      check(!(e instanceof ClientError), "an abort is the caller's, not a relay refusal");
      check(Date.now() - t0 < 5000, 'the download stopped waiting');
      const gone = new AbortController();
      gone.abort();
      await rejection(s.transport.put(id, 0, token, ticket, bytes(100), gone.signal), 'an upload with an aborted signal');
      await s.transport.put(id, 0, token, ticket, bytes(100));
      check((await s.transport.head(id)) === 1, 'later requests work');
    },
  },
  {
    name: 'buffers: a buffer given back (recycle) may be reused, but a download never returns bytes of another chunk',
    async run(s) {
      const { id, token } = blob();
      const ticket = await s.ticket();
      const a = bytes(70_000);
      const b = bytes(70_000);
      await s.transport.put(id, 0, token, ticket, a);
      await s.transport.put(id, 1, token, ticket, b);
      const r0 = await s.transport.get(id, 0, 0);
      check(r0 instanceof Uint8Array && same(r0, a), 'chunk 0');
      s.transport.recycle?.(r0);
      const r1 = await s.transport.get(id, 1, 0);
      check(r1 instanceof Uint8Array && same(r1, b), 'chunk 1, read into a reused buffer or a fresh one');
    },
  },
];
