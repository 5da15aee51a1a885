/**
 * Account conversations from the terminal (docs/PROTOCOL.md §11.7, §11.9): on the session `login`
 * saved and this terminal's device key (devices.ts), through the SDK's Messenger, with the
 * conversations sealed in the key folder (FileMessengerStore).
 *
 *   nullroom inbox URL [--follow]         every message waiting for this device, then exit (or keep following)
 *   nullroom send URL USER... --text T    to the conversation with exactly these accounts (started if none)
 *   nullroom talk URL USER...             that conversation, interactively: lines typed are sent
 *
 * With --json each message is `{"event":"message","conversation","from","id","text","at","sentAt"}`,
 * a new conversation `{"event":"conversation","conversation","members"}`, a send `{"event":"sent",
 * "conversation","id"}`. Text from others is printed with terminal controls escaped.
 */
import { createInterface } from 'node:readline';
import type { Messenger as MessengerType } from '@nullroom/client/accounts';
import { FileMessengerStore, nodeWebSocket } from '@nullroom/client/node';
import { accountFailure, printer, save, savedSession } from './account.js';
import { deviceTools } from './devices.js';
import { CliError, Exit } from './errors.js';
import { safeText } from './output.js';

export interface MessagesOptions {
  keyDir?: string;
  json?: boolean;
  text?: string;
  follow?: boolean;
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
  return {
    url: key,
    name,
    me,
    device: mine.device,
    devices,
    socket: nodeWebSocket({ headers: { authorization: `Bearer ${saved.token}` } }),
    store: await FileMessengerStore.open(dir, key, name),
  };
}

async function startMessenger(url: string, o: MessagesOptions) {
  const { Messenger } = await import('@nullroom/client/accounts');
  const opts = await messengerOptions(url, o);
  return { m: await Messenger.start(opts), name: opts.name };
}

/** Publishes this terminal's KeyPackages (after register or login: others can then start conversations with it). */
export async function publishKeyPackages(url: string, o: { keyDir?: string }): Promise<void> {
  const { Messenger } = await import('@nullroom/client/accounts');
  await Messenger.publish(await messengerOptions(url, o));
}

function show(m: MessengerType, me: string, print: Print, only?: string): void {
  m.on('message', (x) => {
    if (only !== undefined && x.conversation !== only) return;
    const at = new Date(x.at).toISOString().slice(11, 16);
    print(
      'message',
      { conversation: x.conversation, from: x.from, id: x.id, text: x.text, at: x.at, sentAt: x.sentAt },
      `[${at}] ${safeText(x.from)}: ${safeText(x.text)}`,
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

export async function messages(command: 'inbox' | 'send' | 'talk', url: string, users: string[], o: MessagesOptions): Promise<number> {
  const print = printer(o.json);
  let m: MessengerType | undefined;
  try {
    const started = await startMessenger(url, o);
    m = started.m;
    if (command === 'inbox') {
      show(m, started.name, print);
      await m.caughtUp();
      if (o.follow) await new Promise(() => undefined);
      return Exit.OK;
    }
    const id = await conversationWith(m, users);
    if (command === 'send') {
      if (o.text === undefined || o.text.length === 0) throw new CliError('--text is required', Exit.USAGE);
      const sent = await m.sendText(id, o.text);
      print('sent', { conversation: id, id: sent }, `sent to ${users.map(safeText).join(', ')}`);
      return Exit.OK;
    }
    show(m, started.name, print, id);
    print(
      'talking',
      { conversation: id, members: await m.members(id) },
      `talking with ${users.map(safeText).join(', ')} (Ctrl-D to leave)`,
    );
    for await (const line of createInterface({ input: process.stdin })) {
      if (line.trim().length === 0) continue;
      const sent = await m.sendText(id, line);
      if (o.json) print('sent', { conversation: id, id: sent }, '');
    }
    return Exit.OK;
  } catch (e) {
    // The SDK's local failures (a store in use by another process, or damaged) keep their code too.
    if (e instanceof Error && e.name === 'ClientError' && typeof (e as { code?: unknown }).code === 'string') {
      const code = (e as Error & { code: string }).code;
      if (o.json) print('error', { code, message: e.message }, '');
      throw new CliError(`${code}: ${e.message}`, Exit.FAILURE);
    }
    return accountFailure(e, o.json);
  } finally {
    await m?.settled().catch(() => undefined);
    m?.close();
  }
}
