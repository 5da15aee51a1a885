/**
 * Replies, reactions, edits, deletes and typing in the terminal (the SDK's everyday chat,
 * docs/PROTOCOL.md §5.4). Every room message printed, ours and others', gets a short number
 * (`#3`) that `/reply`, `/react`, `/edit` and `/delete` take; the SDK's message ids stay in the
 * JSON events. Numbers count up from 1 and the last MAX_REFS are kept.
 */
import type { PrivateChat, PrivateChats, Room } from '@nullroom/client';
import type { ChatEvent, QuoteRef } from './output.js';

const MAX_REFS = 1000;

export class MessageRefs {
  private next = 1;
  private readonly ids = new Map<number, string>();
  private readonly refs = new Map<string, number>();

  /** A number for message `id` (the one it has, if numbered already). */
  add(id: string): number {
    const had = this.refs.get(id);
    if (had !== undefined) return had;
    const ref = this.next++;
    this.ids.set(ref, id);
    this.refs.set(id, ref);
    if (this.ids.size > MAX_REFS) {
      const [oldRef, oldId] = this.ids.entries().next().value!;
      this.ids.delete(oldRef);
      this.refs.delete(oldId);
    }
    return ref;
  }

  id(ref: number): string | undefined {
    return this.ids.get(ref);
  }

  ref(id: string): number | undefined {
    return this.refs.get(id);
  }
}

/** A room or one of its private chats: where a numbered message lives. */
export type Conversation = Room | PrivateChat;

/** The conversation that knows message `id` (the room, or the private chat it was said in). */
export function conversationOf(room: Room, chats: PrivateChats, id: string): Conversation | undefined {
  if (room.message(id) !== undefined) return room;
  return chats.list().find((c) => c.message(id) !== undefined);
}

/** What a reply answers, as its conversation's log has it: for the line and the JSON event. */
export function quoteOf(room: Conversation, refs: MessageRefs, id: string): QuoteRef {
  const ref = refs.ref(id);
  const m = room.message(id);
  const base = ref === undefined ? { id } : { id, ref };
  if (m === undefined) return base;
  return m.deleted ? { ...base, from: m.from, deleted: true } : { ...base, from: m.from, text: m.text };
}

/** Prints a private chat's messages (numbered like the room's), reactions, edits, deletes and typing. */
export function printPrivateChats(chats: PrivateChats, refs: MessageRefs, print: (e: ChatEvent) => void): void {
  chats.on('message', (e) => {
    const re = e.replyTo === undefined ? {} : { re: quoteOf(e.chat, refs, e.replyTo) };
    print({
      event: 'message',
      from: e.from,
      text: e.text,
      private: true,
      with: e.chat.peer,
      ts: e.ts,
      id: e.id,
      ref: refs.add(e.id),
      ...re,
    });
  });
  chats.on('opened', ({ chat }) => {
    const where = () => ({ private: true as const, with: chat.peer });
    const refOf = (id: string) => {
      const ref = refs.ref(id);
      return ref === undefined ? {} : { ref };
    };
    chat.on('reaction', (e) =>
      print({
        event: 'reaction',
        id: e.id,
        ...refOf(e.id),
        reactions: e.reactions.map(({ emoji, count, from }) => ({ emoji, count, from })),
        ...where(),
      }),
    );
    chat.on('edited', (e) => print({ event: 'edited', id: e.id, ...refOf(e.id), from: e.from, text: e.text, self: e.self, ...where() }));
    chat.on('deleted', (e) => print({ event: 'deleted', id: e.id, ...refOf(e.id), from: e.from, self: e.self, ...where() }));
    chat.on('typing', (e) => print({ event: 'typing', from: e.from, on: e.on, ...where() }));
  });
}

/** Prints the room's messages (numbered), reactions, edits, deletes and typing. */
export function printChat(room: Room, refs: MessageRefs, print: (e: ChatEvent) => void): void {
  room.on('message', (e) => {
    const ref = refs.add(e.id);
    print({
      event: 'message',
      from: e.from,
      text: e.text,
      ts: e.ts,
      id: e.id,
      ref,
      ...(e.replyTo === undefined ? {} : { re: quoteOf(room, refs, e.replyTo) }),
      ...(e.outOfOrder ? { outOfOrder: true } : {}),
    });
  });
  const refOf = (id: string) => {
    const ref = refs.ref(id);
    return ref === undefined ? {} : { ref };
  };
  room.on('reaction', (e) =>
    print({
      event: 'reaction',
      id: e.id,
      ...refOf(e.id),
      reactions: e.reactions.map(({ emoji, count, from }) => ({ emoji, count, from })),
    }),
  );
  room.on('edited', (e) => print({ event: 'edited', id: e.id, ...refOf(e.id), from: e.from, text: e.text, self: e.self }));
  room.on('deleted', (e) => print({ event: 'deleted', id: e.id, ...refOf(e.id), from: e.from, self: e.self }));
  room.on('typing', (e) => print({ event: 'typing', from: e.from, on: e.on }));
}
