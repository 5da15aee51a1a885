/**
 * Trust in members' identity keys, per nickname, for one conversation: trust on first use against
 * the key store, the user's verification (safety numbers compared out of band), and key changes
 * (docs/SECURITY.md). A conversation calls `check` with its member list after every change of it;
 * the store is asked only for nicknames whose key is new to us.
 */
import type { RoomLocator } from '@nullroom/protocol';
import type { Member } from '@nullroom/crypto';
import { ClientError, type ClientErrorCode } from './errors.js';
import { equalBytes } from './encoding.js';
import type { KeyStore } from './keyStore.js';

/** What Trust tells its conversation. */
export interface TrustEvents {
  /** A member uses another identity key than the one we saw under this nickname before: warn the user. */
  keyChanged(nick: string, wasVerified: boolean): void;
  /** A member's verification state changed. */
  verified(nick: string): void;
  /** The key store failed (its own code when it gave one). */
  storeFailed(code: ClientErrorCode, e: unknown): void;
}

interface TrustState {
  key: Uint8Array;
  verified: boolean;
  changed: boolean;
}

/** A key store's own code (KEY_STORE_CORRUPT, _UNSAFE, _LOCKED) when it gave one, else KEY_STORE. */
export const storeErrorCode = (e: unknown): ClientErrorCode =>
  e instanceof ClientError && e.code.startsWith('KEY_STORE') ? e.code : 'KEY_STORE';

export class Trust {
  /** Per nickname: the identity key in use now, whether the user verified it, whether it changed. */
  readonly #state = new Map<string, TrustState>();

  constructor(
    private readonly store: KeyStore,
    private readonly locator: RoomLocator,
    private readonly events: TrustEvents,
  ) {}

  /** Whether the user verified this member's key, and whether it changed since we first saw it. */
  of(nick: string): { verified: boolean; changed: boolean } | undefined {
    const t = this.#state.get(nick);
    return t === undefined ? undefined : { verified: t.verified, changed: t.changed };
  }

  /**
   * Marks a member's current key verified or not; remembered by the key store (a store failure is
   * reported, the choice still holds for this session). ClientError(NO_SUCH_MEMBER) for a nickname
   * no member we checked has.
   */
  async setVerified(nick: string, verified: boolean): Promise<void> {
    const t = this.#state.get(nick);
    if (t === undefined) throw new ClientError('NO_SUCH_MEMBER', 'no member has that nickname');
    t.verified = verified;
    if (verified) t.changed = false;
    try {
      await this.store.remember(this.locator, nick, { identityKey: t.key, verified });
    } catch (e) {
      this.events.storeFailed(storeErrorCode(e), e);
    }
    this.events.verified(nick);
  }

  /** Compares members' identity keys with what the key store remembers (trust on first use). */
  async check(members: readonly Member[]): Promise<void> {
    let storeFailed = false; // one report per check, not one per member
    for (const m of members) {
      if (m.self) continue;
      const current = this.#state.get(m.nick);
      if (current !== undefined && equalBytes(current.key, m.identityKey)) continue;
      let known;
      let unreadable = false;
      try {
        known = await this.store.known(this.locator, m.nick);
      } catch (e) {
        // KEY_STORE_CORRUPT keeps its code, and nothing is written over what could not be read (that would reset trust).
        if (!storeFailed) this.events.storeFailed(storeErrorCode(e), e);
        storeFailed = unreadable = true;
      }
      const before = known?.identityKey ?? current?.key;
      const changed = before !== undefined && !equalBytes(before, m.identityKey);
      const wasVerified = (current?.verified ?? known?.verified) === true;
      this.#state.set(m.nick, {
        key: m.identityKey,
        verified: !changed && known?.verified === true,
        changed: changed || current?.changed === true,
      });
      if (!unreadable && (known === undefined || changed)) {
        await this.store
          .remember(this.locator, m.nick, { identityKey: m.identityKey, verified: false })
          .catch((e: unknown) => this.events.storeFailed('KEY_STORE', e));
      }
      if (changed) this.events.keyChanged(m.nick, wasVerified);
    }
  }
}
