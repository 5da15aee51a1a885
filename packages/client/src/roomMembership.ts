/**
 * The group side of a room (docs/PROTOCOL.md §4.3), as the shell of the membership state machine
 * (membershipMachine.ts): it turns relay frames, MLS processing and timers into the machine's
 * events, and carries out the effects `step` returns (creating the group, external joins, removal
 * and self-update commits, GroupInfo checks, leaf probes, timers, events to the app), on the room's
 * serial queue (roomBase.ts). The crypto is done here, never in `step`: its results are events.
 * RoomResume (roomResume.ts) extends it with resuming after a lost connection, and Room (room.ts)
 * with the public API and application messages.
 */
import {
  type DeliverFrame,
  DeliveryKind,
  type GroupStateFrame,
  type RelayEpoch,
  type ReqId,
  asEpoch,
  errorMessageOf,
  errorNameOf,
} from '@nullroom/protocol';
import { type Member, type RoomFingerprint, CryptoError, framedEpoch, nickKey, safetyNumber, uniqueNick, wipe } from '@nullroom/crypto';
import { ClientError } from './errors.js';
import { equalBytes, toHex } from './encoding.js';
import { RoomBase } from './roomBase.js';
import { DisruptionLedger, voidReason } from './membership.js';
import { badInfoSince } from './membershipMachine.js';
import { type GroupInfoCheck, type MembershipEffect, type MembershipEvent } from './membershipState.js';
import type { DisruptionReason, RoomEvents } from './roomTypes.js';

export abstract class RoomMembership extends RoomBase {
  /** Lives as long as the Room: counts survive rejoins. */
  readonly #ledger = new DisruptionLedger();

  /** Reads an application message (Room). */
  protected abstract onAppDeliver(f: DeliverFrame): Promise<void>;

  /** Steps the membership machine with `e` and carries out its effects, in order. */
  protected async dispatch(e: MembershipEvent): Promise<void> {
    for (const fx of this.advance(e)) await this.carryOut(fx);
  }

  private async carryOut(fx: MembershipEffect): Promise<void> {
    switch (fx.kind) {
      case 'found':
        return this.found(fx.commits, fx.refound);
      case 'join-external':
        return this.joinExternal(fx.groupInfo, fx.commits);
      case 'commit':
        return this.commitRemoval(fx.targets, fx.commits);
      case 'check-group-info':
        return this.checkGroupInfo(fx.check, fx.groupInfo);
      case 'sync':
        return this.requestSync();
      case 'after':
        this.after(fx.ms, () => this.dispatch(fx.event));
        return;
      case 'named':
        return this.named(fx.nick ?? this.nick, fx.created);
      case 'joined':
        this.emit('joined', { created: this.created, nick: this.nick, members: this.memberList.map((m) => m.nick), rejoin: this.rejoin });
        for (const w of this.joinWaiters.splice(0)) w.resolve();
        return;
      case 'check-trust':
        return this.trusted.check(this.memberList);
      case 'probe-leaves':
        return this.probeLeaves();
      case 'commit-sequenced':
        return this.outbox.commitSequenced(fx.commits);
      case 'abandon':
        return this.outbox.abandon(fx.reqId);
      case 'pump':
        return this.outbox.pump();
      case 'disrupted':
        return this.disrupted(fx.slot, fx.reason);
      case 'rejoin':
        return this.rejoinFresh();
      case 'fail-join':
        return this.failJoin(fx.error);
      case 'report':
        return this.report(fx.code, fx.error, fx.relayCode);
      case 'phase-changed':
        return this.emit('phase', { phase: fx.phase });
      case 'emit':
        return this.emit(fx.name, fx.data as RoomEvents[typeof fx.name]);
    }
  }

  protected onGroupState(f: GroupStateFrame): Promise<void> {
    return this.dispatch({ type: 'group-state', status: f.status, commits: f.epoch, groupInfo: f.groupInfo });
  }

