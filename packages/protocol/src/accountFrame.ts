/**
 * The account channel's wire format (docs/PROTOCOL.md §11.11): one binary frame per WebSocket
 * message on `/account` (subprotocol `nullroom.account.v1`), big-endian, no trailing bytes.
 * Devices and conversations are named by their 16 raw bytes (base64url of them in the HTTP API);
 * MLS payloads are returned as views into the received buffer, never copied.
 *
 *   device -> relay                                  relay -> device
 *   0x81 AUTH    device:16 signature:64              0xC1 CHALLENGE nonce:32
 *   0x82 ACK     seq:u64                             0xC2 READY     device:16 seq:u64
 *   0x83 CREATE  req:u32 conv:16                     0xC3 MAIL      seq:u64 conv:16 kind:u8 sender:16 epoch:u64 at:u64 payload
 *   0x84 COMMIT  req:u32 conv:16 epoch:u64           0xC4 LOST      conv:16 entries:u32 handshake:u8 after:u64
 *                add:list remove:list commit welcome 0xC5 RESULT    req:u32 status:u8 epoch:u64
 *   0x85 SEND    req:u32 conv:16 epoch:u64 payload   0xC6 PRESENCE  name:str8 online:u8 at:u64
 *                                                    0xC7 NOTICE    what:u8
 *
 * payload, commit, welcome: u32 length then bytes (welcome empty: none); list: u16 count then
 * count × 16 bytes; str8: u8 length then UTF-8.
 */
import { Reader, Writer } from './_bytes.js';
import { ProtocolError } from './errors.js';
import { type CodecLimits, defaultCodecLimits } from './limits.js';

export const ACCOUNT_SUBPROTOCOL = 'nullroom.account.v1';
export const ID_BYTES = 16;
export const CHALLENGE_BYTES = 32;
/** Devices one commit may add or remove (a 1000-member conversation of several devices each). */
export const MAX_COMMIT_DEVICES = 4096;

/** What the signature of AUTH covers: this label, the CHALLENGE nonce and the device id. */
export const ACCOUNT_AUTH_LABEL = new TextEncoder().encode('nullroom/v1/account-channel');
/**
 * What the signature binding a session to a device covers (`POST /api/devices/bind`, docs/PROTOCOL.md
 * §11.8): this label, the relay's bind challenge (CHALLENGE_BYTES) and the device id (ID_BYTES). Its own
 * label, so that no channel AUTH signature can ever stand for a bind and no bind for an AUTH.
 */
export const DEVICE_BIND_LABEL = new TextEncoder().encode('nullroom/v1/device-bind');

export const MailKinds = { welcome: 1, commit: 2, app: 3 } as const;
export type MailKindName = keyof typeof MailKinds;

/** RESULT.status: 0 accepted, else why not (docs/PROTOCOL.md §11.11). */
export const ResultStatus = {
  ACCEPTED: 0,
  NO_SUCH_CONVERSATION: 1,
  NOT_MEMBER: 2,
  WRONG_EPOCH: 3,
  UNKNOWN_DEVICE: 4,
  BAD_CHANGE: 5,
  TOO_MANY_MEMBERS: 6,
  EXISTS: 7,
  RATE_LIMITED: 8,
  TOO_LARGE: 9,
  STORE_UNAVAILABLE: 10,
} as const;
export type ResultStatusName = keyof typeof ResultStatus;

/** NOTICE.what: something changed that the device reads over HTTP; or (CAUGHT_UP, once per channel) all its mailbox held at READY has been sent. */
export const NoticeWhat = { DEVICE_REQUEST: 1, DEVICE_LIST: 2, CONTACTS: 3, CAUGHT_UP: 4 } as const;

export type AccountFrame =
  | { type: 'AUTH'; device: Uint8Array; signature: Uint8Array }
  | { type: 'ACK'; seq: number }
  | { type: 'CREATE'; req: number; conversation: Uint8Array }
  | {
      type: 'COMMIT';
      req: number;
      conversation: Uint8Array;
      epoch: number;
      add: Uint8Array[];
      remove: Uint8Array[];
      commit: Uint8Array;
      welcome: Uint8Array;
    }
  | { type: 'SEND'; req: number; conversation: Uint8Array; epoch: number; payload: Uint8Array }
  | { type: 'CHALLENGE'; nonce: Uint8Array }
  | { type: 'READY'; device: Uint8Array; seq: number }
  | {
      type: 'MAIL';
      seq: number;
      conversation: Uint8Array;
      kind: MailKindName;
      sender: Uint8Array;
      epoch: number;
      at: number;
      payload: Uint8Array;
    }
  | { type: 'LOST'; conversation: Uint8Array; entries: number; handshake: boolean; after: number }
  | { type: 'RESULT'; req: number; status: ResultStatusName; epoch: number }
  | { type: 'PRESENCE'; name: string; online: boolean; at: number }
  | { type: 'NOTICE'; what: number };

