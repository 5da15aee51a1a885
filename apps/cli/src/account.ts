/**
 * `nullroom register|login|logout|whoami|devices URL`: accounts from the terminal (docs/PROTOCOL.md §11).
 * The session token lives in `accounts.json` in the key folder (NULLROOM_KEY_DIR, else
 * $XDG_CONFIG_HOME/nullroom, else ~/.config/nullroom), 0600, one entry per relay origin, beside the
 * relay's OPAQUE key seen first (kept after logout: a relay that later answers with another key is
 * refused, SERVER_KEY_CHANGED). The password comes from --password-file, NULLROOM_PASSWORD or a
 * prompt that does not echo: never an argument. Errors pass the SDK's AccountError code through.
 */
import { AccountClient, AccountError, type AccountErrorCode } from '@nullroom/client/accounts';
import { defaultKeyStoreDir } from '@nullroom/client/node';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readSecretInput } from './chatOptions.js';
import { type DeviceState, devicesCommand, ensureDevice } from './devices.js';
import { CliError, Exit } from './errors.js';

export interface AccountOptions {
  /** `devices`: what to do (nothing: list; `approve CODE`, `decline CODE`, `remove DEVICE`). */
  action?: string[];
  user?: string;
  passwordFile?: string;
  keyDir?: string;
  json?: boolean;
  everywhere?: boolean;
}

interface Saved extends DeviceState {
  name?: string;
  token?: string;
  expiresAt?: number;
  serverKey?: string;
}
export interface SavedFile {
  version: 1;
  relays: Record<string, Saved>;
}

export const ACCOUNTS_FILE = 'accounts.json';

/** The relay's origin (the key of its entry), or BAD_URL. */
function origin(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new CliError('the relay URL must start with http:// or https://', Exit.USAGE, 'BAD_URL');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new CliError('the relay URL must start with http:// or https://', Exit.USAGE, 'BAD_URL');
  return u.origin;
}

function folder(o: AccountOptions): string {
  const env = process.env['NULLROOM_KEY_DIR'];
  return o.keyDir ?? (env !== undefined && env.length > 0 ? env : defaultKeyStoreDir());
}

function load(dir: string): SavedFile {
  const path = join(dir, ACCOUNTS_FILE);
  let text: string;
  try {
    if ((statSync(path).mode & 0o077) !== 0) throw new CliError(`${path} is readable by others: fix it with chmod 600`, Exit.FAILURE);
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, relays: {} };
    if (e instanceof CliError) throw e;
    throw new CliError(`cannot read ${path}`, Exit.FAILURE);
  }
  try {
    const v = JSON.parse(text) as SavedFile;
    if (v.version !== 1 || typeof v.relays !== 'object' || v.relays === null) throw new TypeError('shape');
    return v;
  } catch {
    throw new CliError(`${path} is damaged: move it away to start over (you will log in again)`, Exit.FAILURE);
  }
}

/** Writes the file whole (a temporary file renamed over it: never half written), 0600. */
export function save(dir: string, f: SavedFile): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, ACCOUNTS_FILE);
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(f, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  renameSync(tmp, path);
}

/** The saved session for a relay: the file, its entry, and a client that presents its token and pin. */
export function savedSession(url: string, o: { keyDir?: string }) {
  const key = origin(url);
  const dir = folder(o);
  const file = load(dir);
  const saved = file.relays[key] ?? {};
  const client = new AccountClient({
    url: key,
    session: 'token',
    ...(saved.token !== undefined ? { token: saved.token } : {}),
    ...(saved.serverKey !== undefined ? { serverKey: saved.serverKey } : {}),
  });
  return { key, dir, file, saved, client };
}

/** Prints one result: a JSON event under --json, else the line of text. */
export const printer =
  (json: boolean | undefined) =>
  (event: string, fields: Record<string, unknown>, text: string): void => {
    process.stdout.write(json ? `${JSON.stringify({ event, ...fields })}\n` : `${text}\n`);
  };

