/**
 * `nullroom chat`: the wiring. Options are checked (chatOptions.ts), the client connects (connect.ts:
 * retries while the relay is down, errors that say what to do) and joins,
 * the room's events are printed (output.ts), and each line read is a command or a message
 * (commands.ts); files (fileTransfers.ts) and delivery state (delivery.ts) have their own modules.
 * Nothing here imports the relay.
 */
import { createInterface } from 'node:readline';
import { NullroomClient, PrivateChats, type Room, RoomName, type RoomSecret, Suites, deriveRoomSecret, roomLabel } from '@nullroom/client';
import { type FileKeyStore, type FileSessions, nodeFileOptions, nodeWebSocket } from '@nullroom/client/node';
import { type ChatOptions, type CheckedOptions, checkOptions, openKeyStore, readInvite, readPassword } from './chatOptions.js';
import { type ChatContext, otherNicks, runLine } from './commands.js';
import { complete } from './completion.js';
import { connectWithRetry } from './connect.js';
import { Delivery } from './delivery.js';
import { CliError, Exit } from './errors.js';
import { FileTransfers } from './fileTransfers.js';
import { MessageRefs, printChat, printPrivateChats } from './chatLines.js';
import { Printer, cliError, errorEvent, safe } from './output.js';
import { type SavedRoom, claimSession, drop } from './session.js';
import { TypingSignal } from './typing.js';

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
  const secret = o.room === undefined ? await readInvite() : await deriveRoomSecret(o.room, await readPassword(o));
  printer = new Printer(o.json === true);
  // An invite room is called by its label until a member tells us its name (docs/PROTOCOL.md §5.3).
  const label = o.room ?? `invite room ${await roomLabel(secret)}`;
  const print = printer.print.bind(printer);
  const saved = await claimSession(store, secret, o, print, (e) => print(errorEvent(e)));
  const client = await connect(url, o, checked, store, saved?.sessions, printer);
  const restored = saved?.snapshot === undefined ? undefined : await restore(client, saved, o.room, printer);
  const { room, names } = restored ?? (await join(client, secret, o.nick, o.room, printer));
  const refs = new MessageRefs();
  printRoom(room, names, label, printer, refs, restored !== undefined);
  if (restored !== undefined) {
    // Resumed (RESUMED, and what was missed read), or joined afresh if the relay could not give our place back.
    await room.whenJoined().catch(async (e: unknown) => {
      await client.close();
      throw new CliError(e instanceof Error ? e.message : 'cannot join the room', Exit.FAILURE);
    });
  }
  return converse({ client, room, names, label, store, saved, printer, checked, url, o, refs });
}

async function connect(
  url: string,
  o: ChatOptions,
  checked: CheckedOptions,
  store: FileKeyStore | undefined,
  sessions: FileSessions | undefined,
  printer: Printer,
): Promise<NullroomClient> {
  const make = () =>
    new NullroomClient({
      url,
      fallbackUrls: checked.fallbackUrls,
      webSocket: nodeWebSocket(checked.tls),
      suite: o.suite === 'pq' ? Suites.postQuantum : Suites.default,
      ...(store === undefined ? {} : { keyStore: store }),
      // Only a room whose session this process claimed is written (FileSessions.save).
      ...(sessions === undefined ? {} : { sessions }),
      ...(checked.sendTimeoutMs === undefined ? {} : { timings: { sendTimeoutMs: checked.sendTimeoutMs } }),
    });
  const client = await connectWithRetry(make, checked.relay, checked.tls.pin !== undefined, (e) => printer.print(e));
  client.on('connection', ({ state }) => {
    if (state === 'reconnecting' || state === 'online') printer.print({ event: 'connection', state });
  });
  client.on('error', (e) => printer.print({ event: 'error', code: e.code, message: e.message }));
  return client;
}

/** Listens for the relay's "wait" while joining (one line per wait, not one per retry). */
function watchRepairWait(r: Room, printer: Printer): void {
  // While the relay's group information cannot be used, the Room retries (docs/PROTOCOL.md §4.3):
  // a wait is one `since`; a later rejoin may wait again.
  let waitingSince: number | undefined;
  r.on('repair-wait', (e) => {
    if (e.since === waitingSince) return;
    waitingSince = e.since;
    printer.print({ event: 'repair-wait', since: e.since });
  });
}

