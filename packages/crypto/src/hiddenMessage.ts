/**
 * Hidden private messages (issue #14; docs/PROTOCOL.md §5.2 "Routing", docs/SECURITY.md §8): a
 * private chat's PrivateMessage P, carried in the room's stream as an outer PrivateMessage O that
 * has the shape of a room application message of the room's current epoch, so that the relay sees
 * what it sees of any room message, while the room's other members find out it is not theirs by
 * opening O's SenderData alone (no signature, no content decryption, no ratchet step).
 *
 *   O.group_id = the room group's id      O.epoch = the room's epoch      O.content_type = application
 *   O.authenticated_data = empty          O.ciphertext = P.encrypted_sender_data || P.ciphertext
 *   O.encrypted_sender_data = the room's SenderData AEAD (RFC 9420 §6.3.2, AAD: O's SenderDataAAD)
 *     over SenderData { leaf_index = 0xFFFFFFFF (HIDDEN_LEAF), generation = random, reuse_guard = random }
 *
 * P's group id and epoch are not sent: the chat's members know them, and find the chat a message
 * belongs to by opening P's SenderData under each chat's sender_data_secret. P's own encryption and
 * signature (the chat group's) are unchanged: the chat authenticates the message, as for `direct`.
 */
import {
  type ClientState,
  type CiphersuiteImpl,
  type PrivateMessage,
  contentTypes,
  encode,
  mlsMessageEncoder,
  protocolVersions,
  wireformats,
} from 'ts-mls';
import { concat, randomBytes } from './bytes.js';
import { CryptoError } from './errors.js';
import { MAX_MLS_MESSAGE_BYTES, decodeMlsMessage } from './mlsMessage.js';
import { type RatchetTree, leafAt } from './mlsGroup.js';
import { SEALED_SENDER_DATA_BYTES, readSenderData, sealSenderData } from './senderData.js';

/** The leaf index O's SenderData names: no leaf has it (a tree of 2^32 leaves cannot exist), so no member's message can. */
export const HIDDEN_LEAF = 0xffffffff;

/** What a hidden message carries of the chat's PrivateMessage: all but its group id, epoch and (empty) authenticated data. */
export interface HiddenMessage {
  readonly encryptedSenderData: Uint8Array;
  readonly ciphertext: Uint8Array;
}

const EMPTY = new Uint8Array(0);

/** The sender_data_secret and tree of `epoch` in `state`: the current epoch's, or a past one ts-mls keeps for late messages. */
function epochData(state: ClientState, epoch: bigint): { secret: Uint8Array; tree: RatchetTree } | undefined {
  if (epoch === state.groupContext.epoch) return { secret: state.keySchedule.senderDataSecret, tree: state.ratchetTree };
  const past = state.historicalReceiverData.get(epoch);
  return past === undefined ? undefined : { secret: past.senderDataSecret, tree: past.ratchetTree };
}

/** The MLSMessage bytes of a PrivateMessage. */
function encodePrivate(privateMessage: PrivateMessage): Uint8Array {
  return encode(mlsMessageEncoder, { wireformat: wireformats.mls_private_message, version: protocolVersions.mls10, privateMessage });
}

/**
 * O for the chat's message `inner` (an MLSMessage, a PrivateMessage of application content with no
 * authenticated data, as our chats make them), under the room state `room`'s group, epoch and
 * sender_data_secret. Nothing of `room` changes (no message key is used).
 */
