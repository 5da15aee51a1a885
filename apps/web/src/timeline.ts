/**
 * What a room's timeline holds, as the UI renders it: lines (messages, files, notices) and where
 * each of our own messages is (its delivery). Plain types, imported one way by the session
 * (session.ts), the disruption lines (disruptions.ts) and the views (ui/*). A sender's `seed` is
 * their identity key as hex when the line arrived (their avatar, ui/Avatar.tsx).
 */
import type { IncomingFile, Reaction, SavedOffer, Transfer, TransferProgress } from '@nullroom/client';
import type { Received } from './browserFiles.js';

/** A file in the conversation, sent or offered; mutated as its transfer moves (the session re-renders). */
export interface FileView {
  name: string;
  size: number;
  mime: string;
  direction: 'send' | 'receive';
  /** `unavailable`: its sender left before sending it completely, the relay no longer holds it (FILE_UNAVAILABLE), or it was kept in history past a reload (history.ts). */
  state: 'offered' | 'active' | 'done' | 'failed' | 'cancelled' | 'unavailable';
  /** Shown again from history after a reload: its bytes were not kept (history.ts). */
  afterReload?: true;
  /** In history only: the offer kept to fetch it again after a reload (history.ts, RoomFiles.adopt; it holds the file key, sealed at rest). */
  offer?: SavedOffer;
  /** Received before a reload, its bytes not kept: offered again to fetch again. */
  again?: true;
  /** data: URL of the preview that came inside the MLS message (only if its bytes are the image type it names). */
  thumb?: string;
  /** The preview's size in pixels (the image's shape, known before its bytes decode). */
  thumbSize?: { w: number; h: number };
  progress?: TransferProgress;
  /** The verified file: typed by its bytes, never by its sender (browserFiles.ts, Received). */
  received?: Received;
  error?: string;
  transfer?: Transfer;
  incoming?: IncomingFile;
  /** Saved as a download once verified (the user clicked Download: one click from offer to file). */
  saveWhenDone?: boolean;
}

/**
 * Where one of our own messages is: queued until the relay acknowledges it (`pending`), acknowledged
 * (`sent`: the relay has it and relays it to the room), or lost because the room was left first (`failed`).
 */
export type Delivery = 'pending' | 'sent' | 'failed';

export type Line =
  | {
      key: number;
      kind: 'message';
      from: string;
      text: string;
      ts: number;
      self: boolean;
      delivery?: Delivery;
      seed?: string | undefined;
      /** A room message of ours reported unsent that the SDK can send again (`RoomSession.retry`). */
      retryId?: string;
      /** The message's id (its payload's): what replies, reactions, edits and deletes name (messageActions.ts), and how a message read again after a reload is shown once. */
      id?: string;
      /** The id of the message this one answers (its quote comes from the SDK's log). */
      replyTo?: string;
      /** Its sender edited it (`text` is the latest). */
      edited?: boolean;
      /** Its sender deleted it (`text` is empty). */
      deleted?: boolean;
      reactions?: Reaction[];
    }
  | { key: number; kind: 'file'; from: string; ts: number; self: boolean; file: FileView; seed?: string | undefined }
  | { key: number; kind: 'notice' | 'warning' | 'error'; i18n: string; params: Record<string, string | number>; ts: number };
export type MessageLine = Extract<Line, { kind: 'message' }>;
