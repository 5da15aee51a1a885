/**
 * Who is in an account conversation, and its name (docs/PROTOCOL.md §11.15): the Messenger's group
 * management, below its public class (messenger.ts) and above its state (messengerBase.ts).
 *
 *   addMembers(id, names)   claims one KeyPackage per device of each account and adds them all (one
 *                           commit, one Welcome)
 *   removeMember(id, name)  removes every leaf of that account (one commit)
 *   leave(id)               sends `leave`, then forgets the conversation here; a remaining member
 *                           removes the account's leaves (MLS lets nobody remove its own leaf, §12.2)
 *   rename(id, name)        a `conversation-name` message: the name never reaches the relay in clear
 *
 * Any member may do any of these (as in Signal's default groups); every member sees each as a notice
 * in the history (`kind: 'notice'`). Every commit this device makes also removes the leaves whose
 * device its account's signed list no longer names (a Welcome to a tree that still holds one would be
 * refused by every joiner), and adds none that the list does not name.
 *
 * Changes a device makes on its own, without a user asking: removing the leaves of an account that
 * sent `leave`; removing departed devices' leaves and adding this account's new devices when the
 * relay says our device list changed (NOTICE 2); removing departed leaves of other accounts when
 * this device notices them (after catching up, or when a list changed). Every member device may
 * see the same need at once, and the relay accepts one commit per epoch: each waits its rank times
 * `memberStepMs` (the account's own devices first for its devices), then works out the change again
 * from the state it has then; a loser of the race (WRONG_EPOCH) processes the winner's commit and
 * works the change out again, which is then usually nothing.
 */
import { type ConversationIncoming, type ConversationState, equalBytes as eq, toBase64Url, wipe } from '@nullroom/crypto';
import type { ClaimedDevice, DeviceListView } from './accountDevices.js';
import { AccountError } from './accountErrors.js';
import { randomHex } from './encoding.js';
import type { ConversationNotice } from './messageHistory.js';
import { MessengerBase } from './messengerBase.js';
import { encodePayload, type Payload, roomNameSchema } from './payload.js';

/** A commit to make: devices to add, accounts whose leaves go, and what the history says of it. */
interface Plan {
  readonly add: readonly ClaimedDevice[];
  readonly removeNames: readonly string[];
  readonly notice?: Omit<ConversationNotice, 'by'>;
}

type Commit = Extract<ConversationIncoming, { kind: 'commit' }>;
type Control = { type: 'leave' } | { type: 'conversation-name'; name: string; again?: true };

/** Device lists read at once when a change is worked out. */
const LIST_READS = 8;
/** Own-account list changes and departed leaves of others: others' devices wait this many ranks more. */
const FALLBACK_RANKS = 10;
/** Times this account's new device is looked for again when it has no KeyPackage yet. */
const OWN_RETRIES = 6;

export abstract class MessengerMembers extends MessengerBase {
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>();

  /**
   * Adds these accounts (every device with a KeyPackage; none: NO_REACHABLE_DEVICE) to the
   * conversation: one commit and one Welcome. Accounts already in it are skipped.
   */
  async addMembers(id: string, names: readonly string[]): Promise<void> {
    if (!this.conversations.has(id)) throw new AccountError('REFUSED', { relayCode: 'NO_SUCH_CONVERSATION' });
    const present = new Set(await this.members(id));
    const claims = await Promise.all(
      [...new Set(names)].filter((n) => n !== this.o.name && !present.has(n)).map((n) => this.o.devices.claimKeyPackages(n)),
    );
    const fresh = claims.filter((c) => !present.has(c.list.name) && c.list.name !== this.o.name);
    const unreachable = fresh.find((c) => c.devices.length === 0);
    if (unreachable !== undefined) throw new AccountError('NO_REACHABLE_DEVICE', { problem: unreachable.list.name });
    if (fresh.length === 0) return;
    for (const c of fresh) if (c.missing.length > 0) this.emit('warning', { code: 'DEVICE_NOT_ADDED', conversation: id });
    const added = fresh.map((c) => c.list.name);
    await this.commitChange(id, async () => ({
      add: fresh.flatMap((c) => c.devices),
      removeNames: [],
      notice: { what: 'added', names: added },
    }));
    await this.tellName(id);
  }

  /** Removes every leaf of this account (ours: `leave`). NOT_A_MEMBER when it has none. */
  async removeMember(id: string, name: string): Promise<void> {
    if (name === this.o.name) return this.leave(id);
    const state = this.conversations.get(id);
    if (state === undefined) throw new AccountError('REFUSED', { relayCode: 'NO_SUCH_CONVERSATION' });
    if (!(await this.g.leaves(state)).some((m) => m.name === name)) throw new AccountError('NOT_A_MEMBER');
    await this.commitChange(id, async () => ({ add: [], removeNames: [name], notice: { what: 'removed', names: [name] } }));
  }

