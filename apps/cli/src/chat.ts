/**
 * `nullroom chat`: the wiring. Options are checked (chatOptions.ts), the client connects (connect.ts:
 * retries while the relay is down, errors that say what to do) and joins,
 * the room's events are printed (output.ts), and each line read is a command or a message
 * (commands.ts); files (fileTransfers.ts) and delivery state (delivery.ts) have their own modules.
 * Nothing here imports the relay.
 */
import { createInterface } from 'node:readline';
import { NullroomClient, PrivateChats, type Room, type RoomSecret, Suites, deriveRoomSecret } from '@nullroom/client';
import { type FileKeyStore, nodeFileOptions, nodeWebSocket } from '@nullroom/client/node';
import { type ChatOptions, type CheckedOptions, checkOptions, openKeyStore, readPassword } from './chatOptions.js';
import { type ChatContext, otherNicks, runLine } from './commands.js';
import { complete } from './completion.js';
import { connectWithRetry } from './connect.js';
import { Delivery } from './delivery.js';
import { CliError, Exit } from './errors.js';
import { FileTransfers } from './fileTransfers.js';
import { Printer, cliError, errorEvent, safe } from './output.js';

export type { ChatOptions } from './chatOptions.js';

export async function chat(url: string, o: ChatOptions): Promise<number> {
  try {
    return await run(url, o);
  } catch (e) {
    // Under --json a script reads stdout: a failure at start that has a code is an `error` event there too.
    if (o.json === true && e instanceof CliError && e.code !== undefined)
      process.stdout.write(`${JSON.stringify(cliError(e.code, e.message))}\n`);
    throw e;
  }
}

async function run(url: string, o: ChatOptions): Promise<number> {
  const checked = await checkOptions(url, o);
  let printer: Printer | undefined;
  const store = await openKeyStore(o, (e) => printer?.print(errorEvent(e)));
  const password = await readPassword(o);
  printer = new Printer(o.json === true);
  const secret = await deriveRoomSecret(o.room, password);
  const client = await connect(url, o, checked, store, printer);
  const room = await join(client, secret, o.nick, printer);
  printRoom(room, printer);
  return converse({ client, room, store, printer, checked, url, o });
}

async function connect(
  url: string,
  o: ChatOptions,
  checked: CheckedOptions,
  store: FileKeyStore | undefined,
  printer: Printer,
): Promise<NullroomClient> {
  const make = () =>
    new NullroomClient({
      url,
      webSocket: nodeWebSocket(checked.tls),
      suite: o.suite === 'pq' ? Suites.postQuantum : Suites.default,
      ...(store === undefined ? {} : { keyStore: store }),
      ...(checked.sendTimeoutMs === undefined ? {} : { timings: { sendTimeoutMs: checked.sendTimeoutMs } }),
    });
  const client = await connectWithRetry(make, checked.relay, checked.tls.pin !== undefined, (e) => printer.print(e));
  client.on('connection', ({ state }) => {
    if (state === 'reconnecting' || state === 'online') printer.print({ event: 'connection', state });
  });
  client.on('error', (e) => printer.print({ event: 'error', code: e.code, message: e.message }));
  return client;
}

async function join(client: NullroomClient, secret: RoomSecret, nick: string, printer: Printer): Promise<Room> {
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
    return await client.join({ secret, nick, onRoom });
  } catch (e) {
    await client.close();
    throw new CliError(e instanceof Error ? e.message : 'cannot join the room', Exit.FAILURE);
  }
}

const suiteOf = (room: Room) => (room.suite === Suites.postQuantum ? 'pq' : 'default');

/** Prints that we joined, and from now on what happens in the room. */
function printRoom(room: Room, printer: Printer): void {
  const print = printer.print.bind(printer);
  print({ event: 'joined', created: room.created, nick: room.nick, members: room.members().map((m) => m.nick), suite: suiteOf(room) });
  room.on('joined', (e) =>
    print({ event: 'joined', created: e.created, nick: e.nick, members: e.members, suite: suiteOf(room), rejoin: true }),
  );
  room.on('member-joined', (e) => print({ event: 'member-joined', nick: e.nick }));
  room.on('member-left', (e) => print({ event: 'member-left', nick: e.nick }));
  // Key changes (and errors) found while joining were kept by the room for its first listener: they print now.
  room.on('key-changed', (e) => print({ event: 'key-changed', nick: e.nick, wasVerified: e.wasVerified }));
  room.on('disruption', (e) => print({ event: 'disruption', ...e }));
  room.on('message', (e) =>
    print({ event: 'message', from: e.from, text: e.text, ts: e.ts, ...(e.outOfOrder ? { outOfOrder: true } : {}) }),
  );
  room.on('error', (e) => print({ event: 'error', code: e.code, message: e.message }));
  room.on('fork-suspected', (e) =>
    print({ event: 'fork-suspected', epoch: e.epoch, fingerprint: e.fingerprint, unreadable: e.unreadable }),
  );
}

