/**
 * The contract every KeyStore keeps (MemoryKeyStore, FileKeyStore, IndexedDbKeyStore), written
 * without node: or DOM imports so the same cases can run in Node and in a browser page. Each case
 * throws on failure; keyStore.test.ts registers them with node:test.
 */
import type { RoomLocator } from '@nullroom/protocol';
import { toHex } from '../src/encoding.js';
import type { KeyStore } from '../src/keyStore.js';

export interface StoreUnderTest {
  /** A handle on the store: for a persistent store, a new one on the same storage (a restart, a second process or tab). */
  open(): Promise<KeyStore>;
  /** Whether what one handle wrote survives into another handle. */
  persistent: boolean;
  /** Every byte the store has written, as text (for the "names no room" check); absent for a memory store. */
  dump?(): Promise<string>;
  /** Overwrites what a persistent store holds of the keys it learned with bytes that do not read back (a bit flip, a bad restore). */
  damage?(): Promise<void>;
}

export interface ContractCase {
  name: string;
  run(s: StoreUnderTest): Promise<void>;
}

function check(cond: boolean, what: string): asserts cond {
  if (!cond) throw new Error(`contract: ${what}`);
}
const same = (a: Uint8Array, b: Uint8Array) => toHex(a) === toHex(b);
const locator = (): RoomLocator => globalThis.crypto.getRandomValues(new Uint8Array(32)) as RoomLocator;
const key = () => globalThis.crypto.getRandomValues(new Uint8Array(32));