const TYPES = {
  AUTH: 0x81,
  ACK: 0x82,
  CREATE: 0x83,
  COMMIT: 0x84,
  SEND: 0x85,
  CHALLENGE: 0xc1,
  READY: 0xc2,
  MAIL: 0xc3,
  LOST: 0xc4,
  RESULT: 0xc5,
  PRESENCE: 0xc6,
  NOTICE: 0xc7,
} as const satisfies Record<AccountFrame['type'], number>;
const byCode = new Map<number, AccountFrame['type']>(Object.entries(TYPES).map(([k, v]) => [v, k as AccountFrame['type']]));
const kindByCode = new Map<number, MailKindName>(Object.entries(MailKinds).map(([k, v]) => [v, k as MailKindName]));
const statusByCode = new Map<number, ResultStatusName>(Object.entries(ResultStatus).map(([k, v]) => [v, k as ResultStatusName]));

const id = (v: Uint8Array, field: string) => {
  if (v.byteLength !== ID_BYTES) throw new ProtocolError('BAD_VALUE', field);
  return v;
};

/** Each frame's fields after its type byte: [size, write]. */
function body(f: AccountFrame): [number, (w: Writer) => void] {
  switch (f.type) {
    case 'AUTH':
      return [16 + 64, (w) => w.fixed(id(f.device, 'device')).fixed(sized(f.signature, 64, 'signature'))];
    case 'ACK':
      return [8, (w) => w.u64(f.seq, 'seq')];
    case 'CREATE':
      return [4 + 16, (w) => w.u32(f.req).fixed(id(f.conversation, 'conversation'))];
    case 'COMMIT': {
      if (f.add.length > MAX_COMMIT_DEVICES || f.remove.length > MAX_COMMIT_DEVICES) throw new ProtocolError('BAD_VALUE', 'devices');
      const n = 4 + 16 + 8 + 2 + f.add.length * 16 + 2 + f.remove.length * 16 + 4 + f.commit.byteLength + 4 + f.welcome.byteLength;
      return [
        n,
        (w) => {
          w.u32(f.req).fixed(id(f.conversation, 'conversation')).u64(f.epoch, 'epoch').u16(f.add.length);
          for (const d of f.add) w.fixed(id(d, 'add'));
          w.u16(f.remove.length);
          for (const d of f.remove) w.fixed(id(d, 'remove'));
          w.bytes(f.commit).bytes(f.welcome);
        },
      ];
    }
    case 'SEND':
      return [
        4 + 16 + 8 + 4 + f.payload.byteLength,
        (w) => w.u32(f.req).fixed(id(f.conversation, 'conversation')).u64(f.epoch, 'epoch').bytes(f.payload),
      ];
    case 'CHALLENGE':
      return [32, (w) => w.fixed(sized(f.nonce, CHALLENGE_BYTES, 'nonce'))];
    case 'READY':
      return [16 + 8, (w) => w.fixed(id(f.device, 'device')).u64(f.seq, 'seq')];
    case 'MAIL':
      return [
        8 + 16 + 1 + 16 + 8 + 8 + 4 + f.payload.byteLength,
        (w) =>
          w
            .u64(f.seq, 'seq')
            .fixed(id(f.conversation, 'conversation'))
            .u8(MailKinds[f.kind])
            .fixed(id(f.sender, 'sender'))
            .u64(f.epoch, 'epoch')
            .u64(f.at, 'at')
            .bytes(f.payload),
      ];
    case 'LOST':
      return [
        16 + 4 + 1 + 8,
        (w) =>
          w
            .fixed(id(f.conversation, 'conversation'))
            .u32(f.entries)
            .u8(f.handshake ? 1 : 0)
            .u64(f.after, 'after'),
      ];
    case 'RESULT':
      return [4 + 1 + 8, (w) => w.u32(f.req).u8(ResultStatus[f.status]).u64(f.epoch, 'epoch')];
    case 'PRESENCE': {
      const name = new TextEncoder().encode(f.name);
      if (name.byteLength === 0 || name.byteLength > 255) throw new ProtocolError('BAD_VALUE', 'name');
      return [
        1 + name.byteLength + 1 + 8,
        (w) =>
          w
            .u8(name.byteLength)
            .fixed(name)
            .u8(f.online ? 1 : 0)
            .u64(f.at, 'at'),
      ];
    }
    case 'NOTICE':
      return [1, (w) => w.u8(f.what)];
  }
}

