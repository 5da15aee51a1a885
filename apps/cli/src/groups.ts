/**
 * Group management of account conversations from the terminal (docs/PROTOCOL.md §11.15), through
 * the SDK's Messenger (conversationMembers.ts):
 *
 *   nullroom group URL CONVERSATION add USER...   adds these accounts (every device of each)
 *   nullroom group URL CONVERSATION remove USER   removes that account
 *   nullroom group URL CONVERSATION rename NAME   names the conversation for every member (end-to-end encrypted)
 *   nullroom group URL CONVERSATION leave         this account leaves it
 *
 * CONVERSATION is an id as `nullroom conversations` prints it, or an unambiguous prefix of one.
 * With --json: `{"event":"members","conversation","members"}` after add and remove,
 * `{"event":"renamed","conversation","name"}`, `{"event":"left","conversation"}`; errors as for the
 * other account commands (NO_SUCH_CONVERSATION and AMBIGUOUS_CONVERSATION are usage errors).
 */
import type { Messenger as MessengerType } from '@nullroom/client/accounts';
import { printer } from './account.js';
import { CliError, Exit } from './errors.js';
import { type MessagesOptions, withMessenger } from './messages.js';
import { safeText } from './output.js';

export type GroupAction = 'add' | 'remove' | 'rename' | 'leave';

/** The one conversation whose id is `ref` or starts with it. */
async function resolve(m: MessengerType, ref: string): Promise<string> {
  const ids = (await m.conversationList()).map((c) => c.id).filter((id) => m.list().includes(id));
  const exact = ids.find((id) => id === ref);
  if (exact !== undefined) return exact;
  const found = ref.length === 0 ? [] : ids.filter((id) => id.startsWith(ref));
  if (found.length === 1 && found[0] !== undefined) return found[0];
  if (found.length === 0) throw new CliError(`NO_SUCH_CONVERSATION: none of your conversations is ${safeText(ref)}`, Exit.USAGE);
  throw new CliError(`AMBIGUOUS_CONVERSATION: ${found.length} conversations start with ${safeText(ref)}`, Exit.USAGE);
}

export async function group(url: string, ref: string, action: string, args: string[], o: MessagesOptions): Promise<number> {
  const print = printer(o.json);
  if (!['add', 'remove', 'rename', 'leave'].includes(action)) throw new CliError('the action is add, remove, rename or leave', Exit.USAGE);
  const want = action === 'add' ? args.length >= 1 : action === 'leave' ? args.length === 0 : args.length === 1;
  if (!want)
    throw new CliError(`${action}: ${action === 'add' ? 'USER...' : action === 'leave' ? 'no argument' : 'one argument'}`, Exit.USAGE);
  return withMessenger(url, o, async (m) => {
    m.on('warning', (w) => print('warning', w, `warning: ${w.code}`));
    await m.caughtUp();
    await m.settled();
    const id = await resolve(m, ref);
    const arg = args[0] ?? '';
    if (action === 'add' || action === 'remove') {
      if (action === 'add') await m.addMembers(id, args);
      else await m.removeMember(id, arg);
      const members = await m.members(id);
      print('members', { conversation: id, members }, `members: ${members.map(safeText).join(', ')}`);
    } else if (action === 'rename') {
      await m.rename(id, arg);
      print('renamed', { conversation: id, name: arg }, `renamed to ${safeText(arg)}`);
    } else {
      await m.leave(id);
      print('left', { conversation: id }, 'you left the conversation');
    }
    return Exit.OK;
  });
}
