/**
 * What the Messages screen shows of a conversation's messages (accountSession.ts): a line per
 * message, from the SDK's sealed history or its events, the warnings it shows, the sealed records
 * of one account, and this browser becoming one of its devices.
 */
import type { SealedRecords, Thumbnail } from '@nullroom/client';
import type { AccountClient, AccountDevices, ConversationNotice, FileRef, StoredMessage } from '@nullroom/client/accounts';

export interface Line {
  readonly id: string;
  readonly from: string;
  readonly own: boolean;
  readonly text: string;
  readonly at: number;
  /** A file or image (its name and type are the sender's claims; the key stays in the SDK's sealed history). */
  file?: { name: string; mime: string; size: number; thumb?: Thumbnail };
  /** The id of the message this one answers. */
  replyTo?: string;
  /** A change of the conversation (members added, removed, left; renamed): shown as a line of its own. */
  notice?: ConversationNotice;
  /** Messages this device sent: where they are, and how many of the other devices confirmed them. */
  status?: 'sending' | 'sent' | 'failed';
  delivered?: number;
  recipients?: number;
}

export interface Conversation {
  readonly id: string;
  members: string[];
  /** We are no longer a member (removed): read-only. */
  gone?: boolean;
  /** Its name, if a member gave it one (end-to-end encrypted; §11.15). */
  name?: string;
  /** The last messages (from the sealed history once the conversation was opened, then as they come). */
  lines: Line[];
  loaded: boolean;
  unread: number;
  lastAt: number;
}

/** How many of a conversation's last messages are read from the history when it is opened. */
export const SHOWN = 200;

export const fileOf = (f: FileRef): NonNullable<Line['file']> => ({
  name: f.name,
  mime: f.mime,
  size: f.size,
  ...(f.thumb === undefined ? {} : { thumb: f.thumb }),
});

export const line = (m: StoredMessage): Line => ({
  id: m.id,
  from: m.from,
  own: m.own,
  text: m.text,
  at: m.at,
  ...(m.file === undefined ? {} : { file: fileOf(m.file) }),
  ...(m.replyTo === undefined ? {} : { replyTo: m.replyTo }),
  ...(m.kind === 'notice' && m.notice !== undefined ? { notice: m.notice } : {}),
  ...(m.status === undefined ? {} : { status: m.status }),
  ...(m.deliveredTo === undefined ? {} : { delivered: m.deliveredTo.length }),
  ...(m.recipients === undefined ? {} : { recipients: m.recipients }),
});

/** `records` with every name under `prefix`: one browser, several accounts and relays. */
export function prefixed(records: SealedRecords, prefix: string): SealedRecords {
  return {
    put: (n, v) => records.put(`${prefix}\0${n}`, v),
    get: (n) => records.get(`${prefix}\0${n}`),
    remove: (n) => records.remove(`${prefix}\0${n}`),
  };
}

/** The Messenger's warnings the screen shows (the rest are about single messages already dropped). */
export const SHOWN_WARNINGS = new Set([
  'DEVICES_CHANGED',
  'DEVICE_LIST_FORKED',
  'DEVICE_LIST_INVALID',
  'LOST',
  'LOST_HANDSHAKE',
  'DEVICE_NOT_ADDED',
  'STORE_FAILED',
  'HISTORY_CORRUPT',
  'MESSENGER_STORE_CORRUPT',
  'MEMBERS_NOT_CHANGED',
]);

const same = (a: Uint8Array, b: Uint8Array) => a.byteLength === b.byteLength && a.every((x, i) => x === b[i]);

/**
 * Makes this browser (its key `me`) a device of the account (§11.8), and gives its id: a device the
 * list has already checks the list against the one it verified before and binds this session to
 * itself; the first device of an account enrols; any other asks for approval (`asking` shows the
 * code) and waits until a device of the account approves it, or `signal` ends the wait.
 */
export async function becomeDevice(
  client: AccountClient,
  devices: AccountDevices,
  me: Uint8Array,
  signal: AbortSignal,
  asking: (code: string, expiresAt: number) => void,
): Promise<string> {
  const all = await devices.devices();
  const mine = all.find((d) => same(d.identityKey, me));
  if (mine !== undefined) {
    await devices.deviceList();
    if ((await client.whoami())?.device === undefined) await devices.bind(mine.device);
    return mine.device;
  }
  if (all.length === 0) return devices.enrolFirst();
  const asked = await devices.requestApproval();
  asking(asked.code, asked.expiresAt);
  return (await asked.wait({ signal })).device;
}

/**
 * Runs `run` one at a time: asked while it runs, it runs once more after (however often it was
 * asked); `after` follows each run. `settled` asks for a run and resolves once none is left, or
 * rejects as the last one failed.
 */
export class OneAtATime {
  private running: Promise<void> | undefined;
  private again = false;
  private failed: unknown;

  constructor(
    private readonly run: () => Promise<void>,
    private readonly after: () => void,
  ) {}

  ask(): void {
    if (this.running !== undefined) return void (this.again = true);
    this.running = this.run()
      .then(
        () => {
          this.failed = undefined;
        },
        (e: unknown) => {
          this.failed = e;
        },
      )
      .finally(() => {
        this.running = undefined;
        this.after();
        if (this.again) {
          this.again = false;
          this.ask();
        }
      });
  }

  async settled(): Promise<void> {
    this.ask();
    while (this.running !== undefined) await this.running;
    if (this.failed !== undefined) throw this.failed;
  }
}