function sized(v: Uint8Array, n: number, field: string): Uint8Array {
  if (v.byteLength !== n) throw new ProtocolError('BAD_VALUE', field);
  return v;
}

export function encodeAccountFrame(f: AccountFrame): Uint8Array {
  const [n, write] = body(f);
  const w = new Writer(1 + n);
  w.u8(TYPES[f.type]);
  write(w);
  return w.done();
}

/** One frame; a ProtocolError (TRUNCATED, UNKNOWN_TYPE, TRAILING_BYTES, FRAME_TOO_LARGE, FIELD_TOO_LARGE, BAD_VALUE) otherwise. */
export function decodeAccountFrame(buf: Uint8Array, limits: CodecLimits = defaultCodecLimits): AccountFrame {
  if (buf.byteLength > limits.maxFrameBytes) throw new ProtocolError('FRAME_TOO_LARGE');
  const r = new Reader(buf);
  const type = byCode.get(r.u8('type'));
  if (type === undefined) throw new ProtocolError('UNKNOWN_TYPE');
  const f = read(type, r, limits.maxPayloadBytes);
  r.end();
  return f;
}

function ids(r: Reader, field: string): Uint8Array[] {
  const n = r.u16(field);
  if (n > MAX_COMMIT_DEVICES) throw new ProtocolError('FIELD_TOO_LARGE', field);
  return Array.from({ length: n }, () => r.fixed(ID_BYTES, field));
}

function read(type: AccountFrame['type'], r: Reader, max: number): AccountFrame {
  switch (type) {
    case 'AUTH':
      return { type, device: r.fixed(16, 'device'), signature: r.fixed(64, 'signature') };
    case 'ACK':
      return { type, seq: r.u64('seq') };
    case 'CREATE':
      return { type, req: r.u32('req'), conversation: r.fixed(16, 'conversation') };
    case 'COMMIT':
      return {
        type,
        req: r.u32('req'),
        conversation: r.fixed(16, 'conversation'),
        epoch: r.u64('epoch'),
        add: ids(r, 'add'),
        remove: ids(r, 'remove'),
        commit: r.bytes(max, 'commit'),
        welcome: r.bytes(max, 'welcome'),
      };
    case 'SEND':
      return {
        type,
        req: r.u32('req'),
        conversation: r.fixed(16, 'conversation'),
        epoch: r.u64('epoch'),
        payload: r.bytes(max, 'payload'),
      };
    case 'CHALLENGE':
      return { type, nonce: r.fixed(CHALLENGE_BYTES, 'nonce') };
    case 'READY':
      return { type, device: r.fixed(16, 'device'), seq: r.u64('seq') };
    case 'MAIL': {
      const seq = r.u64('seq');
      const conversation = r.fixed(16, 'conversation');
      const kind = kindByCode.get(r.u8('kind'));
      if (kind === undefined) throw new ProtocolError('BAD_VALUE', 'kind');
      return {
        type,
        seq,
        conversation,
        kind,
        sender: r.fixed(16, 'sender'),
        epoch: r.u64('epoch'),
        at: r.u64('at'),
        payload: r.bytes(max, 'payload'),
      };
    }
    case 'LOST':
      return {
        type,
        conversation: r.fixed(16, 'conversation'),
        entries: r.u32('entries'),
        handshake: flag(r, 'handshake'),
        after: r.u64('after'),
      };
    case 'RESULT': {
      const req = r.u32('req');
      const status = statusByCode.get(r.u8('status'));
      if (status === undefined) throw new ProtocolError('BAD_VALUE', 'status');
      return { type, req, status, epoch: r.u64('epoch') };
    }
    case 'PRESENCE': {
      const raw = r.fixed(r.u8('name'), 'name');
      let name: string;
      try {
        name = new TextDecoder('utf-8', { fatal: true }).decode(raw);
      } catch {
        throw new ProtocolError('BAD_VALUE', 'name');
      }
      if (name.length === 0) throw new ProtocolError('BAD_VALUE', 'name');
      return { type, name, online: flag(r, 'online'), at: r.u64('at') };
    }
    case 'NOTICE':
      return { type, what: r.u8('what') };
  }
}

function flag(r: Reader, field: string): boolean {
  const v = r.u8(field);
  if (v > 1) throw new ProtocolError('BAD_VALUE', field);
  return v === 1;
}