  /** Joins through an external commit on the relay's GroupInfo, under a nickname unique in the room. */
  private async joinExternal(groupInfo: Uint8Array, commits: RelayEpoch): Promise<void> {
    const slot = this.slot!;
    let out, nick;
    try {
      const snapshot = await this.crypto.readGroupInfo(groupInfo);
      this.crypto = await this.crypto.withSuite(snapshot.suite);
      nick = this.requestedNick;
      out = await this.crypto.joinExternal(snapshot, { nick, slot });
      // docs/PROTOCOL.md §3.5: unique by nickKey among the other members' leaves. A leaf with our own
      // identity key is us, from a stay we could not resume (a restarted terminal, its slot still
      // away at the relay until the grace period ends): we take our name back rather than a suffix.
      const me = this.crypto.identity.publicKey;
      const others = (await this.crypto.members(out.state)).filter((m) => !m.self && !equalBytes(m.identityKey, me));
      nick = uniqueNick(this.requestedNick, new Set(others.map((m) => nickKey(m.nick))));
      if (nick !== this.requestedNick) out = await this.crypto.joinExternal(snapshot, { nick, slot });
    } catch (e) {
      // Whether the GroupInfo opens at all matters only before any commit, while we still wait.
      const now = Date.now();
      const waiting = now - badInfoSince(this.membership, now) < this.timings.badGroupInfoWaitMs;
      const opens = commits !== 0 || (waiting && (await this.crypto.groupInfoOpens(groupInfo)));
      return this.dispatch({ type: 'group-info-unusable', error: e, commits, opens });
    }
    const { message, state } = out;
    const room = this.crypto.locator;
    const reqId = this.link.request(this, (r) => ({
      type: 'COMMIT',
      reqId: r,
      room,
      epoch: commits,
      commit: message,
      groupInfo: out.groupInfo,
    }));
    return this.dispatch({ type: 'commit-sent', pending: { kind: 'join', reqId, state, commits: asEpoch(commits + 1), nick } });
  }

  /**
   * Creates the group: CREATE for a new room, or, re-founding (§4.3), COMMIT{epoch 0} whose
   * `commit` repeats the sealed GroupInfo. A failure here fails the join (JOIN_FAILED, `cause`).
   */
  private async found(commits: RelayEpoch, refound: boolean): Promise<void> {
    let made;
    try {
      made = await this.crypto.createGroup({ nick: this.requestedNick, slot: this.slot! });
    } catch (e) {
      return this.failJoin(new ClientError('JOIN_FAILED', 'the group could not be created', { cause: e }));
    }
    const { state, groupInfo } = made;
    const room = this.crypto.locator;
    const reqId = refound
      ? this.link.request(this, (r) => ({ type: 'COMMIT', reqId: r, room, epoch: commits, commit: groupInfo, groupInfo }))
      : this.link.request(this, (r) => ({ type: 'CREATE', reqId: r, room, groupInfo }));
    return this.dispatch({ type: 'commit-sent', pending: { kind: 'create', reqId, state, commits: asEpoch(refound ? commits + 1 : 0) } });
  }

  /** Checks the GroupInfo the relay stores: after a valid commit only "is it ours?" (cheap); out of step, also "is it joinable?". */
  private async checkGroupInfo(check: GroupInfoCheck, groupInfo: Uint8Array): Promise<void> {
    const mls = this.mls!;
    const verdict =
      check.why === 'after-commit'
        ? (await this.crypto.groupInfoMatches(mls, groupInfo))
          ? 'ours'
          : 'bad'
        : await this.crypto.checkGroupInfo(mls, groupInfo, { nick: this.nick, slot: this.slot! });
    return this.dispatch({ type: 'group-info-checked', check, verdict });
  }

  protected async onAck(reqId: ReqId): Promise<void> {
    const p = this.membership.pending;
    if (this.leaveAck !== undefined && p?.reqId !== reqId && !this.outbox.owns(reqId)) {
      this.outbox.wasAbandoned(reqId);
      return this.leaveAck();
    }
    if (p === undefined || p.reqId !== reqId) {
      this.outbox.acked(reqId);
      return;
    }
    this.mls = p.state;
    if (p.kind === 'remove') wipe(p.consumed); // accepted: the old epoch's secrets are no longer needed
    await this.dispatch({ type: 'commit-acked' });
    await this.dispatch({ type: 'members', members: await this.crypto.members(p.state) });
    if (p.kind !== 'remove') await this.trusted.check(this.memberList);
    return this.dispatch({ type: 'commit-adopted', pending: p });
  }

