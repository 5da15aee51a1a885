/**
 * Account conversations from the terminal (docs/PROTOCOL.md §11.7, §11.9): on the session `login`
 * saved and this terminal's device key (devices.ts), through the SDK's Messenger, with the
 * conversations sealed in the key folder (FileMessengerStore).
 *
 *   nullroom inbox URL [--follow]         every message waiting for this device, then exit (or keep following);
 *                                         what it printed counts as read
 *   nullroom send URL USER... --text T    to the conversation with exactly these accounts (started if none);
 *                 (or --file PATH)        --file sends a file instead (encrypted, through the relay's blob store)
 *   nullroom talk URL USER...             that conversation, interactively: its last 20 messages (read now),
 *                                         then lines typed are sent (`/file PATH` sends a file, `/reply N TEXT`
 *                                         answers the message printed as #N)
 *   nullroom download URL CONV MSG [--out DIR]   fetches, verifies and saves a file message's file (a new
 *                                         name beside an existing one, never over it; default: here)
 *   nullroom conversations URL            every conversation: its id's first 8 characters (what `group`
 *                                         takes), name, members, unread count, last message time
 *
 * Messages are kept in the sealed history beside the conversations (FileMessengerStore.history()).
 * With --json each message is `{"event":"message","conversation","from","id","text","at","sentAt","file"?,"replyTo"?}`
 * (`file`: `{name, size, mime}`, shown as "file NAME (SIZE)"; a download `{"event":"downloaded",…,"path","sha256"}`),
 * one of the history `talk` shows first `{"event":"history",…,"own","status"?}`, a new conversation
 * `{"event":"conversation","conversation","members"}`, a send `{"event":"sent","conversation","id"}`,
 * a receipt (talk) `{"event":"delivered","conversation","id","devices","of"}`, a listed conversation
 * `{"event":"conversation","conversation","members","unread","lastAt","name"}` (`name` null when none);
 * a notice of the history (members added, removed, left, renamed: §11.15) is a `history` event with
 * `kind: "notice"` and its `notice`, shown as `* alice added bob`. Text is printed with
 * terminal controls escaped, a message's further lines indented.
 *
 * `talk` numbers the messages it prints, `[12:00] #3 alice: text` (`ref` in its `history` and
 * `message` events), from 1 each time it starts; `/reply 3 TEXT` answers that one (its `sent` event
 * has the `replyTo`). A reply (`replyTo`: the id it answers) prints a one-row quote of that
 * message first, `> alice: lunch at noon?` (or `> (original not available)`).
 */
import { createInterface } from 'node:readline';
import { formatBytes } from '@nullroom/client';
import type { Messenger as MessengerType, StoredMessage } from '@nullroom/client/accounts';
import { FileMessengerStore, fileSource, folderSink, nodeAesGcm, nodeSha256, nodeWebSocket } from '@nullroom/client/node';
import { accountFailure, printer, save, savedSession } from './account.js';
import { MessageRefs } from './chatLines.js';
import { deviceTools } from './devices.js';
import { CliError, Exit } from './errors.js';
import { safeText } from './output.js';

export interface MessagesOptions {
  keyDir?: string;
  json?: boolean;
  text?: string;
  file?: string;
  follow?: boolean;
  /** `download`: the folder the file is saved in (default: the current one). */
  out?: string;
}

type Print = ReturnType<typeof printer>;

/** What the Messenger needs: this terminal's account, identity, device id and store. */
async function messengerOptions(url: string, o: { keyDir?: string }) {
  const { key, dir, file, saved, client } = savedSession(url, o);
  if (saved.token === undefined || saved.name === undefined)
    throw new CliError(`not signed in on ${key}: nullroom login ${key} --user NAME`, Exit.FAILURE);
  const name = saved.name;
  const { me, devices } = await deviceTools(client, saved, name, () => save(dir, file));
  const mine = (await devices.devices()).find((d) => d.identityKey.every((b, i) => b === me.publicKey[i]));
  if (mine === undefined)
    throw new CliError('this terminal is not a device of the account: log in again to ask for approval', Exit.FAILURE);
  // A session saved before sessions were tied to devices (§11.8) becomes this device's.
  if ((await client.whoami())?.device === undefined) await devices.bind(mine.device);
  return {
    url: key,
    name,
    me,
    device: mine.device,
    devices,
    socket: nodeWebSocket({ headers: { authorization: `Bearer ${saved.token}` } }),
    store: await FileMessengerStore.open(dir, key, name),
    files: { client, hash: nodeSha256, aead: nodeAesGcm },
  };
}

