/**
 * Where file offers travel (files.ts): a room (Room) or a private chat (PrivateChat).
 */
import type { FileCancelPayload, FileDonePayload, FilePayload } from './payload.js';
import type { PayloadRoutes } from './payloadRouter.js';

export type FileBody =
  | Omit<FilePayload, 'v' | 'id' | 'n' | 'ts'>
  | Omit<FileDonePayload, 'v' | 'id' | 'n' | 'ts'>
  | Omit<FileCancelPayload, 'v' | 'id' | 'n' | 'ts'>;

/**
 * Where file offers travel: a room (Room) or a private chat (PrivateChat). Both authenticate the
 * sender of what they deliver and encrypt what they send, so a file follows the conversation's
 * audience: a file sent in a private chat can be opened by its two members only.
 */
export interface FileChannelEvents {
  /** Someone (re)joined the conversation: they saw nothing sent while they were away. */
  'member-joined': { nick: string };
  /**
   * A member left (`identity`: its identity key, hex), or its connection was gone for good; a
   * private chat tells this when its peer left the room or the chat closed.
   */
  'member-left': { nick: string; identity: string };
  /** The conversation's connection state (a room's phase; a private chat tells its room's). */
  phase: { phase: 'joining' | 'joined' | 'reconnecting' | 'left' };
}
/** The payload types files register for with their channel's router (payloadRouter.ts). */
export type FilePayloadType = 'file' | 'file-done' | 'file-cancel';
export interface FileChannel extends PayloadRoutes<FilePayloadType> {
  /** Our nickname there. */
  readonly nick: string;
  sendPayload(body: FileBody): unknown;
  /**
   * An upload ticket for the relay's blob store (docs/PROTOCOL.md §9.1), granted to our connection
   * while it is in the room; given the one the relay just refused, a new one (after a reconnect).
   */
  blobTicket(refused?: string): Promise<string>;
  /** Whether a member with this identity key (hex) is in the conversation now (a private chat: its peer, while it is open). */
  hasMember(identity: string): boolean;
  /** Our identity key (hex): where it is told, our own finished offers are kept to save (RoomFiles.sentOffer). */
  selfIdentity?(): string;
  on<K extends keyof FileChannelEvents>(type: K, fn: (e: FileChannelEvents[K]) => void): () => void;
}