/** Private chats: opened by either side, read by nobody else; their files arrive like the room's. */
function openPrivateChats(room: Room, o: ChatOptions, files: FileTransfers, printer: Printer): PrivateChats {
  const print = printer.print.bind(printer);
  const chats = new PrivateChats(room, { routing: o.privateRouting === 'direct' ? 'direct' : 'hidden' });
  chats.on('opened', (e) => {
    files.openChat(e.chat);
    print({ event: 'private-opened', with: e.chat.peer, byUs: e.byUs });
  });
  chats.on('closed', (e) => print({ event: 'private-closed', with: e.chat.peer, byUs: e.byUs }));
  chats.on('message', (e) => print({ event: 'message', from: e.from, text: e.text, private: true, with: e.chat.peer, ts: e.ts }));
  chats.on('error', (e) => print({ event: 'error', code: e.code, message: e.message }));
  return chats;
}

interface Joined {
  client: NullroomClient;
  room: Room;
  store: FileKeyStore | undefined;
  printer: Printer;
  checked: CheckedOptions;
  url: string;
  o: ChatOptions;
}

/** Reads lines until /quit, end of input or a signal, then leaves; resolves with the exit code. */
async function converse({ client, room, store, printer, checked, url, o }: Joined): Promise<number> {
  const print = printer.print.bind(printer);
  // One blob transport (its keep-alive connections) for the room and its private chats; node:crypto for SHA-256 and AES-GCM.
  const files = new FileTransfers(room, {
    files: nodeFileOptions(url, checked.tls),
    maxFile: checked.maxFile,
    downloadDir: checked.downloadDir,
    json: o.json === true,
    report: print,
  });
  const privateChats = openPrivateChats(room, o, files, printer);
  const interactive = process.stdin.isTTY === true && process.stdout.isTTY === true && o.json !== true;
  const roomPrompt = `${room.nick}> `;
  const rl = createInterface({
    input: process.stdin,
    ...(interactive ? { output: process.stdout, prompt: roomPrompt, completer: (line: string) => complete(line, otherNicks(room)) } : {}),
    terminal: interactive,
  });
  let dmPeer: string | undefined;
  /** Private messages and files are sent in order, one conversation after another. */
  let privateQueue: Promise<void> = Promise.resolve();
  let quitting: Promise<number> | undefined;
  // Started on the next tick: leave() closes `rl`, whose 'close' asks to quit again.
  const quit = () => (quitting ??= Promise.resolve().then(leave));
  const ctx: ChatContext = {
    room,
    privateChats,
    files,
    delivery: new Delivery(room, privateChats, print),
    store,
    report: print,
    inOrder: (job) => (privateQueue = privateQueue.then(job).catch((e: unknown) => print(errorEvent(e)))),
    quit: () => void quit(),
    show: (lines) => printer.show(lines),
    json: o.json === true,
    get dmPeer() {
      return dmPeer;
    },
    setMode: (peer) => {
      dmPeer = peer;
      rl.setPrompt(peer === undefined ? roomPrompt : `[dm ${safe(peer)}]> `);
      print(peer === undefined ? { event: 'mode', mode: 'room' } : { event: 'mode', mode: 'dm', with: peer });
    },
  };
  // Private mode ends with its conversation: the chat closed, or its peer left the room.
  const endsMode = (peer: string) => dmPeer === peer && ctx.setMode(undefined);
  privateChats.on('closed', (e) => endsMode(e.chat.peer));
  room.on('member-left', (e) => endsMode(e.nick));
  const leave = async (): Promise<number> => {
    rl.close();
    printer.rl = undefined;
    // Files being sent go up first (a receiver needs every chunk); downloads are abandoned.
    await files.uploads();
    await privateQueue;
    const unsent = await room.leave(30_000);
    ctx.delivery.lost();
    await client.close();
    await store?.flush().catch((e: unknown) => print(errorEvent(e)));
    if (unsent > 0) print(cliError('UNSENT', `${unsent} message(s) could not be delivered: the relay did not acknowledge them in time`));
    if (interactive) print({ event: 'left' });
    return unsent === 0 ? Exit.OK : Exit.FAILURE;
  };
  if (interactive) {
    printer.rl = rl;
    process.stdout.write(`type a message and press Enter; /help for commands, Tab to complete them and nicknames\n`);
    rl.prompt();
  }
  rl.on('line', (line) => {
    if (quitting !== undefined) return;
    if (interactive) printer.typed();
    runLine(ctx, line);
    if (interactive && quitting === undefined) rl.prompt();
  });
  rl.on('close', ctx.quit);
  process.once('SIGINT', ctx.quit);
  process.once('SIGTERM', ctx.quit);
  await new Promise((resolve) => rl.once('close', resolve));
  return quit();
}
