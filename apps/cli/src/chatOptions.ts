/**
 * `nullroom chat`'s options, checked before anything is joined: a bad flag, an unreadable file, a
 * damaged key store or a missing password stop the command with a usage error, never half-way in.
 */
import { readFile, stat } from 'node:fs/promises';
import { read } from 'read';
import { ClientError, type RoomSecret, normalizeNick, secretFromInvite } from '@nullroom/client';
import { FileKeyStore, defaultKeyStoreDir, parsePin } from '@nullroom/client/node';
import { checkRelayUrl } from './connect.js';
import { CliError, Exit } from './errors.js';
import { parseSize } from './size.js';

export interface ChatOptions {
  /** A password room's name; or `invite`. */
  room?: string;
  /** An invite room: the link is read from NULLROOM_INVITE or a prompt (readInvite). */
  invite?: boolean;
  nick: string;
  json?: boolean;
  ca?: string;
  pin?: string;
  passwordFile?: string;
  suite?: 'default' | 'pq';
  downloadDir?: string;
  maxFile?: string;
  /** Send JPEG and PNG files with their metadata (imageMetadata.ts removes it by default). */
  keepMetadata?: boolean;
  privateRouting?: 'hidden' | 'direct';
  /** Seconds a line may wait to be sent (the relay unreachable) before it shows as not sent (`/retry`). */
  sendTimeout?: string;
  /** Other nodes of the same relay cluster, tried in turn when the connection drops. */
  fallback?: string[];
  /** Where identities and verified keys persist (default: NULLROOM_KEY_DIR, else $XDG_CONFIG_HOME/nullroom, else ~/.config/nullroom). */
  keyDir?: string;
  /** false (`--no-key-store`): a new identity for this run, nothing remembered (MemoryKeyStore), no saved session. */
  keyStore?: boolean;
  /** `--fresh`: join as a new member even if the room's saved session could be resumed. */
  fresh?: boolean;
  /** false (`--no-typing`): never send typing. */
  typing?: boolean;
}

/** What the options say once checked: the relay URL, TLS trust, the download limit and folder. */
export interface CheckedOptions {
  /** The relay URL, http or https (checkRelayUrl). */
  relay: URL;
  /** --fallback: other nodes of the same cluster, checked the same way. */
  fallbackUrls: string[];
  tls: { ca?: Buffer; pin?: string };
  maxFile: number;
  downloadDir: string;
  /** The SDK's sendTimeoutMs, when --send-timeout was given. */
  sendTimeoutMs: number | undefined;
}

const DEFAULT_MAX_FILE = 4 * 1024 ** 3;

export async function checkOptions(url: string, o: ChatOptions): Promise<CheckedOptions> {
  const relay = checkRelayUrl(url);
  try {
    normalizeNick(o.nick);
  } catch (e) {
    throw new CliError(e instanceof Error ? e.message : 'bad nickname', Exit.USAGE);
  }
  if (o.invite === true && o.room !== undefined) throw new CliError('use either --room or --invite, not both', Exit.USAGE);
  if (o.invite !== true && o.room === undefined) throw new CliError('--room NAME (with its password) or --invite is required', Exit.USAGE);
  if (o.room !== undefined && o.room.length === 0) throw new CliError('the room name must not be empty', Exit.USAGE);
  if (o.ca !== undefined && o.pin !== undefined) throw new CliError('use either --ca or --pin, not both', Exit.USAGE);
  const tls: CheckedOptions['tls'] = {};
  if (o.pin !== undefined) {
    try {
      parsePin(o.pin);
      tls.pin = o.pin;
    } catch (e) {
      throw new CliError((e as Error).message, Exit.USAGE);
    }
  }
  if (o.ca !== undefined) {
    tls.ca = await readFile(o.ca).catch(() => {
      throw new CliError('cannot read the CA file', Exit.USAGE);
    });
  }
  const maxFile = o.maxFile === undefined ? DEFAULT_MAX_FILE : parseSize(o.maxFile);
  if (maxFile === undefined) throw new CliError('--max-file must be a size in bytes, such as 500M or 4G', Exit.USAGE);
  const downloadDir = o.downloadDir ?? process.cwd();
  if (
    !(await stat(downloadDir).then(
      (st) => st.isDirectory(),
      () => false,
    ))
  )
    throw new CliError('--download-dir is not a folder', Exit.USAGE);
  let sendTimeoutMs: number | undefined;
  if (o.sendTimeout !== undefined) {
    if (!/^[0-9]{1,6}$/.test(o.sendTimeout) || Number(o.sendTimeout) < 1) {
      throw new CliError('--send-timeout must be a whole number of seconds, at least 1', Exit.USAGE);
    }
    sendTimeoutMs = Number(o.sendTimeout) * 1000;
  }
  const fallbackUrls = (o.fallback ?? []).map((u) => checkRelayUrl(u).href);
  return { relay, fallbackUrls, tls, maxFile, downloadDir, sendTimeoutMs };
}

