/**
 * What the room scripts publish (roomScripts.ts), read back: "<type><seq> <fields>\n<bytes>".
 * `seq` is where the event falls in the room's stream: a delivery's own seq, or the room's seq
 * when anything else happened. A message that does not parse is dropped (Redis is ours, but a
 * node must not crash on another node's bug).
 */
import type { Slot } from '@nullroom/protocol';

export type RoomEvent =
  | {
      readonly type: 'D';
      readonly seq: number;
      readonly kind: number;
      readonly epoch: number;
      readonly from: Slot;
      readonly data: Uint8Array;
    }
  | { readonly type: 'G'; readonly seq: number; readonly slot: Slot }
  | {
      readonly type: 'S';
      readonly seq: number;
      readonly epoch: number;
      /** r: READY to every slot but `slot`; o: creation open to all but `slot`; c: `slot` creates. */
      readonly what: 'r' | 'o' | 'c';
      readonly slot: Slot;
      readonly groupInfo: Uint8Array;
    }
  | { readonly type: 'X'; readonly seq: number; readonly to: Slot; readonly from: Slot; readonly node: string; readonly data: Uint8Array }
  | { readonly type: 'T'; readonly seq: number; readonly slot: Slot; readonly oldNode: string; readonly newNode: string };

const NL = 0x0a;

/** The event in a published message, or undefined if it is not one. */
export function parseRoomEvent(msg: Buffer): RoomEvent | undefined {
  const nl = msg.indexOf(NL);
  if (nl < 2) return undefined;
  const type = String.fromCharCode(msg[0]!);
  const f = msg.toString('latin1', 1, nl).split(' ');
  const body = msg.subarray(nl + 1);
  const n = (i: number) => {
    const v = Number(f[i]);
    return Number.isSafeInteger(v) && v >= 0 ? v : Number.NaN;
  };
  const seq = n(0);
  if (Number.isNaN(seq)) return undefined;
  let e: RoomEvent | undefined;
  if (type === 'D' && f.length === 4) e = { type, seq, kind: n(1), epoch: n(2), from: n(3) as Slot, data: body };
  else if (type === 'G' && f.length === 2) e = { type, seq, slot: n(1) as Slot };
  else if (type === 'S' && f.length === 4 && (f[2] === 'r' || f[2] === 'o' || f[2] === 'c'))
    e = { type, seq, epoch: n(1), what: f[2], slot: n(3) as Slot, groupInfo: body };
  else if (type === 'X' && f.length === 4) e = { type, seq, to: n(1) as Slot, from: n(2) as Slot, node: f[3]!, data: body };
  else if (type === 'T' && f.length === 4) e = { type, seq, slot: n(1) as Slot, oldNode: f[2]!, newNode: f[3]! };
  if (e === undefined || Object.values(e).some((v) => typeof v === 'number' && Number.isNaN(v))) return undefined;
  return e;
}

/** A stream entry (XRANGE: [id, [field, value, ...]]) as the delivery event it logged. */
export function logEntryEvent(entry: unknown): RoomEvent | undefined {
  if (!Array.isArray(entry) || entry.length !== 2 || !Array.isArray(entry[1])) return undefined;
  const seq = Number(String(entry[0]).split('-')[0]);
  const fields = entry[1] as Buffer[];
  const get = (name: string) => {
    for (let i = 0; i + 1 < fields.length; i += 2) if (String(fields[i]) === name) return fields[i + 1];
    return undefined;
  };
  const [k, ep, from, data] = [get('k'), get('e'), get('f'), get('d')];
  if (k === undefined || ep === undefined || from === undefined || data === undefined || !Number.isSafeInteger(seq)) return undefined;
  return { type: 'D', seq, kind: Number(String(k)), epoch: Number(String(ep)), from: Number(String(from)) as Slot, data };
}

/** A held DIRECT ("afterSeq from\n" + data, roomScripts.ts `hold`). */
export function heldDirect(item: Buffer): { afterSeq: number; from: Slot; data: Uint8Array } | undefined {
  const nl = item.indexOf(NL);
  if (nl < 0) return undefined;
  const [a, f] = item.toString('latin1', 0, nl).split(' ');
  const afterSeq = Number(a);
  const from = Number(f);
  if (!Number.isSafeInteger(afterSeq) || !Number.isSafeInteger(from)) return undefined;
  return { afterSeq, from: from as Slot, data: item.subarray(nl + 1) };
}
