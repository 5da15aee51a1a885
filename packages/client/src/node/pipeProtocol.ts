/**
 * Messages between a Node client and its transfer worker (node/pipe.ts, node/transferWorker.ts).
 * They stay inside the process: the file key crosses here, as it would between two functions.
 */
import type { FileHeader } from '@nullroom/crypto/files';
import type { DownloadJob, UploadJob } from '../chunks.js';
import type { NodeTlsOptions } from './tls.js';

export interface PipeSettings {
  relayUrl: string;
  tls: NodeTlsOptions;
  concurrency: number;
  waitMs: number;
  stallMs: number;
}

export type ToWorker =
  | { op: 'upload'; id: number; settings: PipeSettings; job: UploadJob; path: string; size: number }
  | { op: 'download'; id: number; settings: PipeSettings; job: DownloadJob; part: string }
  /** The offer went out (after a `header`): upload the chunks. */
  | { op: 'announced'; id: number }
  /** The answer to a `ticket` request `n`: an upload ticket, or why there is none. */
  | { op: 'ticket'; id: number; n: number; ticket?: string; error?: string }
  | { op: 'abort'; id: number };

export type FromWorker =
  | { id: number; type: 'header'; header: FileHeader }
  /** Request `n` for the room's upload ticket (`refused`: the one the relay just refused). */
  | { id: number; type: 'ticket'; n: number; refused?: string }
  | { id: number; type: 'progress'; n: number }
  | { id: number; type: 'done'; sha256: string }
  /** `name` and `code` of a ClientError or CryptoError, else a plain failure. */
  | { id: number; type: 'error'; name: string; code: string | undefined; message: string };