  /**
   * This account leaves the conversation: a `leave` message to the members, then this device forgets
   * it (its state is deleted: it reads nothing more) and says so (`members` with `removedUs`); our
   * other devices do the same when they read the message, and a remaining member removes our leaves.
   */
  async leave(id: string): Promise<void> {
    const msgId = await this.sendControl(id, { type: 'leave' });
    await this.serial(async () => {
      this.forget(id);
      await this.log.noticeNow(id, msgId, { what: 'left', by: this.o.name, names: [this.o.name] }, this.myKey);
      await this.save();
    });
    this.emit('members', { id, members: [], removedUs: true });
  }

  /** Names the conversation for every member (1..64 characters: BAD_CONVERSATION_NAME otherwise). */
  async rename(id: string, name: string): Promise<void> {
    if (!roomNameSchema.safeParse(name).success) throw new AccountError('BAD_CONVERSATION_NAME');
    const msgId = await this.sendControl(id, { type: 'conversation-name', name });
    await this.log.history.setName(id, name);
    await this.log.noticeNow(id, msgId, { what: 'renamed', by: this.o.name, name }, this.myKey);
  }

  /** The conversation's name here, if it has one. */
  conversationName(id: string): Promise<string | undefined> {
    return this.log.history.name(id);
  }

  /** A `leave` or `conversation-name` that a drain decrypted, from `from` (account) on device `device`. */
  protected async onControl(id: string, p: Payload, from: string, device: string, at: number): Promise<void> {
    if (p.type === 'conversation-name') {
      const had = await this.log.history.name(id);
      if (had === p.name) return;
      await this.log.history.setName(id, p.name);
      // Told again after an addition: a device that had no name takes it quietly; a different one is shown.
      if (p.again === undefined || had !== undefined) this.log.notice(id, p.id, { what: 'renamed', by: from, name: p.name }, device, at);
      return;
    }
    if (p.type !== 'leave') return;
    this.log.notice(id, p.id, { what: 'left', by: from, names: [from] }, device, at);
    if (from === this.o.name) {
      // Another device of this account left: so does this one.
      this.forget(id);
      this.emit('members', { id, members: [], removedUs: true });
      return;
    }
    this.leaving.set(id, (this.leaving.get(id) ?? new Set()).add(from));
    this.schedule(id, 0);
  }

  /** A commit of another member a drain applied: its notices, and who asked to leave and is gone now. */
  protected async onCommit(id: string, r: Commit, at: number): Promise<void> {
    const tag = `e${r.epoch}`;
    const device = toBase64Url(r.by.identityKey);
    if (r.removedUs) {
      this.forget(id);
      this.log.notice(id, `${tag}:removed`, { what: 'removed', by: r.by.name, names: [this.o.name] }, device, at);
      this.emit('members', { id, members: [], removedUs: true });
      return;
    }
    this.conversations.set(id, r.state);
    const after = await this.g.leaves(r.state);
    const afterNames = new Set(after.map((m) => m.name));
    const beforeNames = new Set([
      ...after.filter((m) => !r.added.some((a) => a.name === m.name && eq(a.identityKey, m.identityKey))).map((m) => m.name),
      ...r.removed.map((m) => m.name),
    ]);
    const added = [...new Set(r.added.map((m) => m.name))].filter((n) => !beforeNames.has(n));
    const removed = [...new Set(r.removed.map((m) => m.name))].filter((n) => !afterNames.has(n));
    const leaving = this.leaving.get(id);
    if (added.length > 0) this.log.notice(id, `${tag}:added`, { what: 'added', by: r.by.name, names: added }, device, at);
    const kicked = removed.filter((n) => !leaving?.has(n));
    if (kicked.length > 0) this.log.notice(id, `${tag}:removed`, { what: 'removed', by: r.by.name, names: kicked }, device, at);
    for (const n of leaving ?? []) if (!afterNames.has(n)) leaving?.delete(n);
    if (leaving?.size === 0) this.leaving.delete(id);
    this.emit('members', { id, members: await this.members(id), removedUs: false });
  }

  /** The relay said this account's device list changed: its devices bring every conversation in line, the oldest leaf first. */
  protected ownDevicesChanged(): void {
    for (const id of this.conversations.keys()) this.schedule(id, 0, true);
  }