export async function startMessenger(url: string, o: MessagesOptions) {
  const { Messenger, MessageHistory } = await import('@nullroom/client/accounts');
  const opts = await messengerOptions(url, o);
  try {
    return { m: await Messenger.start({ ...opts, history: new MessageHistory(opts.store.history()) }), name: opts.name };
  } catch (e) {
    await opts.store.close();
    throw e;
  }
}

/**
 * Runs one account command on a started Messenger and ends it the one way they all do: a failure
 * (starting included) is said as accountFailure says it, and the Messenger settles what it had under
 * way and closes, whatever happened.
 */
export async function withMessenger(
  url: string,
  o: MessagesOptions,
  run: (m: MessengerType, name: string) => Promise<number>,
): Promise<number> {
  let m: MessengerType | undefined;
  try {
    const started = await startMessenger(url, o);
    m = started.m;
    return await run(m, started.name);
  } catch (e) {
    return accountFailure(e, o.json);
  } finally {
    await m?.settled().catch(() => undefined);
    m?.close();
  }
}

/** Publishes this terminal's KeyPackages (after register or login: others can then start conversations with it). */
export async function publishKeyPackages(url: string, o: { keyDir?: string }): Promise<void> {
  const { Messenger } = await import('@nullroom/client/accounts');
  await Messenger.publish(await messengerOptions(url, o));
}

const hhmm = (at: number) => new Date(at).toISOString().slice(11, 16);

function show(m: MessengerType, me: string, print: Print): void {
  m.on('message', (x) => {
    print(
      'message',
      { conversation: x.conversation, from: x.from, id: x.id, text: x.text, at: x.at, sentAt: x.sentAt, ...fileFields(x), ...re(x) },
      `[${hhmm(x.at)}] ${safeText(x.from)}: ${content(x)}`,
    );
  });
  m.on('conversation', (c) => {
    const others = c.members.filter((n) => n !== me);
    print('conversation', { conversation: c.id, members: c.members }, `new conversation with ${others.map(safeText).join(', ')}`);
  });
  m.on('warning', (w) => print('warning', w, `warning: ${w.code}`));
}

/** The conversation with exactly `users` (and us), started if there is none. */
async function conversationWith(m: MessengerType, users: string[]): Promise<string> {
  if (users.length === 0) throw new CliError('name at least one account', Exit.USAGE);
  await m.caughtUp(); // a conversation someone else started is in the mailbox
  return (await m.find(users)) ?? m.startConversation(users);
}

/**
 * `talk`: the conversation's last 20 messages, then each one as it comes, read from the history
 * (so none twice, none missed between the two) and read as shown; lines typed are sent.
 */
async function talk(m: MessengerType, id: string, users: string[], print: Print, json: boolean | undefined): Promise<void> {
  await m.settled();
  const page = await m.messages(id, { limit: 20 });
  const refs = new MessageRefs();
  /** Its number (a message, not a notice) and, for a reply, the quote row before it. */
  const shown = async (x: StoredMessage) => {
    if (x.kind === 'notice') return { ref: {}, line: historyLine(x) };
    const ref = refs.add(x.id);
    const quote = x.replyTo === undefined ? '' : `${await quoteRow(m, id, x.replyTo)}\n`;
    return { ref: { ref }, line: `${quote}${historyLine(x, ref)}` };
  };
  for (const x of page) {
    const s = await shown(x);
    print('history', { ...historyFields(x), ...s.ref }, s.line);
  }
  let last = page.at(-1)?.index ?? -1;
  let turn = m.markRead(id);
  const more = () => {
    turn = turn
      .then(async () => {
        for (const x of (await m.messages(id, { limit: 1000 })).filter((y) => y.index > last)) {
          last = x.index;
          if (x.status !== undefined) continue; // typed here: already on the screen
          const s = await shown(x);
          if (x.kind === 'notice') {
            print('history', historyFields(x), s.line);
            continue;
          }
          const { conversation, from, text, at, sentAt } = x;
          print('message', { conversation, from, id: x.id, text, at, sentAt, ...fileFields(x), ...re(x), ...s.ref }, s.line);
        }
        await m.markRead(id);
      })
      .catch(() => undefined);
  };
  m.on('message', (x) => x.conversation === id && more());
  m.on('changed', (x) => x.message.conversation === id && more());
  m.on('warning', (w) => print('warning', w, `warning: ${w.code}`));
  if (json) {
    m.on('delivered', (d) => {
      if (d.conversation === id) print('delivered', { conversation: id, id: d.id, devices: d.deliveredTo.length, of: d.recipients }, '');
    });
  }
  print('talking', { conversation: id, members: await m.members(id) }, `talking with ${users.map(safeText).join(', ')} (Ctrl-D to leave)`);
  for await (const line of createInterface({ input: process.stdin })) {
    if (line.trim().length === 0) continue;
    const path = /^\/file\s+(.+)$/.exec(line)?.[1]?.trim();
    const reply = /^\/reply(\s|$)/.test(line);
    if (path === undefined && !reply) {
      const sent = await m.sendText(id, line);
      if (json) print('sent', { conversation: id, id: sent }, '');
      continue;
    }
    // A command's failure (a file that cannot be read, a number not printed) is said, and talk goes on.
    const sent = await (path !== undefined ? sendFile(m, id, path).then((x) => ({ id: x })) : sendReply(m, id, line, refs)).catch(
      (e: unknown) => void report(e, json),
    );
    if (sent !== undefined && json) print('sent', { conversation: id, ...sent }, '');
  }
  await turn;
}