  protected async onError(reqId: ReqId, code: number): Promise<void> {
    const name = errorNameOf(code) ?? `code ${code}`;
    if (this.outbox.wasAbandoned(reqId)) return;
    if (this.wasSync(reqId)) return this.dispatch({ type: 'sync-refused', name });
    if (this.ticket.refused(reqId, name)) return;
    if (this.membership.pending?.reqId === reqId) return this.dispatch({ type: 'commit-refused', name });
    if (this.outbox.refusedFrame(reqId, name)) return;
    // The JOIN itself was refused (ROOM_FULL, TOO_MANY_NEW_ROOMS, ADDRESS_LIMIT, ...): fail the join with the relay's reason.
    if (this.phase === 'joining' && this.slot === undefined) {
      // Only the JOIN's own refusal: after `rejoinFresh` (LEAVE, then JOIN on the same connection) a
      // SYNC or message of the stay we left can still be answered NOT_IN_ROOM; that is no refusal.
      if (reqId !== this.joinReq) return;
      const known = errorNameOf(code);
      return this.dispatch({ type: 'join-refused', name, why: known === undefined ? name : `${name}: ${errorMessageOf(known)}` });
    }
    if (name === 'NOT_IN_ROOM' && this.leaveAck !== undefined) return this.leaveAck();
    this.report('RELAY_ERROR', new ClientError('RELAY_ERROR', `the relay reported: ${name}`), name);
  }

  protected async onDeliver(f: DeliverFrame): Promise<void> {
    if (this.phase !== 'joined' || this.mls === undefined) return; // traffic from before we joined: not ours to read
    this.noteSeq(f.seq);
    // The relay never sends us our own frames, except when it replays what we missed (§4.5): a
    // frame of ours it accepted while the acknowledgement was lost with the old connection.
    if (f.from === this.slot) return this.ownDelivery(f);
    if (f.kind !== DeliveryKind.COMMIT) return this.onAppDeliver(f);
    await this.dispatch({ type: 'commit-delivered', commits: f.epoch });
    let r;
    try {
      r = await this.crypto.process(this.mls, f.data, f.from);
      if (r.kind !== 'commit') throw new CryptoError('BAD_MESSAGE', 'an application message was delivered as a commit');
    } catch (e) {
      return this.voidCommit(f, e);
    }
    this.mls = r.state;
    if (r.removedSelf) return this.dispatch({ type: 'removed-self' });
    await this.dispatch({ type: 'members', members: await this.crypto.members(r.state) });
    return this.dispatch({ type: 'commit-valid', from: f.from, added: r.added, removed: r.removed });
  }

  /**
   * One of our own frames, replayed after RESUMED (§4.5): our pending commit, or a message in flight,
   * that the relay accepted; it counts as acknowledged. A commit of ours we do not hold pending
   * means our group state is not the room's: join again with a fresh leaf.
   */
  private async ownDelivery(f: DeliverFrame): Promise<void> {
    if (f.kind === DeliveryKind.APP) return void this.outbox.ackedByData(f.data);
    const p = this.membership.pending;
    if (p?.kind === 'remove' && equalBytes(p.message, f.data)) return this.onAck(p.reqId);
    return this.dispatch({ type: 'removed-self' });
  }

  /**
   * A void commit (docs/PROTOCOL.md §4.3): whether it re-founded the room (the first commit, whose
   * GroupInfo is foreign to us) or is framed for another MLS epoch than ours; the machine decides.
   */
  private async voidCommit(f: DeliverFrame, e: unknown): Promise<void> {
    const mls = this.mls!;
    const foreign =
      f.epoch === 0 &&
      this.slot !== undefined &&
      (await this.crypto.checkGroupInfo(mls, f.data, { nick: this.nick, slot: this.slot })) === 'foreign';
    const framed = framedEpoch(f.data);
    const outOfStep = framed !== undefined && framed !== BigInt(this.crypto.epochOf(mls));
    return this.dispatch({ type: 'commit-void', from: f.from, reason: voidReason(e), error: e, foreign, outOfStep });
  }