  /**
   * After catching up (`name` undefined: conversations with a leaf that its account's list, read
   * since this process started, does not name, or with someone asking to leave) and when `name`'s
   * list changed (every conversation with a leaf of `name`): departed leaves go, other accounts'
   * devices acting last.
   */
  protected async checkDeparted(name?: string): Promise<void> {
    for (const [id, state] of [...this.conversations]) {
      const leaves = await this.g.leaves(state);
      const due =
        name !== undefined
          ? leaves.some((m) => m.name === name)
          : this.leaving.has(id) || (await this.g.members(state)).length < leaves.length;
      if (due) this.schedule(id, this.leaving.has(id) ? 0 : FALLBACK_RANKS);
    }
  }

  protected stopMembers(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  /**
   * After `extra + rank` steps (rank: this device's place among the leaves that may act, the oldest
   * first; `own`: only this account's leaves act), works out what is due in the conversation and
   * commits it, if anything still is.
   */
  private schedule(id: string, extra: number, own = false, tries = 0): void {
    const key = `${id}:${own}`;
    if (this.timers.has(key) || this.closed) return;
    const step = this.o.memberStepMs ?? 2000;
    const state = this.conversations.get(id);
    if (state === undefined) return;
    void this.g.leaves(state).then((leaves) => {
      const leaving = this.leaving.get(id) ?? new Set<string>();
      const actors = leaves.filter((m) => !leaving.has(m.name) && (!own || m.name === this.o.name));
      const rank = actors.findIndex((m) => m.leaf === this.g.ownLeaf(state));
      if (rank < 0 || this.timers.has(key) || this.closed) return;
      const delay = tries === 0 ? (extra + rank) * step : 2 ** (tries - 1) * step;
      const timer = setTimeout(() => {
        this.timers.delete(key);
        let waiting = false;
        let adds = false;
        const plan = async () => {
          const p = await this.duePlan(id, own);
          waiting = p.waiting;
          adds = p.add.length > 0;
          return p;
        };
        this.commitChange(id, plan).then(
          async (done) => {
            // A new device approved a moment ago may not have published its KeyPackages yet: asked again, 1, 2, 4, … steps later.
            if (waiting && tries < OWN_RETRIES) this.schedule(id, 0, own, tries + 1);
            if (done && adds) await this.tellName(id);
          },
          () => this.emit('warning', { code: 'MEMBERS_NOT_CHANGED', conversation: id }),
        );
      }, delay);
      this.timers.set(key, timer);
    });
  }

  /** What is due now: those who left go, and (`own`) this account's listed devices without a leaf come in. */
  private async duePlan(id: string, own: boolean): Promise<Plan & { waiting: boolean }> {
    const removeNames = [...(this.leaving.get(id) ?? [])];
    if (!own) return { add: [], removeNames, waiting: false };
    const state = this.conversations.get(id);
    const mine = await this.o.devices.deviceList();
    const leaves = state === undefined ? [] : await this.g.leaves(state);
    const missing = mine.head.devices.filter((k) => !leaves.some((m) => eq(m.identityKey, k)));
    if (missing.length === 0) return { add: [], removeNames, waiting: false };
    const claim = await this.o.devices.claimKeyPackages(this.o.name);
    const add = claim.devices.filter((d) => missing.some((k) => eq(k, d.identityKey)));
    return { add, removeNames, waiting: add.length < missing.length };
  }

  /**
   * Makes one commit from `plan` (worked out against the state it is made from) plus the removal of
   * every departed leaf, and submits it; on WRONG_EPOCH processes the winner and works it out again
   * (at most 5 times). False when there was nothing to do.
   */
  protected async commitChange(id: string, plan: () => Promise<Plan>): Promise<boolean> {
    const wanted = await plan();
    for (let attempt = 0; attempt < 5; attempt++) {
      const r = await this.serial(async (): Promise<{ done: boolean } | { epoch: number }> => {
        const state = this.conversations.get(id);
        if (state === undefined) throw new AccountError('REFUSED', { relayCode: 'NO_SUCH_CONVERSATION' });
        const change = await this.workOut(state, wanted);
        if (change === undefined) return { done: false };
        const out = await this.g.change(state, change.keyPackages, change.removeKeys);
        const epoch = this.g.epoch(state);
        const res = await this.channel.commit(id, epoch, out.commit, change.addIds, change.removeIds, out.welcome);
        if (res.status === 'WRONG_EPOCH') return { epoch: res.epoch };
        if (res.status !== 'ACCEPTED') throw new AccountError('REFUSED', { relayCode: res.status });
        wipe(out.consumed);
        this.conversations.set(id, out.state);
        await this.committed(id, epoch + 1, change.notice);
        return { done: true };
      });
      if ('done' in r) return r.done;
      await this.untilEpoch(id, r.epoch);
    }
    throw new AccountError('REFUSED', { relayCode: 'WRONG_EPOCH' });
  }

  /** The plan against this state: leaves to remove (with their relay ids where known) and devices to add; undefined when nothing is. */
  private async workOut(state: ConversationState, p: Plan) {
    const leaves = await this.g.leaves(state);
    const lists = await this.lists([...new Set(leaves.map((m) => m.name))]);
    const me = this.g.ownLeaf(state);
    const gone = leaves.filter((m) => {
      if (m.leaf === me) return false;
      if (p.removeNames.includes(m.name)) return true;
      const list = lists.get(m.name);
      return list !== undefined && !list.head.devices.some((k) => eq(k, m.identityKey));
    });
    const add = p.add.filter((d) => d.device !== this.o.device && !leaves.some((m) => eq(m.identityKey, d.identityKey)));
    if (gone.length === 0 && add.length === 0) return undefined;
    const removeIds = gone.flatMap((m) => {
      const d = lists.get(m.name)?.ids.get(toBase64Url(m.identityKey));
      return d === undefined || d === this.o.device ? [] : [d];
    });
    const notice = p.notice;
    return {
      keyPackages: add.map((d) => d.keyPackage),
      removeKeys: gone.map((m) => m.identityKey),
      addIds: add.map((d) => d.device),
      removeIds: [...new Set(removeIds)],
      notice,
    };
  }

  /** Our commit was accepted: its notice, who of those leaving is gone now, saved, and told. */
  private async committed(id: string, epoch: number, notice: Omit<ConversationNotice, 'by'> | undefined): Promise<void> {
    const state = this.conversations.get(id);
    const names = new Set(state === undefined ? [] : (await this.g.leaves(state)).map((m) => m.name));
    const leaving = this.leaving.get(id);
    for (const n of leaving ?? []) if (!names.has(n)) leaving?.delete(n);
    if (leaving?.size === 0) this.leaving.delete(id);
    if (notice !== undefined && (notice.names?.length ?? 0) > 0) {
      await this.log.noticeNow(id, `e${epoch}:${notice.what}`, { ...notice, by: this.o.name }, this.myKey);
    }
    await this.save();
    this.emit('members', { id, members: await this.members(id), removedUs: false });
  }

  /** Verified device lists of these accounts, a few at a time; one that does not verify is left out (its leaves stay). */
  private async lists(names: readonly string[]): Promise<Map<string, DeviceListView>> {
    const out = new Map<string, DeviceListView>();
    for (let i = 0; i < names.length; i += LIST_READS) {
      const views = await Promise.all(names.slice(i, i + LIST_READS).map((n) => this.o.devices.deviceList(n).catch(() => undefined)));
      for (const v of views) if (v !== undefined) out.set(v.name, v);
    }
    return out;
  }

  /** After an addition: the name, told again so that the devices added learn it. */
  private async tellName(id: string): Promise<void> {
    const name = await this.log.history.name(id);
    if (name !== undefined) await this.sendControl(id, { type: 'conversation-name', name, again: true }).catch(() => undefined);
  }

  /** Encrypts and sends a control message at the current epoch (after a commit that came first, again): its id. */
  private async sendControl(id: string, c: Control): Promise<string> {
    const msgId = randomHex(16);
    for (let attempt = 0; attempt < 5; attempt++) {
      const epoch = await this.serial(async () => {
        const state = this.conversations.get(id);
        if (state === undefined) throw new AccountError('REFUSED', { relayCode: 'NO_SUCH_CONVERSATION' });
        const out = await this.g.encrypt(state, encodePayload({ v: 1, id: msgId, n: ++this.sent, ts: Date.now(), ...c }));
        this.conversations.set(id, out.state);
        await this.save();
        const r = await this.channel.send(id, this.g.epoch(out.state), out.message);
        if (r.status === 'ACCEPTED') return undefined;
        if (r.status !== 'WRONG_EPOCH') throw new AccountError('REFUSED', { relayCode: r.status });
        return r.epoch;
      });
      if (epoch === undefined) return msgId;
      await this.untilEpoch(id, epoch);
    }
    throw new AccountError('REFUSED', { relayCode: 'WRONG_EPOCH' });
  }

  /** This device is out of the conversation: its state goes (it reads nothing more of it); its history stays. */
  private forget(id: string): void {
    this.conversations.delete(id);
    this.leaving.delete(id);
    for (const key of [`${id}:true`, `${id}:false`]) {
      clearTimeout(this.timers.get(key));
      this.timers.delete(key);
    }
  }
}
