/**
 * What a room group accepts beyond MLS itself: the proposal policy (docs/PROTOCOL.md §3.4) and
 * Nullroom's room rules (§3.6), which every member checks on every commit so that every honest
 * member reaches the same verdict on the same bytes.
 */
import { type IncomingMessageCallback, defaultProposalTypes } from 'ts-mls';
import { equalBytes } from './bytes.js';
import { nickKey } from './credential.js';
import { CryptoError } from './errors.js';

/** Proposals we accept (RFC 9420 §12.2 leaves the policy to the application); see docs/SECURITY.md. */
export const acceptOnlyOurProposals: IncomingMessageCallback = (incoming) => {
  if (incoming.kind === 'proposal') return 'reject'; // we never send standalone proposals
  const allowed: number[] =
    incoming.senderLeafIndex === undefined
      ? [defaultProposalTypes.external_init] // a joiner's external commit: nothing else
      : [defaultProposalTypes.remove]; // a member's commit: removals of departed members only
  return incoming.proposals.every((p) => allowed.includes(p.proposal.proposalType)) ? 'accept' : 'reject';
};

/** What the rules read of a member (roomGroup.ts `Member`). */
export interface RuledMember {
  readonly leaf: number;
  readonly slot: number;
  readonly nick: string;
  readonly identityKey: Uint8Array;
}

/**
 * The room rules (docs/PROTOCOL.md §3.6), after MLS accepted a commit; `after` is the new member
 * list, `added` the leaves it did not have before (a changed signature key counts as added), `from`
 * the relay slot that sent the commit (DELIVER.from):
 *   1. an external commit adds exactly one leaf, and its credential's slot is `from`: no member can
 *      be added under a slot that is not its own connection (it would never be removed on PEER_GONE);
 *   2. its nickname key (nickKey) is held by no other leaf with another identity key;
 *   3. a member's commit adds no leaf and changes no leaf's signature key, hence no credential
 *      (our own commits keep the committer's leaf node credential and key).
 * Throws BROKEN_ROOM_RULE when one is broken.
 */
export function checkRoomRules(after: readonly RuledMember[], added: readonly RuledMember[], external: boolean, from: number): void {
  if (!external) {
    if (added.length > 0) throw new CryptoError('BROKEN_ROOM_RULE', 'a member commit changed a leaf credential');
    return;
  }
  const joiner = added[0];
  if (joiner === undefined || added.length !== 1)
    throw new CryptoError('BROKEN_ROOM_RULE', 'an external commit must add exactly one member');
  if (joiner.slot !== from) throw new CryptoError('BROKEN_ROOM_RULE', 'a joiner claims a relay slot that is not its own');
  const k = nickKey(joiner.nick);
  if (after.some((m) => m.leaf !== joiner.leaf && nickKey(m.nick) === k && !equalBytes(m.identityKey, joiner.identityKey))) {
    throw new CryptoError('BROKEN_ROOM_RULE', 'a joiner took a nickname another member holds');
  }
}
