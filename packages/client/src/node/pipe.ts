/**
 * File transfer options for Node clients (`nodeFileOptions`): the blob store over node:http(s),
 * node:crypto's SHA-256 and AES-GCM, and a pipe that runs the chunk work of files on disk in a
 * worker thread (node/transferWorker.ts).
 *
 * Why a worker: every chunk passes through buffers of its size (OpenSSL's outputs, socket reads),
 * and V8 answers that much memory with full garbage collections, each marking the whole heap. In
 * the client's thread that heap holds the MLS code and state (about 13 MiB), and the collections
 * took about a quarter of a transfer's CPU (perf, bench/transfer.mjs); the worker's heap is a few MiB.
 * Sources and sinks that are not files on disk (made by fileSource and folderSink) run here.
 */
import { Worker } from 'node:worker_threads';
import { CryptoError, type CryptoErrorCode } from '@nullroom/crypto';
import {
  type ChunkControl,
  type ChunkPipe,
  type TicketSource,
  DEFAULT_STALL_MS,
  DEFAULT_TRANSFER_CONCURRENCY,
  DEFAULT_WAIT_MS,
  inlinePipe,
} from '../chunks.js';
import { ClientError, ClientErrorCodes, type ClientErrorCode } from '../errors.js';
import type { FileTransferOptions } from '../files.js';
import { nodeAesGcm, nodeBlobTransport, nodeSha256, sinkPart, sourcePath } from './files.js';
import type { FromWorker, PipeSettings, ToWorker } from './pipeProtocol.js';
import type { NodeTlsOptions } from './tls.js';

export interface NodePipeOptions {
  /** Chunks in flight each way (default DEFAULT_TRANSFER_CONCURRENCY). */
  concurrency?: number;
  waitMs?: number;
  stallMs?: number;
  /** Run the chunk work of files on disk in a worker thread (default true). */
  worker?: boolean;
}

interface Pending {
  ctl: ChunkControl;
  resolve(sha256: string): void;
  reject(e: unknown): void;
  onHeader?: (m: Extract<FromWorker, { type: 'header' }>) => void;
  /** Uploads: the room's ticket, for the worker's `ticket` requests. */
  ticket?: TicketSource;
}

/** Everything RoomFiles needs in Node, for one relay (with the same TLS trust as the WebSocket). */
export function nodeFileOptions(relayUrl: string, tls: NodeTlsOptions = {}, opts: NodePipeOptions = {}): FileTransferOptions {
  const blobs = nodeBlobTransport(relayUrl, tls);
  const settings: PipeSettings = {
    relayUrl,
    tls,
    concurrency: opts.concurrency ?? DEFAULT_TRANSFER_CONCURRENCY,
    waitMs: opts.waitMs ?? DEFAULT_WAIT_MS,
    stallMs: opts.stallMs ?? DEFAULT_STALL_MS,
  };
  const params = {
    blobs,
    hash: nodeSha256,
    aead: nodeAesGcm,
    concurrency: settings.concurrency,
    waitMs: settings.waitMs,
    stallMs: settings.stallMs,
  };
  const here = inlinePipe(params);
  return { ...params, pipe: opts.worker === false ? here : workerPipe(settings, here) };
}

/** Rebuilds a failure the worker reported as the error the same failure gives in-thread. */
function revive(m: Extract<FromWorker, { type: 'error' }>): Error {
  if (m.name === 'ClientError' && (ClientErrorCodes as readonly string[]).includes(m.code ?? ''))
    return new ClientError(m.code as ClientErrorCode, m.message);
  if (m.name === 'CryptoError' && m.code !== undefined) return new CryptoError(m.code as CryptoErrorCode, m.message);
  return new ClientError('FILE_TRANSFER', `the file transfer failed: ${m.message}`);
}

function workerPipe(settings: PipeSettings, here: ChunkPipe): ChunkPipe {
  let worker: Worker | undefined;
  let nextId = 1;
  const pending = new Map<number, Pending>();
  const send = (m: ToWorker) => worker?.postMessage(m);
  const settle = (id: number): Pending | undefined => {
    const p = pending.get(id);
    pending.delete(id);
    if (pending.size === 0) worker?.unref(); // an idle worker does not keep the process alive
    return p;
  };

  const fail = (e: unknown) => {
    worker = undefined;
    const err = new ClientError('FILE_TRANSFER', 'the file transfer worker stopped', { cause: e });
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  const start = (): Worker => {
    if (worker !== undefined) return worker;
    const w = new Worker(new URL('./transferWorker.js', import.meta.url));
    w.on('message', (m: FromWorker) => {
      const p = pending.get(m.id);
      if (p === undefined) return;
      if (m.type === 'progress') return p.ctl.advance(m.n);
      if (m.type === 'header') return p.onHeader?.(m);
      if (m.type === 'ticket') {
        const ask = p.ticket === undefined ? Promise.reject(new Error('no ticket source')) : p.ticket(m.refused);
        return void ask.then(
          (ticket) => send({ op: 'ticket', id: m.id, n: m.n, ticket }),
          (e: unknown) => send({ op: 'ticket', id: m.id, n: m.n, error: e instanceof ClientError ? e.message : 'no upload ticket' }),
        );
      }
      settle(m.id);
      if (m.type === 'done') p.resolve(m.sha256);
      // Stopped by us: the reason is ours (a cancel, or the sender's), not the worker's echo of it.
      else p.reject(p.ctl.signal.aborted ? p.ctl.signal.reason : revive(m));
    });
    w.on('error', (e) => worker === w && fail(e));
    w.on('exit', (code) => worker === w && fail(new Error(`exit ${code}`)));
    return (worker = w);
  };
  /** Runs one job in the worker (started if need be); resolves to the SHA-256 it reports. */
  const run = (ctl: ChunkControl, post: (id: number) => ToWorker, onHeader?: Pending['onHeader'], ticket?: TicketSource) =>
    new Promise<string>((resolve, reject) => {
      if (ctl.signal.aborted) return reject(ctl.signal.reason);
      const id = nextId++;
      const w = start();
      w.ref();
      pending.set(id, { ctl, resolve, reject, ...(onHeader ? { onHeader } : {}), ...(ticket ? { ticket } : {}) });
      ctl.signal.addEventListener('abort', () => send({ op: 'abort', id }), { once: true });
      w.postMessage(post(id));
    });

  return {
    upload(job, source, ctl, announce, ticket) {
      const path = sourcePath(source);
      if (path === undefined) return here.upload(job, source, ctl, announce, ticket);
      return run(
        ctl,
        (id) => ({ op: 'upload', id, settings, job, path, size: source.size }),
        (m) =>
          void announce(m.header).then(
            () => send({ op: 'announced', id: m.id }),
            (e: unknown) => {
              // The offer did not go out: stop the worker's job, fail with the reason.
              send({ op: 'abort', id: m.id });
              settle(m.id)?.reject(e);
            },
          ),
        ticket,
      );
    },
    download(job, sink, ctl) {
      const part = sinkPart(sink);
      if (part === undefined) return here.download(job, sink, ctl);
      return run(ctl, (id) => ({ op: 'download', id, settings, job, part }));
    },
  };
}