/** `/reply N TEXT`: answers the message printed as #N (USAGE without N and TEXT, NO_SUCH_MESSAGE for a number not printed). */
async function sendReply(m: MessengerType, id: string, line: string, refs: MessageRefs): Promise<{ id: string; replyTo: string }> {
  const [, n, text] = /^\/reply\s+(\d+)\s+(\S.*)$/s.exec(line) ?? [];
  if (n === undefined || text === undefined) throw new CliError('usage: /reply N TEXT', Exit.USAGE, 'USAGE');
  const replyTo = refs.id(Number(n));
  if (replyTo === undefined) throw new CliError(`no message was printed as #${n}`, Exit.FAILURE, 'NO_SUCH_MESSAGE');
  return { id: await m.sendText(id, text, { replyTo }), replyTo };
}

const QUOTE_CHARS = 60;
/** `> alice: lunch at noon?`: what a reply answers, on one row, from the history (the newest first). */
async function quoteRow(m: MessengerType, conversation: string, replyTo: string): Promise<string> {
  const q = await m.message(conversation, replyTo).catch(() => undefined);
  if (q === undefined || q.kind === 'notice') return '> (original not available)';
  const flat = (q.file === undefined ? q.text : `file ${q.file.name}`).replace(/\s+/g, ' ').trim();
  const cut = [...flat].length > QUOTE_CHARS ? `${[...flat].slice(0, QUOTE_CHARS).join('')}\u2026` : flat;
  return `> ${q.own ? 'me' : safeText(q.from)}: ${safeText(cut)}`;
}

const re = (x: Pick<StoredMessage, 'replyTo'>) => (x.replyTo === undefined ? {} : { replyTo: x.replyTo });

function historyFields(x: StoredMessage): Record<string, unknown> {
  const { conversation, from, own, id, text, at, sentAt, status, kind, notice } = x;
  return {
    conversation,
    from,
    own,
    id,
    text,
    at,
    sentAt,
    ...(status && { status }),
    ...(kind && { kind, notice }),
    ...fileFields(x),
    ...re(x),
  };
}

/** A notice (§11.15) as a line: who did what. */
function noticeLine(x: StoredMessage): string {
  const n = x.notice;
  const by = x.own ? 'you' : safeText(n?.by ?? '');
  const names = (n?.names ?? []).map(safeText).join(', ');
  if (n?.what === 'renamed') return `* ${by} renamed the conversation to "${safeText(n.name ?? '')}"`;
  if (n?.what === 'left') return `* ${by} left`;
  return `* ${by} ${n?.what === 'added' ? 'added' : 'removed'} ${names}`;
}

/** A file message's file as the terminal shows it (never its key). */
const fileFields = (x: Pick<StoredMessage, 'file'>) =>
  x.file === undefined ? {} : { file: { name: x.file.name, size: x.file.size, mime: x.file.mime } };
/** A message's text (its further lines indented, as rooms print them, so that none reads as a line of its own) or file. */
const content = (x: Pick<StoredMessage, 'file' | 'text'>) =>
  x.file === undefined ? safeText(x.text).replace(/\n/g, '\n    ') : `file ${safeText(x.file.name)} (${formatBytes(x.file.size)})`;

/** `[12:00] #3 alice: text` (`ref`: its number in `talk`). */
function historyLine(x: StoredMessage, ref?: number): string {
  if (x.kind === 'notice') return `[${hhmm(x.at)}] ${noticeLine(x)}`;
  const mark = x.status === 'failed' ? ' (not sent)' : x.status === 'sending' ? ' (sending)' : '';
  return `[${hhmm(x.at)}] ${ref === undefined ? '' : `#${ref} `}${x.own ? 'me' : safeText(x.from)}: ${content(x)}${mark}`;
}

