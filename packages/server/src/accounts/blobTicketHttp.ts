/**
 * `POST /api/blobs/ticket` (docs/PROTOCOL.md §9.3): a blob upload ticket for the device the
 * session is bound to, so that it can send files in its account conversations. The body is `{}`;
 * the answer the ticket, when it expires, and the account's quota and what it uses of it, so that
 * a client can refuse a file that will not fit before it uploads anything. The relay learns which
 * device asks, as it learns it from every request of that session; never which conversation.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { AccountHttpError } from './accountErrors.js';
import type { AccountsHttp, AccountsRequest } from './accountsHttp.js';
import { readJson } from './jsonBody.js';

/** What the relay's blob store gives the accounts API (relay.ts wires it to accountTickets.ts and blobHttp.ts). */
export interface BlobTicketSource {
  /** The device's ticket (the same one until it expires). */
  issue(userId: string, device: string): Promise<{ ticket: string; expiresAt: number }>;
  /** The account's blobs: how many and how many bytes (as charged), with the limits. */
  usage(userId: string): { blobs: number; bytes: number; maxBlobs: number; maxBytes: number; maxBlobBytes: number };
  /** The account was deleted: its tickets end and its blobs are removed. */
  accountDeleted(userId: string): Promise<void>;
}

const Empty = z.strictObject({});

export async function blobTicket(a: AccountsHttp, req: IncomingMessage, res: ServerResponse, r: AccountsRequest): Promise<void> {
  const source = a.opts.blobTickets;
  if (source === undefined) throw new AccountHttpError('NOT_FOUND');
  const s = await a.signedIn(req, 'change', r); // a session bound to a device (DEVICE_NOT_BOUND otherwise)
  await readJson(req, Empty);
  const device = s.session.device;
  if (device === undefined) throw new AccountHttpError('DEVICE_NOT_BOUND');
  const { ticket, expiresAt } = await source.issue(s.user.id, device);
  const u = source.usage(s.user.id);
  a.send(res, 200, {
    ticket,
    expiresAt,
    maxFileBytes: Math.min(u.maxBlobBytes, u.maxBytes),
    quota: { files: u.maxBlobs, bytes: u.maxBytes },
    used: { files: u.blobs, bytes: u.bytes },
  });
}
