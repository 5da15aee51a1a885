/**
 * `nullroom contacts URL [add|accept|decline|block|unblock|remove USER]`: the signed-in account's
 * contacts from the terminal (docs/PROTOCOL.md §11.10, §11.7). Without an action it lists contacts,
 * incoming and outgoing requests and blocks, each with since when; with one it makes that change and
 * prints the relation after it. The session is the one `nullroom login` saved for the relay
 * (account.ts). Refusals pass the SDK's AccountError code through (`nullroom: NO_SUCH_USER: …`).
 */
import type { ContactChange, ContactEntry, ContactList } from '@nullroom/client/accounts';
import { accountFailure, printer, savedSession } from './account.js';
import { CliError, Exit } from './errors.js';
import { safe } from './output.js';

export const CONTACT_ACTIONS = ['add', 'accept', 'decline', 'block', 'unblock', 'remove'] as const;
export type ContactCommand = (typeof CONTACT_ACTIONS)[number];

export interface ContactsOptions {
  json?: boolean;
  keyDir?: string;
}

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** Runs `nullroom contacts`; the exit code. */
export async function contacts(
  url: string,
  action: ContactCommand | undefined,
  user: string | undefined,
  o: ContactsOptions,
): Promise<number> {
  if (action !== undefined && user === undefined) throw new CliError(`\`contacts URL ${action}\` needs the USER it is for`, Exit.USAGE);
  if (action === undefined && user !== undefined)
    throw new CliError('say what to do with that USER: add, accept, decline, block, unblock or remove', Exit.USAGE);
  const { key, client } = savedSession(url, o);
  const print = printer(o.json);
  try {
    if (action === undefined || user === undefined) {
      const list = await client.contacts();
      print('contacts', { relay: key, ...list }, listText(list));
      return Exit.OK;
    }
    const c = await change(client, action, user);
    print('contact', { action, relay: key, ...c }, changeText(action, c));
    return Exit.OK;
  } catch (e) {
    accountFailure(e, o.json);
  }
}

function change(client: ReturnType<typeof savedSession>['client'], action: ContactCommand, user: string): Promise<ContactChange> {
  switch (action) {
    case 'add':
      return client.requestContact(user);
    case 'accept':
      return client.acceptContact(user);
    case 'decline':
      return client.declineContact(user);
    case 'block':
      return client.blockContact(user);
    case 'unblock':
      return client.unblockContact(user);
    case 'remove':
      return client.removeContact(user);
  }
}

function listText(l: ContactList): string {
  const part = (title: string, entries: readonly ContactEntry[]) => {
    const width = Math.max(0, ...entries.map((e) => [...e.name].length));
    return [`${title} (${entries.length})`, ...entries.map((e) => `  ${safe(e.name).padEnd(width)}  since ${day(e.since)}`)];
  };
  return [
    ...part('contacts', l.contacts),
    ...part('incoming requests', l.incoming),
    ...part('your requests', l.outgoing),
    ...part('blocked', l.blocked),
  ].join('\n');
}

function changeText(action: ContactCommand, c: ContactChange): string {
  const name = safe(c.name);
  if (c.state === 'contact') return `${name} is a contact`;
  if (action === 'add') return `asked ${name} to be a contact (pending until they accept)`;
  if (action === 'decline') return `declined ${name}'s request (they are not told)`;
  if (action === 'block') return `blocked ${name}`;
  if (action === 'unblock') return `unblocked ${name}`;
  return `removed ${name}`;
}
