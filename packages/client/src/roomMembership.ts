/**
 * The group side of a room (docs/PROTOCOL.md §4.3): joining (CREATE, external commit, re-founding,
 * waiting for a repair), commits of others (void ones included), repairs, removals, self-updates,
 * leaf probes and GroupInfo checks. It carries out what membership.ts decides, on the room's
 * serial queue (roomBase.ts); Room (room.ts) extends it with the public API and application messages.
 */
import {
  type DeliverFrame,
  DeliveryKind,
  type GroupStateFrame,
  GroupStatus,
  type RelayEpoch,
  type ReqId,
  asEpoch,
  errorMessageOf,
  errorNameOf,
} from '@nullroom/protocol';
import { type Member, type RoomState, CryptoError, framedEpoch, nickKey, uniqueNick, wipe } from '@nullroom/crypto';
import { ClientError } from './errors.js';
import { toHex } from './encoding.js';
import { RoomBase } from './roomBase.js';
import {
  DisruptionLedger,
  addSlot,
  checksGroupInfo,
  decideBadGroupInfo,
  decideJoinRefusal,
  decideRemoval,
  selfUpdateDelay,
  voidCode,
  voidReason,
} from './membership.js';
import type { DisruptionReason } from './roomTypes.js';

/** A commit of ours in flight: applied on ACK. */
type Pending =
  | { kind: 'create'; reqId: ReqId; state: RoomState; commits: RelayEpoch }
  | { kind: 'join'; reqId: ReqId; state: RoomState; commits: RelayEpoch; nick: string }
  | { kind: 'remove'; reqId: ReqId; state: RoomState; removed: Member[]; consumed: Uint8Array[] };

/** After a refused repair or removal commit (RATE_LIMITED): about the relay's default commit interval (§4.1). */
const COMMIT_BACKOFF_MS = 2000;
/** After a refused SYNC (RATE_LIMITED). */
const SYNC_BACKOFF_MS = 1000;

export abstract class RoomMembership extends RoomBase {
  #pending: Pending | undefined;
  #joinAttempts = 0;
  readonly #gone = new Set<number>();
  /** Slots that disrupted the room: removed by the next repair if members. */
  readonly #culprits = new Set<number>();
  /** The relay stores a GroupInfo joiners cannot use (after a void commit): commit a repair. */
  #repairNeeded = false;
  /** A SYNC we sent to check the relay's GroupInfo (§4.3), and why: its GROUP_STATE answers it. */
  #giCheck: { why: 'after-commit' | 'out-of-step'; culprit: number; reason: DisruptionReason } | undefined;
  /** Lives as long as the Room: counts survive rejoins. */
  readonly #ledger = new DisruptionLedger();
  /** Joining: when the relay's GroupInfo first failed us, and the retries since. */
  #badInfoSince: number | undefined;
  #badInfoAttempts = 0;
  #removalTimer: ReturnType<typeof setTimeout> | undefined;
  #updateTimer: ReturnType<typeof setTimeout> | undefined;

  protected override commitInFlight(): boolean {
    return this.#pending !== undefined;
  }

  protected override resetGroup(): void {
    this.#pending = undefined;
    this.#joinAttempts = 0;
    this.#gone.clear();
    this.#culprits.clear();
    this.#repairNeeded = false;
    this.#giCheck = undefined;
    this.#badInfoSince = undefined;
    this.#badInfoAttempts = 0;
    this.#removalTimer = this.#updateTimer = undefined; // cleared with the stay's timers
  }

  /** Reads an application message (Room). */
  protected abstract onAppDeliver(f: DeliverFrame): Promise<void>;

  private joinFailed(why: string, cause: unknown, relayCode?: string): ClientError {
    return new ClientError('JOIN_FAILED', why, relayCode === undefined ? { cause } : { cause, relayCode });
  }