/**
 * An SDK refusal as the terminal shows it: its AccountError code unchanged, on stderr as
 * `nullroom: CODE: message` and under --json as an `error` event; exit 1, or 4 when the relay is
 * unreachable. The SDK's local failures (a ClientError: a store in use by another process, or
 * damaged) keep their code the same way. Anything else is rethrown.
 */
export function accountFailure(e: unknown, json: boolean | undefined): never {
  if (e instanceof Error && e.name === 'ClientError' && typeof (e as { code?: unknown }).code === 'string') {
    const code = (e as Error & { code: string }).code;
    if (json) printer(true)('error', { code, message: e.message }, '');
    throw new CliError(`${code}: ${e.message}`, Exit.FAILURE);
  }
  if (!(e instanceof AccountError)) throw e;
  if (json) printer(true)('error', { code: e.code, message: e.message, ...e.details, cause: undefined }, '');
  throw new CliError(`${e.code}: ${e.message}`, exitFor(e.code));
}

/** Runs one account command; the exit code. */
export async function account(
  command: 'register' | 'login' | 'logout' | 'whoami' | 'devices',
  url: string,
  o: AccountOptions,
): Promise<number> {
  const { key, dir, file, saved, client } = savedSession(url, o);
  const print = printer(o.json);
  try {
    if (command === 'register' || command === 'login') {
      if (o.user === undefined) throw new CliError('--user NAME is required', Exit.USAGE);
      const password = await readSecretInput(o.passwordFile, 'account password');
      const s = command === 'register' ? await client.register(o.user, password) : await client.login(o.user, password);
      const entry: Saved = { ...saved, name: s.name, token: s.token!, expiresAt: s.expiresAt, serverKey: s.serverKey };
      file.relays[key] = entry;
      save(dir, file);
      const until = new Date(s.expiresAt).toISOString().slice(0, 10);
      print(
        command === 'register' ? 'registered' : 'signed-in',
        { name: s.name, relay: key, expiresAt: s.expiresAt },
        `${command === 'register' ? 'registered and signed in' : 'signed in'} as ${s.name} on ${key} (until ${until})`,
      );
      await ensureDevice(client, entry, s.name, () => save(dir, file), print);
      await (await import('./messages.js')).publishKeyPackages(url, o);
      return Exit.OK;
    }
    if (command === 'devices') {
      if (saved.token === undefined || saved.name === undefined) throw new AccountError('NOT_SIGNED_IN');
      await devicesCommand(client, saved, saved.name, () => save(dir, file), print, o.action ?? []);
      return Exit.OK;
    }
    if (command === 'whoami') {
      const me = saved.token === undefined ? undefined : await client.whoami();
      if (me === undefined) {
        print('signed-out', { relay: key }, `not signed in on ${key}`);
        return Exit.FAILURE;
      }
      print('signed-in', { name: me.name, relay: key, expiresAt: me.expiresAt }, `${me.name} on ${key}`);
      return Exit.OK;
    }
    let ended = 0;
    if (saved.token !== undefined) {
      ended = await (o.everywhere ? client.logoutEverywhere() : client.logout().then(() => 1)).catch((e: unknown) => {
        // A session the relay already ended is as good as ended.
        if (e instanceof AccountError && e.code === 'NOT_SIGNED_IN') return 0;
        throw e;
      });
    }
    // The device key and the lists it verified stay: this terminal is still the account's device (devices.ts).
    const { token: _t, expiresAt: _e, ...kept } = saved;
    file.relays[key] = kept;
    save(dir, file);
    print(
      'signed-out',
      { relay: key, ended },
      `signed out of ${key}${o.everywhere ? ` (${ended} session${ended === 1 ? '' : 's'} ended)` : ''}`,
    );
    return Exit.OK;
  } catch (e) {
    accountFailure(e, o.json);
  }
}

function exitFor(code: AccountErrorCode): number {
  if (code === 'UNAVAILABLE') return Exit.CONNECTION;
  return Exit.FAILURE;
}
