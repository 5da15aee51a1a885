/**
 * The GroupInfo the relay stores for joiners (docs/PROTOCOL.md §3.2): sealed under the room's
 * gi_key, opened and strictly decoded by joiners, and checked by members against their own state
 * (§4.3, "GroupInfo check").
 */
import {
  type ClientState,
  type CiphersuiteImpl,
  type GroupInfo,
  ciphersuites,
  createGroupInfoWithExternalPubAndRatchetTree,
  encode,
  mlsMessageEncoder,
  protocolVersions,
  wireformats,
} from 'ts-mls';
import { concat, equalBytes, utf8 } from './bytes.js';
import { signContent } from './_mlsCodec.js';
import { CryptoError } from './errors.js';
import { leafAt } from './mlsGroup.js';
import { decodeMlsMessage } from './mlsMessage.js';
import type { RoomKeys } from './roomSecret.js';
import { open, seal } from './sealed.js';
import { type SuiteName, Suites } from './suite.js';

/** An opened GroupInfo: what a joiner joins through. */
export interface GroupSnapshot {
  readonly info: GroupInfo;
  readonly suite: SuiteName;
  readonly epoch: number;
}

const GI_LABEL = utf8.encode('nullroom/v1/group-info');
const suiteById = new Map<number, SuiteName>(Object.values(Suites).map((n) => [ciphersuites[n], n]));
const aadFor = (keys: RoomKeys) => concat(GI_LABEL, keys.locator);

const encodeGroupInfo = (groupInfo: GroupInfo) =>
  encode(mlsMessageEncoder, { wireformat: wireformats.mls_group_info, version: protocolVersions.mls10, groupInfo });

/** The GroupInfo of `state`'s epoch with the `external_pub` and `ratchet_tree` extensions (RFC 9420 §12.4.3), sealed (§3.1). */
export async function sealGroupInfo(impl: CiphersuiteImpl, keys: RoomKeys, state: ClientState): Promise<Uint8Array> {
  const gi = await createGroupInfoWithExternalPubAndRatchetTree(state, [], impl);
  return seal(keys.groupInfoKey, encodeGroupInfo(gi), aadFor(keys));
}

/** Whether a sealed GroupInfo opens with this room's secret and decodes strictly as an MLS GroupInfo (nothing more is checked). */
export async function groupInfoOpens(keys: RoomKeys, sealed: Uint8Array): Promise<boolean> {
  const bytes = await open(keys.groupInfoKey, sealed, aadFor(keys));
  return bytes !== undefined && decodeMlsMessage(bytes, [wireformats.mls_group_info]) !== undefined;
}

/** Opens a sealed GroupInfo (BAD_GROUP_INFO when it does not open, decode strictly, or name a suite we offer). */
export async function readGroupInfo(keys: RoomKeys, sealed: Uint8Array): Promise<GroupSnapshot> {
  const bytes = await open(keys.groupInfoKey, sealed, aadFor(keys));
  if (bytes === undefined) throw new CryptoError('BAD_GROUP_INFO', 'the group information does not open with this room secret');
  const msg = decodeMlsMessage(bytes, [wireformats.mls_group_info]);
  if (msg === undefined) throw new CryptoError('BAD_GROUP_INFO', 'the group information is malformed');
  const suite = suiteById.get(msg.groupInfo.groupContext.cipherSuite);
  if (suite === undefined) throw new CryptoError('BAD_GROUP_INFO', 'the group uses a cipher suite we do not offer');
  const info = msg.groupInfo;
  return { info, suite, epoch: Number(info.groupContext.epoch) };
}

/**
 * Whether a sealed GroupInfo is a correct one for `state` (docs/PROTOCOL.md §4.3, "GroupInfo
 * check"): it opens and decodes strictly, and is byte for byte the GroupInfo we would publish
 * ourselves (group context, extensions `external_pub` and `ratchet_tree`, confirmation tag; RFC
 * 9420 §12.4.3) except for its signer, whose leaf in our tree signed it (RFC 9420 §12.4.3:
 * SignWithLabel(., "GroupInfoTBS", GroupInfoTBS)). Our tree was validated when we joined and at
 * every commit, so a joiner can join through such a GroupInfo. Cheap: one signature and one
 * encoding, not the tree validation of a dry-run join (seconds at 1000 members).
 */
export async function groupInfoMatches(
  impl: CiphersuiteImpl,
  keys: RoomKeys,
  suite: SuiteName,
  state: ClientState,
  sealed: Uint8Array,
): Promise<boolean> {
  let info: GroupInfo;
  try {
    const snapshot = await readGroupInfo(keys, sealed);
    if (snapshot.suite !== suite) return false;
    info = snapshot.info;
  } catch {
    return false;
  }
  const unsigned = (gi: GroupInfo, signer: number) => encodeGroupInfo({ ...gi, signer, signature: new Uint8Array(0) });
  const mine = await createGroupInfoWithExternalPubAndRatchetTree(state, [], impl);
  if (!equalBytes(unsigned(info, 0), unsigned(mine, 0))) return false;
  const signer = leafAt(state.ratchetTree, info.signer);
  if (signer === undefined) return false;
  // GroupInfoTBS = the GroupInfo without its signature: drop the MLSMessage header (version and
  // wireformat, 2 bytes each) and the empty signature vector (one length byte, 0).
  const withSigner = unsigned(info, info.signer);
  const tbs = withSigner.subarray(4, withSigner.byteLength - 1);
  return impl.signature.verify(signer.signaturePublicKey, signContent('GroupInfoTBS', tbs), info.signature);
}