  /** Records a disruption by `slot` (the machine made it a culprit) and tells the app. */
  private disrupted(slot: number, reason: DisruptionReason): void {
    const m = this.memberList.find((x) => x.slot === slot && !x.self);
    this.emit('disruption', this.#ledger.record(slot, reason, m === undefined ? undefined : { nick: m.nick, key: toHex(m.identityKey) }));
  }

  protected peerGone(slot: number): Promise<void> {
    return this.dispatch({ type: 'member-gone', slot });
  }

  /**
   * A joiner never got the PEER_GONE of members that left before it joined (ghosts): it probes
   * every leaf it found with an empty DIRECT; NO_SUCH_PEER means the leaf departed (§4.3 "Departures").
   */
  private probeLeaves(): void {
    for (const m of this.memberList) {
      if (m.self) continue;
      const slot = m.slot;
      // Not sent once the leaf is gone from the tree (or already known to be gone).
      const target = (tried: ReadonlySet<number>) =>
        tried.has(slot) || this.membership.gone.has(slot) || !this.memberList.some((x) => x.slot === slot) ? undefined : slot;
      this.outbox
        .direct(target, () => Promise.resolve(new Uint8Array(0)), true)
        .catch((e: unknown) => {
          if (!(e instanceof ClientError) || e.relayCode !== 'NO_SUCH_PEER' || this.phase !== 'joined') return;
          this.advance({ type: 'probe-failed', slot }); // recorded at once; no effects
          this.run(() => this.dispatch({ type: 'removal-check' }));
        });
    }
  }

  /** Commits the removal of `members` (none: a self-update) at the relay's commit count `commits`; applied on ACK. */
  private async commitRemoval(members: Member[], commits: RelayEpoch): Promise<void> {
    const out = await this.crypto.remove(
      this.mls!,
      members.map((m) => m.leaf),
    );
    const room = this.crypto.locator;
    const reqId = this.link.request(this, (r) => ({
      type: 'COMMIT',
      reqId: r,
      room,
      epoch: commits,
      commit: out.message,
      groupInfo: out.groupInfo,
    }));
    return this.dispatch({
      type: 'commit-sent',
      pending: { kind: 'remove', reqId, state: out.state, removed: members, consumed: out.consumed, message: out.message },
    });
  }

  /** Leaves our current leaf behind and joins again with a fresh one (peers remove the old one on PEER_GONE). */
  private rejoinFresh(): void {
    this.link.request(this, (reqId) => ({ type: 'LEAVE', reqId, room: this.crypto.locator }));
    this.restart(true);
  }

  // ---- who is in the room, and how far we trust them ----

  /** Current members (from the MLS ratchet tree), you included. */
  members(): readonly Member[] {
    return this.memberList;
  }
  /** Our identity key (hex): files keep our own offers by it to take them up after a reload (RoomFiles.sentOffer). */
  selfIdentity(): string {
    return toHex(this.crypto.identity.publicKey);
  }

  /** Whether a member with this identity key (hex) is in the room now (files: is a file's sender still here). */
  hasMember(identity: string): boolean {
    return this.memberList.some((m) => toHex(m.identityKey) === identity);
  }

  /** The 60-digit safety number you share with a member (by nickname), or undefined if no such member. */
  safetyNumber(nick: string): string | undefined {
    const self = this.memberList.find((m) => m.self);
    const them = this.memberList.find((m) => !m.self && m.nick === nick);
    if (self === undefined || them === undefined) return undefined;
    return safetyNumber(self.identityKey, them.identityKey);
  }

  /** The room fingerprint of our current epoch (docs/PROTOCOL.md §8.1), or undefined until joined. */
  fingerprint(): RoomFingerprint | undefined {
    return this.mls === undefined ? undefined : this.crypto.fingerprint(this.mls);
  }

  /** Our profile in the room (slot and nickname), for credentials of groups made beside it (private chats). */
  profile(): { slot: number; nick: string } | undefined {
    return this.slot === undefined ? undefined : { slot: this.slot, nick: this.nick };
  }

  /** Whether the user verified this member's safety number, and whether its key changed since we first saw it. */
  trust(nick: string): { verified: boolean; changed: boolean } | undefined {
    return this.trusted.of(nick);
  }

  /** Marks a member's current key verified (after comparing safety numbers) or not; remembered by the key store. ClientError(NO_SUCH_MEMBER) for an unknown nickname. */
  setVerified(nick: string, verified: boolean): Promise<void> {
    return this.trusted.setVerified(nick, verified);
  }
}