  protected async onGroupState(f: GroupStateFrame): Promise<void> {
    if (this.phase === 'joined') return this.onSyncAnswer(f);
    if (this.phase !== 'joining' || this.slot === undefined || this.#pending !== undefined) return;
    if (f.status === GroupStatus.WAIT) return;
    if (f.status === GroupStatus.CREATE) return this.found(f.epoch, false);
    // READY: join through an external commit.
    let out, nick;
    try {
      const snapshot = await this.crypto.readGroupInfo(f.groupInfo);
      this.crypto = await this.crypto.withSuite(snapshot.suite);
      nick = this.requestedNick;
      out = await this.crypto.joinExternal(snapshot, { nick, slot: this.slot });
      // docs/PROTOCOL.md §3.5: unique by nickKey among every leaf but our new one (our own old leaf,
      // still there after a reconnect, counts too: members would list us twice otherwise).
      const others = (await this.crypto.members(out.state)).filter((m) => !m.self);
      nick = uniqueNick(this.requestedNick, new Set(others.map((m) => nickKey(m.nick))));
      if (nick !== this.requestedNick) out = await this.crypto.joinExternal(snapshot, { nick, slot: this.slot });
    } catch (e) {
      return this.retryBadGroupInfo(e, f);
    }
    this.#badInfoSince = undefined;
    this.#badInfoAttempts = 0;
    const commits = f.epoch;
    const { message, groupInfo, state } = out;
    const reqId = this.link.request(this, (reqId) => ({
      type: 'COMMIT',
      reqId,
      room: this.crypto.locator,
      epoch: commits,
      commit: message,
      groupInfo,
    }));
    this.#pending = { kind: 'join', reqId, state, commits: asEpoch(commits + 1), nick };
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
      return this.failJoin(this.joinFailed('the group could not be created', e));
    }
    const { state, groupInfo } = made;
    const room = this.crypto.locator;
    const reqId = refound
      ? this.link.request(this, (r) => ({ type: 'COMMIT', reqId: r, room, epoch: commits, commit: groupInfo, groupInfo }))
      : this.link.request(this, (r) => ({ type: 'CREATE', reqId: r, room, groupInfo }));
    this.#pending = { kind: 'create', reqId, state, commits: asEpoch(refound ? commits + 1 : 0) };
  }

  /**
   * Answer to a SYNC while joined: after a lost commit race (learn the relay's commit count,
   * then retry removals), or to check the GroupInfo the relay stores for joiners (§4.3).
   */
  private async onSyncAnswer(f: GroupStateFrame): Promise<void> {
    const check = this.#giCheck;
    this.#giCheck = undefined;
    const current = f.epoch === this.relayCommits; // no commit reached us since: the GroupInfo is the latest one
    this.relayCommits = f.epoch;
    if (check !== undefined && current && f.status === GroupStatus.READY && this.mls !== undefined && this.slot !== undefined) {
      // After a valid commit only "is it ours?" matters (cheap); out of step, also "is it joinable?".
      const verdict =
        check.why === 'after-commit'
          ? (await this.crypto.groupInfoMatches(this.mls, f.groupInfo))
            ? 'ours'
            : 'bad'
          : await this.crypto.checkGroupInfo(this.mls, f.groupInfo, { nick: this.nick, slot: this.slot });
      if (check.why === 'out-of-step') {
        // If the relay holds a joinable GroupInfo of our group in another state, we are the ones out of step: rejoin.
        if (verdict === 'other') return this.rejoinFresh();
        this.disrupted(check.culprit, check.reason); // otherwise it was a disruption after all
        this.#repairNeeded = true;
      } else if (verdict !== 'ours') {
        this.report('BAD_GROUP_INFO', new ClientError('BAD_GROUP_INFO', 'the relay holds group information joiners cannot use: repairing'));
        this.disrupted(check.culprit, 'bad-group-info');
        this.#repairNeeded = true;
      }
    }
    return this.scheduleRemovals(false);
  }