export async function wrapHidden(cs: CiphersuiteImpl, room: ClientState, inner: Uint8Array): Promise<Uint8Array> {
  const p = decodeMlsMessage(inner, [wireformats.mls_private_message])?.privateMessage;
  if (
    p === undefined ||
    p.contentType !== contentTypes.application ||
    p.authenticatedData.byteLength !== 0 ||
    p.encryptedSenderData.byteLength !== SEALED_SENDER_DATA_BYTES
  ) {
    throw new CryptoError('BAD_MESSAGE', 'only a private chat application message without authenticated data can be hidden');
  }
  const framing = { groupId: room.groupContext.groupId, epoch: room.groupContext.epoch, contentType: contentTypes.application };
  const ciphertext = concat(p.encryptedSenderData, p.ciphertext);
  const g = randomBytes(4);
  const generation = ((g[0]! << 24) | (g[1]! << 16) | (g[2]! << 8) | g[3]!) >>> 0;
  const sd = { leafIndex: HIDDEN_LEAF, generation, reuseGuard: randomBytes(4) };
  const encryptedSenderData = await sealSenderData(cs, room.keySchedule.senderDataSecret, framing, ciphertext, sd);
  const out = encodePrivate({ ...framing, authenticatedData: EMPTY, encryptedSenderData, ciphertext });
  if (out.byteLength > MAX_MLS_MESSAGE_BYTES) throw new CryptoError('BAD_MESSAGE', 'the hidden message is too large for a frame');
  return out;
}

/**
 * The leaf index in a PrivateMessage's SenderData, opened under the sender_data_secret of its epoch
 * in `state` (HIDDEN_LEAF for a hidden private message), and whether the tree of that epoch has a
 * member there; undefined when that epoch is not kept or the SenderData does not open.
 *
 * Checked before ts-mls processes a message: handed a leaf index far beyond the tree (such as
 * HIDDEN_LEAF), its processMessage grows an array to that size and V8 aborts the whole process
 * ("invalid size error"), which no try/catch stops (test/hiddenMessage.test.ts shows it).
 */
export async function senderLeafOf(
  cs: CiphersuiteImpl,
  state: ClientState,
  pm: PrivateMessage,
): Promise<{ leaf: number; member: boolean } | undefined> {
  const e = epochData(state, pm.epoch);
  // A member's message goes to ts-mls next, which derives the same SenderData key and nonce: kept for it (senderData.ts).
  const sd = e === undefined ? undefined : await readSenderData(cs, e.secret, pm, false, (s) => leafAt(e.tree, s.leafIndex) !== undefined);
  if (e === undefined || sd === undefined) return undefined;
  return { leaf: sd.leafIndex, member: leafAt(e.tree, sd.leafIndex) !== undefined };
}

/** What O carries of P: undefined when O's ciphertext cannot hold a SenderData and a content (a forgery). */
export function hiddenParts(pm: PrivateMessage): HiddenMessage | undefined {
  if (pm.authenticatedData.byteLength !== 0 || pm.ciphertext.byteLength <= SEALED_SENDER_DATA_BYTES) return undefined;
  return {
    encryptedSenderData: pm.ciphertext.subarray(0, SEALED_SENDER_DATA_BYTES),
    ciphertext: pm.ciphertext.subarray(SEALED_SENDER_DATA_BYTES),
  };
}

/**
 * P rebuilt with a chat's group id and an epoch it keeps (the current one first), if P's SenderData
 * opens under that epoch's sender_data_secret (RFC 9420 §6.3.2): the MLSMessage for the chat to
 * process (which authenticates it). Undefined: not a message of this chat.
 */
export async function openHidden(cs: CiphersuiteImpl, chat: ClientState, hidden: HiddenMessage): Promise<Uint8Array | undefined> {
  const epochs = [chat.groupContext.epoch, ...[...chat.historicalReceiverData.keys()].sort((a, b) => (a < b ? 1 : a > b ? -1 : 0))];
  for (const epoch of epochs) {
    const secret = epochData(chat, epoch)?.secret;
    if (secret === undefined) continue;
    const pm: PrivateMessage = {
      groupId: chat.groupContext.groupId,
      epoch,
      contentType: contentTypes.application,
      authenticatedData: EMPTY,
      encryptedSenderData: hidden.encryptedSenderData,
      ciphertext: hidden.ciphertext,
    };
    if ((await readSenderData(cs, secret, pm)) !== undefined) return encodePrivate(pm);
  }
  return undefined;
}
