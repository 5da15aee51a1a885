/**
 * What a room's timeline holds, as the UI renders it: lines (messages, files, notices) and where
 * each of our own messages is (its delivery). Plain types, imported one way by the session
 * (session.ts), the disruption lines (disruptions.ts) and the views (ui/*). A sender's `seed` is
 * their identity key as hex when the line arrived (their avatar, ui/Avatar.tsx).
 */
import type { IncomingFile, Transfer, TransferProgress } from '@nullroom/client';
import type { Received } from './browserFiles.js';

/** A file in the conversation, sent or offered; mutated as its transfer moves (the session re-renders). */
export interface FileView {
  name: string;
  size: number;
  mime: string;
  direction: 'send' | 'receive';
  state: 'offered' | 'active' | 'done' | 'failed' | 'cancelled';
  /** data: URL of the preview that came inside the MLS message (only if its bytes are the image type it names). */
  thumb?: string;
  progress?: TransferProgress;
  /** The verified file: typed by its bytes, never by its sender (browserFiles.ts, Received). */
  received?: Received;
  error?: string;
  transfer?: Transfer;
  incoming?: IncomingFile;
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
    }
  | { key: number; kind: 'file'; from: string; ts: number; self: boolean; file: FileView; seed?: string | undefined }
  | { key: number; kind: 'notice' | 'warning' | 'error'; i18n: string; params: Record<string, string | number>; ts: number };
export type MessageLine = Extract<Line, { kind: 'message' }>;