  /** The relay's GroupInfo does not open or cannot be joined through: wait for a repair, re-found, or give up (membership.ts). */
  private async retryBadGroupInfo(e: unknown, f: GroupStateFrame): Promise<void> {
    const now = Date.now();
    this.#badInfoSince ??= now;
    const since = this.#badInfoSince;
    const opens = f.epoch !== 0 || (now - since < this.timings.badGroupInfoWaitMs && (await this.crypto.groupInfoOpens(f.groupInfo)));
    const d = decideBadGroupInfo(
      { now, since, attempts: this.#badInfoAttempts, commits: f.epoch, opens, random: Math.random() },
      this.timings.badGroupInfoWaitMs,
    );
    if (d.kind === 'fail') return this.failJoin(this.joinFailed(e instanceof Error ? e.message : 'join failed', e));
    this.report('BAD_GROUP_INFO', e);
    this.emit('repair-wait', { since });
    if (!d.refound) this.#badInfoAttempts++;
    this.after(d.delayMs, () => {
      if (this.phase !== 'joining' || this.#pending !== undefined || this.slot === undefined) return;
      // A lost re-founding race (STALE_EPOCH) SYNCs and joins the winner's group.
      return d.refound ? this.found(f.epoch, true) : this.requestSync();
    });
  }

  protected async onAck(reqId: ReqId): Promise<void> {
    if (this.leaveAck !== undefined && this.#pending?.reqId !== reqId && !this.outbox.owns(reqId)) {
      this.outbox.wasAbandoned(reqId);
      return this.leaveAck();
    }
    const p = this.#pending;
    if (p === undefined || p.reqId !== reqId) {
      this.outbox.acked(reqId);
      return;
    }
    this.#pending = undefined;
    this.mls = p.state;
    if (p.kind === 'remove') {
      wipe(p.consumed); // accepted: the old epoch's secrets are no longer needed
      this.relayCommits = asEpoch(this.relayCommits + 1);
      this.#repairNeeded = false; // our commit stored a GroupInfo of our new state
      this.memberList = await this.crypto.members(p.state);
      for (const m of p.removed) this.emit('member-left', { nick: m.nick });
    } else await this.joined(p);
    await this.scheduleRemovals(false);
    return this.outbox.pump();
  }

  private async joined(p: Extract<Pending, { kind: 'create' | 'join' }>): Promise<void> {
    this.relayCommits = p.commits;
    this.named(p.kind === 'join' ? p.nick : this.nick, p.kind === 'create');
    this.memberList = await this.crypto.members(p.state);
    await this.trusted.check(this.memberList);
    this.setPhase('joined');
    this.scheduleSelfUpdate();
    if (p.kind === 'join') this.probeLeaves();
    this.emit('joined', { created: this.created, nick: this.nick, members: this.memberList.map((m) => m.nick), rejoin: this.rejoin });
    for (const w of this.joinWaiters.splice(0)) w.resolve();
  }

  protected async onError(reqId: ReqId, code: number): Promise<void> {
    const name = errorNameOf(code) ?? `code ${code}`;
    if (this.outbox.wasAbandoned(reqId)) return;
    if (this.wasSync(reqId)) {
      // A refused SYNC: over the relay's frame rate, ask again a little later; anything else
      // (NOT_IN_ROOM for the stay we just left) needs no answer.
      if (name === 'RATE_LIMITED') this.after(SYNC_BACKOFF_MS * (0.75 + Math.random() * 0.5), () => this.requestSync());
      return;
    }
    if (this.ticket.refused(reqId, name)) return;
    const p = this.#pending;
    if (p !== undefined && p.reqId === reqId) return this.commitRefused(p, name);
    if (this.outbox.refusedFrame(reqId, name)) return;
    // The JOIN itself was refused (ROOM_FULL, TOO_MANY_NEW_ROOMS, ADDRESS_LIMIT, ...): fail the join with the relay's reason.
    if (this.phase === 'joining' && this.slot === undefined) {
      // Only the JOIN's own refusal: after `rejoinFresh` (LEAVE, then JOIN on the same connection) a
      // SYNC or message of the stay we left can still be answered NOT_IN_ROOM; that is no refusal.
      if (reqId !== this.joinReq) return;
      const known = errorNameOf(code);
      const why = known === undefined ? name : `${name}: ${errorMessageOf(known)}`;
      return this.failJoin(this.joinFailed(`the relay refused to join (${why})`, undefined, name));
    }
    if (name === 'NOT_IN_ROOM' && this.leaveAck !== undefined) return this.leaveAck();
    this.report('RELAY_ERROR', new ClientError('RELAY_ERROR', `the relay reported: ${name}`), name);
  }

  private commitRefused(p: Pending, name: string): void {
    this.#pending = undefined;
    if (p.kind === 'remove') {
      // Over the relay's commit rate (§4.1): look again once a token is back. Else lost the race:
      // someone else committed first; learn the relay's commit count and look again.
      if (name === 'RATE_LIMITED') this.after(COMMIT_BACKOFF_MS * (0.75 + Math.random() * 0.5), () => this.requestSync());
      else this.requestSync();
      return;
    }
    const d = decideJoinRefusal(name, this.#joinAttempts, this.timings.maxJoinAttempts, Math.random());
    if (d.kind === 'fail') {
      const err = new ClientError('RELAY_ERROR', `the relay refused: ${name}`, { relayCode: name });
      return this.failJoin(
        d.why === 'lost-races'
          ? this.joinFailed('gave up after repeated lost races', err, name)
          : this.joinFailed(`the relay refused to join: ${name}`, err, name),
      );
    }
    this.#joinAttempts++;
    // Not a sleep on the queue: other frames go on while we wait.
    this.after(d.delayMs, () => this.requestSync());
  }

  protected async onDeliver(f: DeliverFrame): Promise<void> {
    if (this.phase !== 'joined' || this.mls === undefined) return; // traffic from before we joined: not ours to read
    if (f.kind !== DeliveryKind.COMMIT) return this.onAppDeliver(f);
    this.relayCommits = asEpoch(f.epoch + 1);
    // This commit stored its own GroupInfo: an answer to a check we sent for an earlier one would
    // describe this commit's, and blame the wrong member. Processing it may start a new check.
    this.#giCheck = undefined;
    // Our unacknowledged messages were sequenced after this commit: re-sent in the new epoch.
    this.outbox.commitSequenced(this.relayCommits);
    if (this.#pending?.kind === 'remove') {
      // Ours lost the race: its STALE_EPOCH follows and is expected. Look again once this one is applied.
      this.outbox.abandon(this.#pending.reqId);
      this.#pending = undefined;
    }
    let r;
    try {
      r = await this.crypto.process(this.mls, f.data, f.from);
      if (r.kind !== 'commit') throw new CryptoError('BAD_MESSAGE', 'an application message was delivered as a commit');
    } catch (e) {
      return this.voidCommit(f, e);
    }
    this.mls = r.state;
    if (r.removedSelf) return this.rejoinFresh();
    this.#repairNeeded = false; // a valid commit stored a new GroupInfo (checked below)
    this.memberList = await this.crypto.members(r.state);
    for (const m of r.removed) this.emit('member-left', { nick: m.nick });
    for (const m of r.added) this.emit('member-joined', { nick: m.nick });
    await this.trusted.check(this.memberList);
    if (checksGroupInfo(this.view(), f.from)) {
      this.#giCheck = { why: 'after-commit', culprit: f.from, reason: 'bad-group-info' };
      this.requestSync();
    }
    await this.scheduleRemovals(false);
    return this.outbox.pump();
  }

  /**
   * A void commit (docs/PROTOCOL.md §4.3): we keep our MLS state (only the relay's commit count
   * moved), name the culprit, and repair. One framed for another MLS epoch than ours may mean that
   * we are the ones out of step: check the relay's GroupInfo first.
   */
  private async voidCommit(f: DeliverFrame, e: unknown): Promise<void> {
    const reason = voidReason(e);
    this.report(voidCode[reason], e);
    if (f.epoch === 0 && this.slot !== undefined) {
      // The first commit of the room may be a re-founding (§4.3): if so, we (the creator) join the new group.
      if ((await this.crypto.checkGroupInfo(this.mls!, f.data, { nick: this.nick, slot: this.slot })) === 'foreign')
        return this.rejoinFresh();
    }
    const framed = framedEpoch(f.data);
    if (framed !== undefined && framed !== BigInt(this.crypto.epochOf(this.mls!))) {
      this.#giCheck = { why: 'out-of-step', culprit: f.from, reason };
      this.requestSync();
      return this.outbox.pump();
    }
    this.disrupted(f.from, reason);
    this.#repairNeeded = true;
    await this.scheduleRemovals(false);
    return this.outbox.pump();
  }

  /** Records a disruption by `slot` (removed by the next repair if it is a member) and tells the app. */
  private disrupted(slot: number, reason: DisruptionReason): void {
    addSlot(this.#culprits, slot);
    const m = this.memberList.find((x) => x.slot === slot && !x.self);
    this.emit('disruption', this.#ledger.record(slot, reason, m === undefined ? undefined : { nick: m.nick, key: toHex(m.identityKey) }));
  }

  private view() {
    return { members: this.memberList, gone: this.#gone, culprits: this.#culprits, repairNeeded: this.#repairNeeded };
  }

  protected peerGone(slot: number): Promise<void> {
    addSlot(this.#gone, slot);
    return this.scheduleRemovals(false);
  }

  private scheduleSelfUpdate(): void {
    if (this.#updateTimer !== undefined) clearTimeout(this.#updateTimer);
    this.#updateTimer = this.after(selfUpdateDelay(this.timings, this.memberList.length, Math.random()), async () => {
      this.#updateTimer = undefined;
      if (this.phase !== 'joined' || this.mls === undefined) return;
      this.scheduleSelfUpdate();
      if (this.#pending !== undefined) return; // a commit of ours is in flight already
      await this.commitRemoval([]);
    });
  }

  /** Removes departed members and culprits (or repairs), at once or after the grace period (membership.ts). */
  private async scheduleRemovals(force: boolean): Promise<void> {
    if (this.phase !== 'joined' || this.mls === undefined || this.#pending !== undefined) return;
    const d = decideRemoval(this.view(), force);
    if (d.kind === 'commit') return this.commitRemoval(d.targets);
    if (d.kind === 'grace' && this.#removalTimer === undefined) {
      const grace = this.timings.removalGraceMs;
      this.#removalTimer = this.after(grace + Math.random() * grace, () => {
        this.#removalTimer = undefined;
        return this.scheduleRemovals(true);
      });
    }
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
        tried.has(slot) || this.#gone.has(slot) || !this.memberList.some((x) => x.slot === slot) ? undefined : slot;
      this.outbox
        .direct(target, () => Promise.resolve(new Uint8Array(0)), true)
        .catch((e: unknown) => {
          if (!(e instanceof ClientError) || e.relayCode !== 'NO_SUCH_PEER' || this.phase !== 'joined') return;
          addSlot(this.#gone, slot);
          this.run(() => this.scheduleRemovals(false));
        });
    }
  }

  /** Commits the removal of `members` (none: a self-update) for the relay's current sequence number; applied on ACK. */
  private async commitRemoval(members: Member[]): Promise<void> {
    const out = await this.crypto.remove(
      this.mls!,
      members.map((m) => m.leaf),
    );
    const commits = this.relayCommits;
    const reqId = this.link.request(this, (r) => ({
      type: 'COMMIT',
      reqId: r,
      room: this.crypto.locator,
      epoch: commits,
      commit: out.message,
      groupInfo: out.groupInfo,
    }));
    this.#pending = { kind: 'remove', reqId, state: out.state, removed: members, consumed: out.consumed };
  }

  /** Leaves our current leaf behind and joins again with a fresh one (peers remove the old one on PEER_GONE). */
  private rejoinFresh(): void {
    this.link.request(this, (reqId) => ({ type: 'LEAVE', reqId, room: this.crypto.locator }));
    this.restart(true);
  }
}