/** Opens the persistent key store now, so that a damaged or unsafe one stops us before we join anything. */
export async function openKeyStore(o: ChatOptions, onError: (e: ClientError) => void): Promise<FileKeyStore | undefined> {
  if (o.keyStore === false) return undefined;
  const env = process.env['NULLROOM_KEY_DIR'];
  const dir = o.keyDir ?? (env !== undefined && env.length > 0 ? env : defaultKeyStoreDir());
  try {
    return await FileKeyStore.open(dir, { onError });
  } catch (e) {
    const why = e instanceof ClientError ? e.message : 'cannot open the key store';
    throw new CliError(`${why}\n(--no-key-store runs with a one-time identity and remembers nothing)`, Exit.FAILURE);
  }
}

/**
 * An invite room's secret: the link (or only its `#k=…` fragment) from NULLROOM_INVITE, else a
 * prompt that does not echo. Never an argument: other users on the machine can read those.
 */
export async function readInvite(): Promise<RoomSecret> {
  let link = process.env['NULLROOM_INVITE'];
  if (link === undefined && process.stdin.isTTY) {
    link = await read({ prompt: 'invite link: ', silent: true, replace: '', output: process.stderr }).catch(() => undefined);
    process.stderr.write('\n');
  } else if (link === undefined) {
    throw new CliError('no invite link: set NULLROOM_INVITE (stdin is not a terminal, so there is no prompt)', Exit.USAGE);
  }
  const at = link?.indexOf('#') ?? -1;
  const secret = at < 0 ? undefined : secretFromInvite(link!.slice(at).trim());
  if (secret === undefined) throw new CliError('that is not an invite link (it ends in #k= and 43 characters)', Exit.USAGE);
  return secret;
}

/** The room password: from `--password-file`, else NULLROOM_PASSWORD, else a prompt that does not echo. */
export function readPassword(o: ChatOptions): Promise<string> {
  return readSecretInput(o.passwordFile, 'room password');
}

/**
 * A password: from `file`, else NULLROOM_PASSWORD, else a prompt (`what: `) that does not echo.
 * Never an argument: other users on the machine can read those.
 */
export async function readSecretInput(file: string | undefined, what: string): Promise<string> {
  let pw: string | undefined;
  if (file !== undefined) {
    try {
      pw = (await readFile(file, 'utf8')).replace(/\r?\n$/, '');
    } catch {
      throw new CliError('cannot read the password file', Exit.USAGE);
    }
  } else if (process.env['NULLROOM_PASSWORD'] !== undefined) {
    pw = process.env['NULLROOM_PASSWORD'];
  } else if (process.stdin.isTTY) {
    pw = await read({ prompt: `${what}: `, silent: true, replace: '', output: process.stderr }).catch(() => undefined);
    process.stderr.write('\n');
  } else {
    throw new CliError(
      'no password: use --password-file F or NULLROOM_PASSWORD (stdin is not a terminal, so there is no prompt)',
      Exit.USAGE,
    );
  }
  if (pw === undefined || pw.length === 0) throw new CliError(`the ${what} must not be empty`, Exit.USAGE);
  return pw;
}
