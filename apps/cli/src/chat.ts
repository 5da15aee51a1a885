import { readFile, stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { read } from 'read';
import { ClientError, NullroomClient, PrivateChats, type Room, RoomFiles, Suites, type Transfer, deriveRoomSecret, formatFingerprintDigits, formatSafetyNumber, normalizeNick } from '@nullroom/client';
import { FileKeyStore, defaultKeyStoreDir, fileSource, folderSink, nodeFileOptions, nodeWebSocket, parsePin } from '@nullroom/client/node';
import { CliError, Exit } from './exit.js';
import { parseSize } from './serve.js';
import { type ChatEvent, Printer } from './output.js';

export interface ChatOptions {
  room: string;
  nick: string;
  json?: boolean;
  ca?: string;
  pin?: string;
  passwordFile?: string;
  suite?: 'default' | 'pq';
  downloadDir?: string;
  maxFile?: string;
  privateRouting?: 'hidden' | 'direct';
  /** Where identities and verified keys persist (default: NULLROOM_KEY_DIR, else $XDG_CONFIG_HOME/nullroom, else ~/.config/nullroom). */
  keyDir?: string;
  /** false (`--no-key-store`): a new identity for this run, nothing remembered (MemoryKeyStore). */
  keyStore?: boolean;
}

/** Opens the persistent key store now, so that a damaged or unsafe one stops us before we join anything. */
async function openKeyStore(o: ChatOptions, onError: (e: ClientError) => void): Promise<FileKeyStore | undefined> {
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


async function password(o: ChatOptions): Promise<string> {
  let pw: string | undefined;
  if (o.passwordFile !== undefined) {
    try {
      pw = (await readFile(o.passwordFile, 'utf8')).replace(/\r?\n$/, '');
    } catch {
      throw new CliError('cannot read the password file', Exit.USAGE);
    }
  } else if (process.env['NULLROOM_PASSWORD'] !== undefined) {
    pw = process.env['NULLROOM_PASSWORD'];
  } else if (process.stdin.isTTY) {
    pw = await read({ prompt: 'room password: ', silent: true, replace: '', output: process.stderr }).catch(() => undefined);
    process.stderr.write('\n');
  } else {
    throw new CliError('no password: use --password-file F or NULLROOM_PASSWORD (stdin is not a terminal, so there is no prompt)', Exit.USAGE);
  }
  if (pw === undefined || pw.length === 0) throw new CliError('the room password must not be empty', Exit.USAGE);
  return pw;
}

/** `a "b c" 'd'` -> ['a', 'b c', 'd'] */
const splitPaths = (s: string) => s.match(/"[^"]*"|'[^']*'|\S+/g)?.map((p) => p.replace(/^(["'])(.*)\1$/, '$2')) ?? [];

const HELP = [
  '/members          list who is in the room',
  '/verify NICK      show the safety number you share with NICK, and the room fingerprint (compare both out of band)',
  '/fingerprint      show the room fingerprint of this epoch: every member at that epoch must see the same digits',
  '/verified NICK    mark NICK verified once the numbers match (until their key changes)',
  '/dm NICK TEXT      send TEXT to NICK only (opens a private chat the first time)',
  '/close NICK       close the private chat with NICK',
  '/dmsend NICK PATH...  send files to NICK only',
  '/send PATH...     send files (end-to-end encrypted) to everyone in the room',
  '/cancel           cancel the file transfers in progress',
  '/quit             leave the room (after the files you are sending are up)',
];

export async function chat(url: string, o: ChatOptions): Promise<number> {
  try {
    normalizeNick(o.nick);
  } catch (e) {
    throw new CliError(e instanceof Error ? e.message : 'bad nickname', Exit.USAGE);
  }
  if (o.room.length === 0) throw new CliError('the room name must not be empty', Exit.USAGE);
  if (o.ca !== undefined && o.pin !== undefined) throw new CliError('use either --ca or --pin, not both', Exit.USAGE);
  let pin: string | undefined;
  if (o.pin !== undefined) {
    try {
      parsePin(o.pin);
      pin = o.pin;
    } catch (e) {
      throw new CliError((e as Error).message, Exit.USAGE);
    }
  }
  let ca: Buffer | undefined;
  if (o.ca !== undefined) ca = await readFile(o.ca).catch(() => {
    throw new CliError('cannot read the CA file', Exit.USAGE);
  });
  try {
    new URL(url);
  } catch {
    throw new CliError('the relay URL is not a URL (expected what `nullroom serve` printed)', Exit.USAGE);
  }
  const maxFile = o.maxFile === undefined ? 4 * 1024 ** 3 : parseSize(o.maxFile);
  if (maxFile === undefined) throw new CliError('--max-file must be a size in bytes, such as 500M or 4G', Exit.USAGE);
  const downloadDir = o.downloadDir ?? process.cwd();
  if (!(await stat(downloadDir).then((st) => st.isDirectory(), () => false))) throw new CliError('--download-dir is not a folder', Exit.USAGE);
  let printer: Printer | undefined;
  const storeError = (e: ClientError) => printer?.print({ event: 'error', code: e.code, message: e.message });
  const store = await openKeyStore(o, storeError);
  const pw = await password(o);
  printer = new Printer(o.json === true);
  const secret = await deriveRoomSecret(o.room, pw);

  const client = new NullroomClient({
    url,
    webSocket: nodeWebSocket({ ...(ca ? { ca } : {}), ...(pin ? { pin } : {}) }),
    suite: o.suite === 'pq' ? Suites.postQuantum : Suites.default,
    ...(store === undefined ? {} : { keyStore: store }),
  });
  try {
    await client.connect();
  } catch (e) {
    throw new CliError(e instanceof ClientError ? e.message : 'cannot connect to the relay', Exit.CONNECTION);
  }
  client.on('connection', ({ state }) => {
    if (state === 'reconnecting' || state === 'online') printer.print({ event: 'connection', state });
  });
  client.on('error', (e) => printer.print({ event: 'error', code: e.code, message: e.message }));

  let room: Room;
  try {
    // While the relay's group information cannot be used, the Room retries (docs/PROTOCOL.md §4.3):
    // one line per wait, not one per retry (a wait is one `since`; a later rejoin may wait again).
    let waitingSince: number | undefined;
    const onRoom = (r: Room) =>
      r.on('repair-wait', (e) => {
        if (e.since === waitingSince) return;
        waitingSince = e.since;
        printer.print({ event: 'repair-wait', since: e.since });
      });
    room = await client.join({ secret, nick: o.nick, onRoom });
  } catch (e) {
    await client.close();
    throw new CliError(e instanceof Error ? e.message : 'cannot join the room', Exit.FAILURE);
  }
  const members = () => room.members().map((m) => m.nick);
  const suite = () => (room.suite === Suites.postQuantum ? 'pq' : 'default');
  printer.print({ event: 'joined', created: room.created, nick: room.nick, members: members(), suite: suite() });
  room.on('joined', (e) => printer.print({ event: 'joined', created: e.created, nick: e.nick, members: e.members, suite: suite(), rejoin: true }));
  room.on('member-joined', (e) => printer.print({ event: 'member-joined', nick: e.nick }));
  room.on('member-left', (e) => printer.print({ event: 'member-left', nick: e.nick }));
  // Key changes (and errors) found while joining were kept by the room for its first listener: they print now.
  room.on('key-changed', (e) => printer.print({ event: 'key-changed', nick: e.nick, wasVerified: e.wasVerified }));
  room.on('disruption', (e) => printer.print({ event: 'disruption', ...e }));
  room.on('message', (e) =>
    printer.print({ event: 'message', from: e.from, text: e.text, ts: e.ts, ...(e.outOfOrder ? { outOfOrder: true } : {}) }),
  );
  room.on('error', (e) => printer.print({ event: 'error', code: e.code, message: e.message }));
  room.on('fork-suspected', (e) => printer.print({ event: 'fork-suspected', epoch: e.epoch, fingerprint: e.fingerprint, unreadable: e.unreadable }));
  /** The room fingerprint of our epoch (docs/PROTOCOL.md §8.1), for /verify and /fingerprint. */
  const fingerprint = () => {
    const fp = room.fingerprint();
    return fp === undefined ? {} : { epoch: fp.epoch, fingerprint: formatFingerprintDigits(fp) };
  };

  // Files: everyone's offers are fetched into the download folder and reported once verified.
  const tlsOpts = { ...(ca ? { ca } : {}), ...(pin ? { pin } : {}) };
  // One blob transport (its keep-alive connections) for the room and its private chats; node:crypto for SHA-256 and AES-GCM.
  const fileOptions = nodeFileOptions(url, tlsOpts);
  const files = new RoomFiles(room, fileOptions);
  const transfers = new Set<Transfer>();
  const track = (t: Transfer) => {
    transfers.add(t);
    // A line a second, from a second in (small files never print one).
    let lastLine = Date.now();
    t.on('progress', (p) => {
      if (o.json === true || Date.now() - lastLine < 1000 || p.bytes === p.total) return;
      lastLine = Date.now();
      printer.print({ event: 'progress', direction: t.direction, name: t.name, bytes: p.bytes, total: p.total, bytesPerSecond: p.bytesPerSecond, etaMs: p.etaMs });
    });
    void t.done.finally(() => transfers.delete(t)).catch(() => undefined);
  };
  const fileError = (e: unknown) => printer.print({ event: 'error', code: e instanceof ClientError ? e.code : 'FILE_TRANSFER', message: e instanceof Error ? e.message : String(e) });
  /** Downloads every file offered in the room, or in a private chat (then `with` names the peer). */
  const receiveFiles = (from: RoomFiles, privateWith?: () => string) =>
    from.on('offer', (f) => {
      if (f.size > maxFile) return printer.print({ event: 'error', code: 'FILE_TOO_LARGE', message: `a file offered by ${f.from} is larger than --max-file; not downloaded` });
      void folderSink(downloadDir, f.name).then((sink) => {
        const t = f.accept(sink);
        track(t);
        t.done.then(
          (r) =>
            printer.print({
              event: 'file',
              from: f.from,
              name: f.name,
              size: f.size,
              sha256: r.sha256,
              path: r.path ?? '',
              ...(privateWith === undefined ? {} : { private: true as const, with: privateWith() }),
            }),
          fileError,
        );
      }, fileError);
    });
  receiveFiles(files);
  const sendFiles = async (paths: string[], via: RoomFiles = files) => {
    for (const path of paths) {
      let src;
      try {
        src = await fileSource(path);
      } catch {
        printer.print({ event: 'error', code: 'NO_SUCH_FILE', message: 'cannot read that file' });
        continue;
      }
      const t = via.send(src);
      track(t);
      void t.done
        .then((r) => printer.print({ event: 'file-sent', name: src.name, size: src.size, sha256: r.sha256 }), fileError)
        .finally(() => src.close());
    }
  };

  // Private chats: opened by either side, read by nobody else.
  const privateChats = new PrivateChats(room, { routing: o.privateRouting === 'direct' ? 'direct' : 'hidden' });
  const privateFiles = new Map<string, RoomFiles>();
  privateChats.on('opened', (e) => {
    const f = new RoomFiles(e.chat, fileOptions);
    privateFiles.set(e.chat.id, f);
    receiveFiles(f, () => e.chat.peer);
    printer.print({ event: 'private-opened', with: e.chat.peer, byUs: e.byUs });
  });
  privateChats.on('closed', (e) => printer.print({ event: 'private-closed', with: e.chat.peer, byUs: e.byUs }));
  privateChats.on('message', (e) => printer.print({ event: 'message', from: e.from, text: e.text, private: true, with: e.chat.peer, ts: e.ts }));
  privateChats.on('error', (e) => printer.print({ event: 'error', code: e.code, message: e.message }));
  const sendPrivate = async (nick: string, text: string) => {
    try {
      const c = await privateChats.open(nick);
      await c.send(text);
    } catch (e) {
      printer.print({ event: 'error', code: e instanceof ClientError ? e.code : 'PRIVATE_CHAT', message: e instanceof Error ? e.message : String(e) });
    }
  };
  /** Private messages are sent in order, one conversation after another. */
  let privateQueue: Promise<void> = Promise.resolve();

  const interactive = process.stdin.isTTY === true && process.stdout.isTTY === true && o.json !== true;
  const rl = createInterface({ input: process.stdin, ...(interactive ? { output: process.stdout, prompt: `${room.nick}> ` } : {}), terminal: interactive });
  if (interactive) {
    printer.rl = rl;
    process.stdout.write(`type a message and press Enter; /help for commands\n`);
    rl.prompt();
  }
  let quitting = false;
  let exitCode: number = Exit.OK;
  const done = new Promise<void>((resolve) => {
    const finish = async () => {
      if (quitting) return;
      quitting = true;
      rl.close();
      // Files being sent go up first (a receiver needs every chunk); downloads are abandoned.
      await Promise.allSettled([...transfers].filter((t) => t.direction === 'send').map((t) => t.done));
      await privateQueue;
      const unsent = await room.leave(30_000);
      await client.close();
      await store?.flush().catch(storeError);
      if (unsent > 0) {
        printer.print({ event: 'error', code: 'UNSENT', message: `${unsent} message(s) could not be delivered: the relay did not acknowledge them in time` });
        exitCode = Exit.FAILURE;
      }
      if (interactive) printer.print({ event: 'left' });
      resolve();
    };
    rl.on('line', (line) => {
      if (quitting) return;
      const cmd = /^\/(\S+)\s*(.*)$/.exec(line);
      const report = (e: ChatEvent) => printer.print(e);
      if (cmd === null) {
        if (line.trim().length > 0) {
          try {
            room.send(line);
          } catch (e) {
            report({ event: 'error', code: e instanceof ClientError ? e.code : 'SEND_FAILED', message: (e as Error).message });
          }
        }
      } else if (cmd[1] === 'members') {
        report({ event: 'members', members: members() });
      } else if (cmd[1] === 'verify') {
        const nick = cmd[2]!.trim();
        const sn = room.safetyNumber(nick);
        if (sn === undefined) report({ event: 'error', code: 'NO_SUCH_MEMBER', message: 'no other member has that nickname' });
        else report({ event: 'verify', nick, safetyNumber: formatSafetyNumber(sn), verified: room.trust(nick)?.verified === true, ...fingerprint() });
      } else if (cmd[1] === 'fingerprint') {
        const fp = fingerprint();
        if (fp.epoch === undefined) report({ event: 'error', code: 'NOT_JOINED', message: 'not in the room right now (reconnecting)' });
        else report({ event: 'fingerprint', ...fp });
      } else if (cmd[1] === 'verified') {
        const nick = cmd[2]!.trim();
        if (room.safetyNumber(nick) === undefined) report({ event: 'error', code: 'NO_SUCH_MEMBER', message: 'no other member has that nickname' });
        // Reported once it is on disk (an error instead if it could not be written: then it lasts this session only).
        else
          void room
            .setVerified(nick, true)
            .then(() => store?.flush())
            .then(
              () => report({ event: 'verify', nick, safetyNumber: formatSafetyNumber(room.safetyNumber(nick) ?? ''), verified: true }),
              (e: unknown) => e instanceof ClientError && storeError(e),
            );
      } else if (cmd[1] === 'send') {
        const paths = splitPaths(cmd[2] ?? '');
        if (paths.length === 0) report({ event: 'error', code: 'USAGE', message: 'usage: /send PATH...' });
        else void sendFiles(paths);
      } else if (cmd[1] === 'dm') {
        const m = /^(\S+)\s+([\s\S]+)$/.exec(cmd[2] ?? '');
        if (m === null) report({ event: 'error', code: 'USAGE', message: 'usage: /dm NICK TEXT' });
        else privateQueue = privateQueue.then(() => sendPrivate(m[1]!, m[2]!));
      } else if (cmd[1] === 'dmsend') {
        const m = /^(\S+)\s+([\s\S]+)$/.exec(cmd[2] ?? '');
        if (m === null) report({ event: 'error', code: 'USAGE', message: 'usage: /dmsend NICK PATH...' });
        else {
          const paths = splitPaths(m[2]!);
          privateQueue = privateQueue.then(async () => {
            try {
              const chat = await privateChats.open(m[1]!);
              await sendFiles(paths, privateFiles.get(chat.id));
            } catch (e) {
              fileError(e);
            }
          });
        }
      } else if (cmd[1] === 'close') {
        const c = privateChats.with((cmd[2] ?? '').trim());
        if (c === undefined) report({ event: 'error', code: 'NO_SUCH_MEMBER', message: 'no private chat with that nickname' });
        else c.close();
      } else if (cmd[1] === 'cancel') {
        for (const t of transfers) t.cancel();
      } else if (cmd[1] === 'quit') {
        void finish();
      } else if (cmd[1] === 'help') {
        for (const h of HELP) process.stdout.write(`${h}\n`);
      } else {
        report({ event: 'error', code: 'UNKNOWN_COMMAND', message: 'unknown command; /help lists them' });
      }
      if (interactive && !quitting) rl.prompt();
    });
    rl.on('close', () => void finish());
    process.once('SIGINT', () => void finish());
    process.once('SIGTERM', () => void finish());
  });
  await done;
  return exitCode;
}