export const keyStoreContract: ContractCase[] = [
  {
    name: 'identity: made on first use, the same on every later call, a working Ed25519 signer',
    async run(s) {
      const store = await s.open();
      const room = locator();
      const a = await store.identity(room);
      const b = await store.identity(room);
      check(a.publicKey.byteLength === 32, 'a 32-byte Ed25519 public key');
      check(same(a.publicKey, b.publicKey), 'the same identity twice');
      const message = key();
      const pub = await globalThis.crypto.subtle.importKey('raw', new Uint8Array(a.publicKey), { name: 'Ed25519' }, false, ['verify']);
      check(
        await globalThis.crypto.subtle.verify({ name: 'Ed25519' }, pub, new Uint8Array(await b.sign(message)), message),
        'its signatures verify under its public key (RFC 8032)',
      );
    },
  },
  {
    name: 'identity: one per room (members of two rooms cannot link the device)',
    async run(s) {
      const store = await s.open();
      const a = await store.identity(locator());
      const b = await store.identity(locator());
      check(!same(a.publicKey, b.publicKey), 'two rooms, two identities');
    },
  },
  {
    name: 'identity: one per nickname in a room (two tabs or people under two names are two keys); the same nickname, the same key',
    async run(s) {
      const store = await s.open();
      const room = locator();
      const alice = await store.identity(room, 'alice');
      const bob = await store.identity(room, 'bob');
      check(!same(alice.publicKey, bob.publicKey), 'two nicknames, two identities');
      check(same((await store.identity(room, 'alice')).publicKey, alice.publicKey), 'alice again is alice');
      check(
        same((await store.identity(room, 'e\u0301')).publicKey, (await store.identity(room, '\u00e9')).publicKey),
        'one nickname in two Unicode forms is one identity (NFC)',
      );
      if (s.persistent) {
        const later = await s.open();
        check(
          same((await later.identity(room, 'alice')).publicKey, alice.publicKey),
          'alice after a restart (a reload rejoins as the same member)',
        );
        check(same((await later.identity(room, 'bob')).publicKey, bob.publicKey), 'bob after a restart');
      }
    },
  },
  {
    name: 'identity: concurrent first calls agree on one identity',
    async run(s) {
      const store = await s.open();
      const room = locator();
      const ids = await Promise.all([store.identity(room), store.identity(room), store.identity(room)]);
      check(
        ids.every((i) => same(i.publicKey, ids[0]!.publicKey)),
        'one identity',
      );
    },
  },
  {
    name: 'known: nothing for a stranger; remember then known returns the key and flag',
    async run(s) {
      const store = await s.open();
      const room = locator();
      check((await store.known(room, 'bob')) === undefined, 'a stranger is unknown');
      const k = key();
      await store.remember(room, 'bob', { identityKey: k, verified: false });
      let got = await store.known(room, 'bob');
      check(got !== undefined && same(got.identityKey, k) && got.verified === false, 'bob as remembered');
      await store.remember(room, 'bob', { identityKey: k, verified: true });
      got = await store.known(room, 'bob');
      check(got !== undefined && got.verified, 'the verified flag is updated');
      const k2 = key();
      await store.remember(room, 'bob', { identityKey: k2, verified: false });
      got = await store.known(room, 'bob');
      check(got !== undefined && same(got.identityKey, k2) && !got.verified, 'a new key replaces the old one and its verification');
    },
  },
  {
    name: 'known: per room and per nickname; the caller cannot alter what is stored through its arrays',
    async run(s) {
      const store = await s.open();
      const r1 = locator();
      const r2 = locator();
      const k = key();
      const copy = new Uint8Array(k);
      await store.remember(r1, 'bob', { identityKey: k, verified: true });
      k.fill(0);
      check((await store.known(r2, 'bob')) === undefined, 'another room knows nothing');
      check((await store.known(r1, 'Bob')) === undefined && (await store.known(r1, 'bo')) === undefined, 'nicknames are exact');
      const got = await store.known(r1, 'bob');
      check(got !== undefined && same(got.identityKey, copy), 'the stored key is a copy');
      got.identityKey.fill(7);
      const again = await store.known(r1, 'bob');
      check(again !== undefined && same(again.identityKey, copy), 'known returns a copy');
    },
  },
  {
    name: 'known: any nickname is a plain key (no prototype names, separators or escapes confuse it)',
    async run(s) {
      const store = await s.open();
      const room = locator();
      const nicks = ['__proto__', 'constructor', 'a/b', 'a\\b', '"q"', 'é', '李雷', 'x'.repeat(32), 'toString', 'a\nb'];
      const keys = nicks.map(() => key());
      for (const [i, n] of nicks.entries()) await store.remember(room, n, { identityKey: keys[i]!, verified: i % 2 === 0 });
      await store.flush?.();
      const reader = await s.open();
      for (const [i, n] of nicks.entries()) {
        const got = await reader.known(room, n);
        check(got !== undefined && same(got.identityKey, keys[i]!) && got.verified === (i % 2 === 0), `nickname #${i} reads back`);
      }
      check((await reader.known(room, 'hasOwnProperty')) === undefined, 'no inherited names');
    },
  },
  {
    name: 'remember: many at once from one handle, none lost',
    async run(s) {
      const store = await s.open();
      const room = locator();
      const keys = Array.from({ length: 25 }, () => key());
      await Promise.all(keys.map((k, i) => store.remember(room, `m${i}`, { identityKey: k, verified: false })));
      await store.flush?.();
      const reader = await s.open();
      for (const [i, k] of keys.entries()) {
        const got = await reader.known(room, `m${i}`);
        check(got !== undefined && same(got.identityKey, k), `m${i} kept`);
      }
    },
  },
  {
    name: 'flush: resolves once everything remembered is stored, at once when nothing is pending',
    async run(s) {
      const store = await s.open();
      await store.flush?.();
      const room = locator();
      const k = key();
      // Not awaited: flush() alone must cover it (a store without flush is durable when remember resolves).
      const pending = store.remember(room, 'bob', { identityKey: k, verified: true });
      if (store.flush !== undefined) await store.flush();
      else await pending;
      if (s.persistent) {
        const got = await (await s.open()).known(room, 'bob');
        check(got !== undefined && same(got.identityKey, k) && got.verified, 'on disk after flush');
      }
      await pending;
    },
  },
  {
    name: 'persistence: identities, known keys and verified flags survive a restart',
    async run(s) {
      if (!s.persistent) return;
      const room = locator();
      const first = await s.open();
      const id = await first.identity(room);
      const k = key();
      await first.remember(room, 'alice', { identityKey: k, verified: true });
      await first.flush?.();
      const later = await s.open();
      check(same((await later.identity(room)).publicKey, id.publicKey), 'the same identity after a restart');
      const got = await later.known(room, 'alice');
      check(got !== undefined && same(got.identityKey, k) && got.verified, 'alice still known and verified');
    },
  },
  {
    name: "persistence: two handles writing at once (two processes, two tabs) lose none of each other's updates",
    async run(s) {
      if (!s.persistent) return;
      const [a, b] = [await s.open(), await s.open()];
      const room = locator();
      const ka = Array.from({ length: 10 }, () => key());
      const kb = Array.from({ length: 10 }, () => key());
      const [ida, idb] = await Promise.all([
        a.identity(room),
        b.identity(room),
        ...ka.map((k, i) => a.remember(room, `a${i}`, { identityKey: k, verified: true })),
        ...kb.map((k, i) => b.remember(room, `b${i}`, { identityKey: k, verified: false })),
      ]);
      await Promise.all([a.flush?.(), b.flush?.()]);
      check(
        same((ida as { publicKey: Uint8Array }).publicKey, (idb as { publicKey: Uint8Array }).publicKey),
        'both handles hold one identity',
      );
      const reader = await s.open();
      for (const [i, k] of ka.entries()) check(same((await reader.known(room, `a${i}`))?.identityKey ?? new Uint8Array(), k), `a${i} kept`);
      for (const [i, k] of kb.entries()) check(same((await reader.known(room, `b${i}`))?.identityKey ?? new Uint8Array(), k), `b${i} kept`);
    },
  },
  {
    name: 'damage: known keys that do not read back are KEY_STORE_CORRUPT, never read as empty, never overwritten',
    async run(s) {
      if (s.damage === undefined || s.dump === undefined) return;
      const room = locator();
      const k = key();
      const first = await s.open();
      await first.remember(room, 'bob', { identityKey: k, verified: true });
      await first.flush?.();
      await s.damage();
      const damaged = await s.dump();
      const code = (e: unknown) => (e as { code?: unknown } | null)?.code;
      // A store may refuse at open (the terminal's reads its one file then) or at the first read.
      let store: KeyStore | undefined;
      try {
        store = await s.open();
      } catch (e) {
        check(code(e) === 'KEY_STORE_CORRUPT', `open fails with KEY_STORE_CORRUPT, not ${String(code(e))}`);
      }
      if (store !== undefined) {
        const got = await store.known(room, 'bob').then(
          (v) => ({ ok: true as const, v }),
          (e: unknown) => ({ ok: false as const, e }),
        );
        check(!got.ok, 'bob is not read as a stranger');
        check(code(got.e) === 'KEY_STORE_CORRUPT', `known fails with KEY_STORE_CORRUPT, not ${String(code(got.e))}`);
        const write = store.remember(room, 'carol', { identityKey: key(), verified: false }).then(() => store.flush?.());
        const wrote = await write.then(
          () => undefined,
          (e: unknown) => e,
        );
        check(
          code(wrote) === 'KEY_STORE_CORRUPT',
          `remember over a damaged record fails with KEY_STORE_CORRUPT, not ${String(code(wrote))}`,
        );
      }
      check((await s.dump()) === damaged, 'the damaged record is left as it was (the user may still restore it)');
    },
  },
  {
    name: 'opacity: what the store wrote names no room locator',
    async run(s) {
      if (s.dump === undefined) return;
      const store = await s.open();
      const room = locator();
      await store.identity(room);
      await store.remember(room, 'bob', { identityKey: key(), verified: true });
      await store.flush?.();
      const bytes = await s.dump();
      const hex = toHex(room);
      const b64 = btoa(String.fromCharCode(...room));
      check(!bytes.includes(hex) && !bytes.includes(hex.toUpperCase()) && !bytes.includes(b64), 'the locator does not appear');
    },
  },
];