/** Sends the file at `path` (read chunk by chunk, never whole): its message id. */
async function sendFile(m: MessengerType, id: string, path: string): Promise<string> {
  const source = await fileSource(path).catch(() => {
    throw new CliError(`cannot read ${path}`, Exit.USAGE);
  });
  try {
    return await m.sendFile(id, source);
  } finally {
    await source.close();
  }
}

/** An error `talk` shows and goes on after. */
function report(e: unknown, json: boolean | undefined): void {
  const code = (e as { code?: unknown }).code;
  const message = e instanceof Error ? e.message : String(e);
  if (json) process.stdout.write(`${JSON.stringify({ event: 'error', code: typeof code === 'string' ? code : 'ERROR', message })}\n`);
  else process.stderr.write(`nullroom: ${typeof code === 'string' ? `${code}: ` : ''}${message}\n`);
}

/** `download`: the file of message `msg` in conversation `id`, verified, saved under a safe name that replaces nothing. */
async function download(m: MessengerType, id: string, msg: string, o: MessagesOptions, print: Print): Promise<void> {
  await m.caughtUp();
  await m.settled();
  const dir = o.out ?? process.cwd();
  const sink = (file: { name: string }) =>
    folderSink(dir, file.name).catch(() => {
      throw new CliError(`cannot write in ${dir}`, Exit.USAGE);
    });
  const f = await m.downloadFile(id, msg, { sink });
  print(
    'downloaded',
    { conversation: id, id: msg, name: f.name, size: f.size, sha256: f.sha256, path: f.path ?? '' },
    `saved ${safeText(f.path ?? f.name)} (${formatBytes(f.size)}), verified`,
  );
}

/** Every conversation, the most recently active first. */
async function listConversations(m: MessengerType, me: string, print: Print, json: boolean | undefined): Promise<void> {
  await m.caughtUp();
  const list = await m.conversationList();
  for (const c of list) {
    const others = c.members.filter((n) => n !== me);
    const lastAt = c.last?.at ?? null;
    const when = lastAt === null ? 'no messages' : `last ${new Date(lastAt).toISOString().slice(0, 16).replace('T', ' ')}`;
    const who = others.length === 0 ? '(only you)' : others.map(safeText).join(', ');
    print(
      'conversation',
      { conversation: c.id, members: c.members, unread: c.unread, lastAt, name: c.name ?? null },
      `${c.id.slice(0, 8)}  ${c.name === undefined ? '' : `"${safeText(c.name)}" `}${who}: ${c.unread} unread, ${when}`,
    );
  }
  if (list.length === 0 && !json) print('none', {}, 'no conversations yet');
}

/** `inbox`: what arrives is printed; each conversation printed counts as read (after the mailbox, and as it comes with --follow). */
async function inbox(m: MessengerType, me: string, print: Print, follow: boolean | undefined): Promise<void> {
  const printed = new Set<string>();
  let caught = false;
  show(m, me, print);
  m.on('message', (x) => (caught ? void m.markRead(x.conversation).catch(() => undefined) : printed.add(x.conversation)));
  await m.caughtUp();
  await m.settled();
  for (const id of printed) await m.markRead(id);
  caught = true;
  if (follow) await new Promise(() => undefined);
}

export async function messages(
  command: 'inbox' | 'send' | 'talk' | 'conversations' | 'download',
  url: string,
  users: string[],
  o: MessagesOptions,
): Promise<number> {
  const print = printer(o.json);
  return withMessenger(url, o, async (m, name) => {
    if (command === 'inbox') {
      await inbox(m, name, print, o.follow);
      return Exit.OK;
    }
    if (command === 'conversations') {
      await listConversations(m, name, print, o.json);
      return Exit.OK;
    }
    if (command === 'download') {
      await download(m, users[0] ?? '', users[1] ?? '', o, print);
      return Exit.OK;
    }
    const id = await conversationWith(m, users);
    if (command === 'send') {
      if ((o.text === undefined || o.text.length === 0) === (o.file === undefined))
        throw new CliError('give --text or --file (one of them)', Exit.USAGE);
      const sent = o.file === undefined ? await m.sendText(id, o.text!) : await sendFile(m, id, o.file);
      print('sent', { conversation: id, id: sent }, `sent to ${users.map(safeText).join(', ')}`);
      return Exit.OK;
    }
    await talk(m, id, users, print, o.json);
    return Exit.OK;
  });
}
