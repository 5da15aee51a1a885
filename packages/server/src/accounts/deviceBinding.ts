/**
 * Binding a session to a device that is already in the account's list (docs/PROTOCOL.md §11.8): a
 * device that signs in again proves its identity key by signing a fresh challenge of the relay's,
 * as the account channel's AUTH does (accountChannel.ts), under a label of its own:
 *
 *   POST /api/devices/bind/start {}                   -> {challenge, expiresAt}
 *   POST /api/devices/bind {device, signature}        -> {device}
 *   signature = Ed25519(identity key, "nullroom/v1/device-bind" || challenge:32 || device id:16)
 *
 * A challenge belongs to the session that asked for it, lives 60 s, and is taken by the first bind
 * that names it, whether that bind succeeds or not: a signature is good for one bind, once. A
 * session has one challenge at a time (asking again replaces it); the relay holds at most 10,000 (in
 * memory, like pending logins: a relay restart drops them and the device asks again; relay nodes
 * share them through Redis, cluster/accountDevices.ts, so a challenge fetched from one is answered
 * on another).
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CHALLENGE_BYTES, DEVICE_BIND_LABEL, ID_BYTES } from '@nullroom/protocol';
import { z } from 'zod';
import { AccountHttpError } from './accountErrors.js';
import type { AccountStore, StoredSession, StoredUser } from './accountStore.js';
import type { BindChallengeStore } from './accountShared.js';
import type { AccountsRequest } from './accountsHttp.js';
import { nodeChainCrypto } from './deviceListCheck.js';
import { readJson } from './jsonBody.js';

export interface BindLimits {
  readonly ttlMs: number;
  readonly total: number;
}

export const defaultBindLimits: BindLimits = { ttlMs: 60_000, total: 10_000 };

const Empty = z.strictObject({});
const Bind = z.strictObject({
  device: z.string().regex(/^[A-Za-z0-9_-]{22}$/),
  signature: z.string().regex(/^[A-Za-z0-9_-]{86}$/),
});

const key = (tokenHash: Uint8Array) => Buffer.from(tokenHash).toString('base64url');

/** The outstanding challenges of one relay, by session, in its memory. */
export class BindChallenges implements BindChallengeStore {
  private readonly bySession = new Map<string, { readonly nonce: Uint8Array; readonly expiresAt: number }>();

  constructor(private readonly limits: BindLimits = defaultBindLimits) {}

  /** A new challenge for the session (replacing its earlier one); undefined when the relay holds `total`. */
  async issue(tokenHash: Uint8Array, now = Date.now()): Promise<{ nonce: Uint8Array; expiresAt: number } | undefined> {
    this.bySession.delete(key(tokenHash));
    if (this.bySession.size >= this.limits.total) this.expire(now);
    if (this.bySession.size >= this.limits.total) return undefined;
    const c = { nonce: new Uint8Array(randomBytes(CHALLENGE_BYTES)), expiresAt: now + this.limits.ttlMs };
    this.bySession.set(key(tokenHash), c);
    return c;
  }

  /** The session's live challenge, taken: it is never handed out again. */
  async take(tokenHash: Uint8Array, now = Date.now()): Promise<Uint8Array | undefined> {
    const k = key(tokenHash);
    const c = this.bySession.get(k);
    this.bySession.delete(k);
    return c !== undefined && c.expiresAt > now ? c.nonce : undefined;
  }

  expire(now = Date.now()): void {
    for (const [k, c] of this.bySession) if (c.expiresAt <= now) this.bySession.delete(k);
  }
}

interface Signed {
  readonly session: StoredSession;
  readonly user: StoredUser;
  readonly hash: Uint8Array;
}

export interface BindContext {
  readonly store: AccountStore;
  readonly challenges: BindChallengeStore;
  /** The request's session, bound or not. */
  signedIn(req: IncomingMessage, r: AccountsRequest): Promise<Signed>;
  send(res: ServerResponse, status: number, body: object): void;
}

/** `POST /api/devices/bind/start`: a fresh challenge for this session. */
export async function bindStart(ctx: BindContext, req: IncomingMessage, res: ServerResponse, r: AccountsRequest): Promise<void> {
  const s = await ctx.signedIn(req, r);
  await readJson(req, Empty);
  const c = await ctx.challenges.issue(s.hash);
  if (c === undefined) throw new AccountHttpError('BUSY');
  ctx.send(res, 200, { challenge: Buffer.from(c.nonce).toString('base64url'), expiresAt: c.expiresAt });
}

/** `POST /api/devices/bind`: the session becomes the device's, if the device signed this session's challenge. */
export async function bind(ctx: BindContext, req: IncomingMessage, res: ServerResponse, r: AccountsRequest): Promise<void> {
  const s = await ctx.signedIn(req, r);
  const body = await readJson(req, Bind);
  // Taken before anything else is checked: a failed attempt uses the challenge up as well.
  const nonce = await ctx.challenges.take(s.hash);
  if (nonce === undefined) throw new AccountHttpError('BIND_FAILED', { problem: 'CHALLENGE' });
  const id = Buffer.from(body.device, 'base64url');
  const signature = Buffer.from(body.signature, 'base64url');
  if (id.byteLength !== ID_BYTES || id.toString('base64url') !== body.device || signature.toString('base64url') !== body.signature) {
    throw new AccountHttpError('BAD_REQUEST');
  }
  if (s.session.device !== undefined && s.session.device !== body.device) throw new AccountHttpError('SESSION_BOUND');
  const device = (await ctx.store.devices(s.user.id)).find((d) => d.id === body.device);
  if (device === undefined) throw new AccountHttpError('NO_SUCH_DEVICE');
  if (!nodeChainCrypto.verify(device.identityKey, Buffer.concat([DEVICE_BIND_LABEL, nonce, id]), signature)) {
    throw new AccountHttpError('BIND_FAILED', { problem: 'SIGNATURE' });
  }
  // The device may have gone, or the session been bound elsewhere, since: the store decides in one statement.
  if (!(await ctx.store.bindSession(s.hash, s.user.id, device.id))) {
    const now = await ctx.store.session(s.hash, Date.now());
    if (now === undefined) throw new AccountHttpError('NOT_SIGNED_IN');
    throw new AccountHttpError(now.session.device === undefined ? 'NO_SUCH_DEVICE' : 'SESSION_BOUND');
  }
  ctx.send(res, 200, { device: device.id });
}