/**
 * Takes the room's saved session up (session.ts): undefined, said in one line, when it does not
 * open (then we join afresh). Nothing may wait between the restore and printRoom: what the relay
 * replays at once must find its listeners.
 */
async function restore(client: NullroomClient, saved: SavedRoom, roomName: string | undefined, printer: Printer) {
  try {
    const room = await client.restore(saved.snapshot!);
    watchRepairWait(room, printer);
    return { room, names: new RoomName(room, roomName) };
  } catch {
    await drop(saved, printer.print.bind(printer), (e) => printer.print(errorEvent(e)), 'unreadable');
    return undefined;
  }
}

/** Joins; the room's RoomName is made before the join completes, to hear the name a member tells the joiner. */
async function join(
  client: NullroomClient,
  secret: RoomSecret,
  nick: string,
  roomName: string | undefined,
  printer: Printer,
): Promise<{ room: Room; names: RoomName }> {
  try {
    let names: RoomName | undefined;
    const onRoom = (r: Room) => {
      names = new RoomName(r, roomName);
      watchRepairWait(r, printer);
    };
    const room = await client.join({ secret, nick, onRoom });
    return { room, names: names! };
  } catch (e) {
    await client.close();
    throw new CliError(e instanceof Error ? e.message : 'cannot join the room', Exit.FAILURE);
  }
}

const suiteOf = (room: Room) => (room.suite === Suites.postQuantum ? 'pq' : 'default');

/**
 * Prints that we joined, and from now on what happens in the room. A restored room (`resuming`)
 * says it resumed once the relay gave our place back (before what we missed prints), or, if it
 * could not (RESUME_FAILED), says so in one line and then that we joined as a new member.
 */
function printRoom(room: Room, names: RoomName, label: string, printer: Printer, refs: MessageRefs, resuming: boolean): void {
  const print = printer.print.bind(printer);
  const name = () => names.name ?? label;
  const joined = (resumed: boolean) =>
    print({
      event: 'joined',
      created: room.created,
      nick: room.nick,
      members: room.members().map((m) => m.nick),
      suite: suiteOf(room),
      room: name(),
      ...(resumed ? { resumed: true as const } : {}),
    });
  let start: 'resuming' | 'refused' | 'done' = resuming ? 'resuming' : 'done';
  if (!resuming) joined(false);
  room.on('phase', (e) => {
    if (start !== 'resuming' || e.phase !== 'joined') return;
    start = 'done';
    joined(true);
  });
  names.on('name', (e) => print({ event: 'room-name', name: e.name, by: e.by, self: e.self, told: e.told }));
  room.on('joined', (e) => {
    const first = start === 'refused';
    start = 'done';
    print({
      event: 'joined',
      created: e.created,
      nick: e.nick,
      members: e.members,
      suite: suiteOf(room),
      room: name(),
      ...(first ? {} : { rejoin: true }),
    });
  });
  room.on('member-joined', (e) => print({ event: 'member-joined', nick: e.nick }));
  room.on('member-left', (e) => print({ event: 'member-left', nick: e.nick }));
  // Key changes (and errors) found while joining were kept by the room for its first listener: they print now.
  room.on('key-changed', (e) => print({ event: 'key-changed', nick: e.nick, wasVerified: e.wasVerified }));
  room.on('disruption', (e) => print({ event: 'disruption', ...e }));
  printChat(room, refs, print);
  room.on('error', (e) => {
    if (e.code !== 'RESUME_FAILED' || start !== 'resuming') return print({ event: 'error', code: e.code, message: e.message });
    start = 'refused';
    print({ event: 'fresh-join', reason: 'refused' });
  });
  room.on('fork-suspected', (e) =>
    print({ event: 'fork-suspected', epoch: e.epoch, fingerprint: e.fingerprint, unreadable: e.unreadable }),
  );
}

