/**
 * The transfer worker (node/pipe.ts starts it): runs the chunk work of a Node client's transfers,
 * reading, hashing, sealing and uploading, or fetching, opening, hashing and writing, with the
 * Node adapters. It loads no MLS code, so its heap stays a few MiB: the full garbage collections
 * that a transfer's big buffers bring about mark that, not the client's heap, and leave the
 * client's thread to the conversation.
 */
import { open } from 'node:fs/promises';
import { parentPort } from 'node:worker_threads';
import type { BlobTransport } from '../blobs.js';
import { type ChunkControl, type ChunkParams, downloadChunks, uploadChunks } from '../chunks.js';
import { ClientError } from '../errors.js';
import { fileSource, nodeAesGcm, nodeBlobTransport, nodeSha256, writeFully } from './files.js';
import type { FromWorker, PipeSettings, ToWorker } from './pipeProtocol.js';

const port = parentPort;
if (port === null) throw new Error('transferWorker.js runs as a worker thread');
const post = (m: FromWorker) => port.postMessage(m);

interface Job {
  readonly abort: AbortController;
  announced?: () => void;
  /** Ticket requests waiting for the client thread's answer, by number. */
  readonly tickets: Map<number, { resolve(t: string): void; reject(e: unknown): void }>;
}
let nextTicket = 1;
const jobs = new Map<number, Job>();
/** One blob transport (and keep-alive agent) per relay and trust. */
const transports = new Map<string, BlobTransport>();

function params(s: PipeSettings): ChunkParams {
  const key = JSON.stringify([s.relayUrl, s.tls.pin ?? null, s.tls.ca?.toString() ?? null]);
  let blobs = transports.get(key);
  if (blobs === undefined) transports.set(key, (blobs = nodeBlobTransport(s.relayUrl, s.tls)));
  return { blobs, hash: nodeSha256, aead: nodeAesGcm, concurrency: s.concurrency, waitMs: s.waitMs, stallMs: s.stallMs };
}

function control(id: number, job: Job): ChunkControl {
  let last = Date.now();
  return {
    signal: job.abort.signal,
    advance: (n) => {
      last = Date.now();
      post({ id, type: 'progress', n });
    },
    lastProgress: () => last,
  };
}

/** The room's upload ticket, asked of the client thread (which holds the room). */
function ticketSource(id: number, job: Job) {
  return (refused?: string) =>
    new Promise<string>((resolve, reject) => {
      const n = nextTicket++;
      job.tickets.set(n, { resolve, reject });
      post({ id, type: 'ticket', n, ...(refused === undefined ? {} : { refused }) });
    });
}

async function upload(m: Extract<ToWorker, { op: 'upload' }>, job: Job): Promise<string> {
  const source = await fileSource(m.path);
  try {
    if (source.size !== m.size) throw new ClientError('FILE_TRANSFER', 'the file changed while it was being sent');
    return await uploadChunks(
      params(m.settings),
      m.job,
      source,
      control(m.id, job),
      (header) => {
        post({ id: m.id, type: 'header', header });
        return new Promise<void>((resolve, reject) => {
          job.announced = resolve;
          job.abort.signal.addEventListener('abort', () => reject(job.abort.signal.reason), { once: true });
        });
      },
      ticketSource(m.id, job),
    );
  } finally {
    await source.close();
  }
}

async function download(m: Extract<ToWorker, { op: 'download' }>, job: Job): Promise<string> {
  // The part file the client's sink created (and will commit or remove): written in order.
  const fh = await open(m.part, 'r+');
  try {
    let at = 0;
    const sink = {
      async write(chunk: Uint8Array) {
        await writeFully(fh, chunk, at);
        at += chunk.byteLength;
      },
    };
    return await downloadChunks(params(m.settings), m.job, sink, control(m.id, job));
  } finally {
    await fh.close();
  }
}

function run(m: Extract<ToWorker, { op: 'upload' | 'download' }>): void {
  const job: Job = { abort: new AbortController(), tickets: new Map() };
  jobs.set(m.id, job);
  (m.op === 'upload' ? upload(m, job) : download(m, job))
    .then(
      (sha256) => post({ id: m.id, type: 'done', sha256 }),
      (e: unknown) => {
        const err = e instanceof Error ? e : new Error(String(e));
        const code = (err as { code?: unknown }).code;
        post({ id: m.id, type: 'error', name: err.name, code: typeof code === 'string' ? code : undefined, message: err.message });
      },
    )
    .finally(() => jobs.delete(m.id));
}

port.on('message', (m: ToWorker) => {
  if (m.op === 'upload' || m.op === 'download') return run(m);
  const job = jobs.get(m.id);
  if (m.op === 'announced') job?.announced?.();
  else if (m.op === 'ticket') {
    const w = job?.tickets.get(m.n);
    job?.tickets.delete(m.n);
    if (m.ticket !== undefined) w?.resolve(m.ticket);
    else w?.reject(new ClientError('FILE_TRANSFER', m.error ?? 'no upload ticket'));
  } else job?.abort.abort(new ClientError('FILE_CANCELLED', 'the transfer was cancelled'));
});