/** Private chats: opened by either side, read by nobody else; their files arrive like the room's. */
function openPrivateChats(room: Room, o: ChatOptions, files: FileTransfers, printer: Printer, refs: MessageRefs): PrivateChats {
  const print = printer.print.bind(printer);
  const chats = new PrivateChats(room, { routing: o.privateRouting === 'direct' ? 'direct' : 'hidden' });
  chats.on('opened', (e) => {
    files.openChat(e.chat);
    print({ event: 'private-opened', with: e.chat.peer, byUs: e.byUs });
  });
  chats.on('closed', (e) => print({ event: 'private-closed', with: e.chat.peer, byUs: e.byUs }));
  chats.on('peer-left', (e) => print({ event: 'private-peer-left', with: e.chat.peer }));
  chats.on('peer-back', (e) => print({ event: 'private-peer-back', with: e.chat.peer }));
  printPrivateChats(chats, refs, print);
  chats.on('error', (e) => print({ event: 'error', code: e.code, message: e.message }));
  return chats;
}

interface Joined {
  client: NullroomClient;
  room: Room;
  names: RoomName;
  /** What the room is called while it has no name (an invite room's label). */
  label: string;
  store: FileKeyStore | undefined;
  /** The room's saved session, when this process holds it (session.ts). */
  saved: SavedRoom | undefined;
  printer: Printer;
  checked: CheckedOptions;
  url: string;
  o: ChatOptions;
  refs: MessageRefs;
}

/** Reads lines until /quit, end of input or a signal, then leaves; resolves with the exit code. */
async function converse({ client, room, names, label, store, saved, printer, checked, url, o, refs }: Joined): Promise<number> {
  const print = printer.print.bind(printer);
  // One blob transport (its keep-alive connections) for the room and its private chats; node:crypto for SHA-256 and AES-GCM.
  const files = new FileTransfers(room, {
    files: nodeFileOptions(url, checked.tls),
    maxFile: checked.maxFile,
    downloadDir: checked.downloadDir,
    json: o.json === true,
    keepMetadata: o.keepMetadata === true,
    report: print,
  });
  const privateChats = openPrivateChats(room, o, files, printer, refs);
  const interactive = process.stdin.isTTY === true && process.stdout.isTTY === true && o.json !== true;
  // The prompt names the room (as its members named it) and us: `[Book club] alice> `.
  const roomPrompt = () => `[${safe(names.name ?? label)}] ${room.nick}> `;
  const rl = createInterface({
    input: process.stdin,
    ...(interactive ? { output: process.stdout, prompt: roomPrompt(), completer: (line: string) => complete(line, otherNicks(room)) } : {}),
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
    names,
    privateChats,
    files,
    delivery: new Delivery(room, privateChats, print),
    refs,
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
      rl.setPrompt(peer === undefined ? roomPrompt() : `[dm ${safe(peer)}]> `);
      print(peer === undefined ? { event: 'mode', mode: 'room' } : { event: 'mode', mode: 'dm', with: peer });
    },
  };
  // Private mode ends with its conversation: the chat closed, or its peer left the room.
  const endsMode = (peer: string) => dmPeer === peer && ctx.setMode(undefined);
  privateChats.on('closed', (e) => endsMode(e.chat.peer));
  names.on('name', () => dmPeer === undefined && rl.setPrompt(roomPrompt()));
  room.on('member-left', (e) => endsMode(e.nick));
  // Typing goes where the line being edited will be sent: the room, or private mode's chat.
  const typing =
    interactive && o.typing !== false ? new TypingSignal(() => (dmPeer === undefined ? room : privateChats.with(dmPeer))) : undefined;
  typing?.attach(rl, process.stdin);
  const leave = async (): Promise<number> => {
    rl.close();
    printer.rl = undefined;
    // Files being sent go up first (a receiver needs every chunk); downloads are abandoned.
    await files.uploads();
    await privateQueue;
    typing?.stop();
    // Leaving is final: the saved session goes before the LEAVE, and no save under way writes it again.
    await saved?.sessions.forget(saved.room).catch((e: unknown) => print(errorEvent(e)));
    const unsent = await room.leave(30_000);
    ctx.delivery.lost();
    await client.close();
    await store?.flush().catch((e: unknown) => print(errorEvent(e)));
    await saved?.sessions.release(saved.room).catch(() => undefined);
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
    typing?.stop();
    if (interactive && quitting === undefined) rl.prompt();
  });
  rl.on('close', ctx.quit);
  process.once('SIGINT', ctx.quit);
  process.once('SIGTERM', ctx.quit);
  await new Promise((resolve) => rl.once('close', resolve));
  return quit();
}
