#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Argument, type Command, CommanderError, Option } from 'commander';
import { CliCommand } from './command.js';
import { CliError, Exit } from './errors.js';

/** This command's version, from apps/cli/package.json (two folders up from dist/src/main.js). */
const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new CliCommand();
program
  .name('nullroom')
  .description('End-to-end encrypted chat rooms (MLS, RFC 9420) through a blind relay.')
  .version(version, '-V, --version', 'print the version of nullroom')
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

program
  .command('serve')
  .description('run the relay (and the web app) on this machine')
  .option(
    '--config <file>',
    'read settings from this JSON file (keys: the long flag names in camelCase); flags and environment variables win over it',
  )
  .option('--host <host>', 'address to bind (anything but loopback needs TLS)', '127.0.0.1')
  .option('--port <port>', 'port to listen on', '8080')
  .option(
    '--data <dir>',
    'where the relay keeps what must persist: its room store (rooms.db), certificate and files (default: ~/.local/share/nullroom)',
  )
  .option('--cert <file>', 'TLS certificate (PEM)')
  .option('--key <file>', 'TLS private key (PEM)')
  .option('--self-signed', 'generate (once, kept in --data) a self-signed certificate and print its fingerprint')
  .option('--web <dir>', 'serve the web app built in this folder (default: the one that ships with nullroom)')
  .option(
    '--blob-dir <dir>',
    'where encrypted file chunks wait for their receivers; wiped on start (default: <data>/blobs with --data, else a temporary folder)',
  )
  .option('--blob-max <size>', 'largest file, in bytes (suffixes K, M, G, T: 1024-based)', '4G')
  .option('--blob-quota <size>', 'disk space for all files together', '16G')
  .option('--blob-ttl <seconds>', 'a file is deleted this long after its last chunk arrived', '86400')
  .option('--account-file-ttl <seconds>', 'a file sent in an account conversation is kept this long (for offline devices)', '2592000')
  .option('--account-file-quota <size>', 'disk space for the files of one account', '2G')
  .option(
    '--allow-origin <url>',
    'let web pages on this origin use the relay too (repeatable), e.g. the public name of a reverse proxy',
    (v: string, prev: string[] = []) => [...prev, v],
  )
  .option(
    '--trust-proxy',
    'take client addresses (for the per-address limits) from the last X-Forwarded-For hop: only behind a reverse proxy',
  )
  .option('--max-output <size>', 'memory for unsent output to all connections together', '256M')
  .option('--max-group-info <size>', 'memory for the group state stored for all rooms together', '256M')
  .option('--max-conns <n>', 'WebSocket connections from all addresses together (rooms and account channels)', '10000')
  .option('--max-conns-per-ip <n>', 'WebSocket connections from one address (IPv6: one /64)', '256')
  .option('--max-rooms-per-ip <n>', 'room memberships of all connections from one address', '1024')
  .option('--max-http-conns-per-ip <n>', 'plain HTTP connections (not WebSockets yet) from one address; more get 503', '128')
  .option('--max-http-conns <n>', 'plain HTTP connections (not WebSockets yet) from all addresses together', '2048')
  .option('--resume-grace <seconds>', 'how long a member whose connection dropped may take its place back (0: it leaves at once)', '120')
  .option('--drain-seconds <n>', 'on SIGTERM, how long file transfers in flight may take to finish (WebSockets move at once)', '30')
  .option('--no-room-store', 'keep rooms in memory only: a restart forgets them (members then join again)')
  .option('--no-accounts', 'no accounts on this relay (password rooms only)')
  .option(
    '--database-url <url>',
    'keep accounts in PostgreSQL (postgres://…; else NULLROOM_DATABASE_URL, else accounts.db in --data); the OPAQUE key comes from NULLROOM_OPAQUE_SETUP, else <data>/opaque-setup',
  )
  .option('--database-schema <name>', 'the PostgreSQL schema of the accounts (else NULLROOM_DATABASE_SCHEMA, else nullroom)')
  .option(
    '--redis-url <url>',
    'join a cluster: relay nodes given the same Redis (redis://…; else NULLROOM_REDIS_URL) share their rooms, which then live in Redis, not in a room store',
  )
  .option('--cluster-prefix <prefix>', "what the cluster's Redis keys start with (else NULLROOM_CLUSTER_PREFIX, else nr:)")
  .option(
    '--advertise-url <url>',
    'where the other nodes of the cluster reach this one for the files it holds, e.g. https://node-b.internal:8443 (else NULLROOM_ADVERTISE_URL, else the URL it listens on)',
  )
  .option(
    '--new-rooms-per-minute <n>',
    'JOINs that create a room, per address per minute (after a burst of 20): bounds online password guessing',
    '20',
  )
  .option('-v, --verbose', 'log at debug level: connections, protocol errors, blob requests (never any content)')
  .option('--log-level <level>', 'debug, info, warn or error: JSON lines on stdout (else NULLROOM_LOG_LEVEL, else info)')
  .option('--metrics-port <port>', 'serve Prometheus metrics at /metrics on this port (off by default)')
  .option('--metrics-host <host>', 'address of the metrics listener (default 127.0.0.1; any other needs TLS and a token)')
  .option('--metrics-token <token>', 'a scrape must send Authorization: Bearer TOKEN (else NULLROOM_METRICS_TOKEN; at least 16 characters)')
  // Each command loads only its own code: the relay never loads the client (MLS, zod, hashing), which keeps
  // its heap, and so each of its garbage collections, small (bench/transfer.mjs).
  .action(async (opts, cmd: Command) => (await import('./serve.js')).serve(opts, (key) => cmd.getOptionValueSource(key) === 'cli'));

program
  .command('chat')
  .description('join a room from the terminal')
  .argument('<url>', 'the relay URL that `nullroom serve` printed')
  .option('--room <name>', 'room name (never sent to the relay)')
  .addOption(
    new Option(
      '--invite',
      'join an invite room instead: its link (or the #k=… part) comes from NULLROOM_INVITE, else a prompt (never the command line, which other users can see); no password',
    ).conflicts(['room', 'passwordFile']),
  )
  .requiredOption('--nick <nick>', 'your nickname in the room (never sent to the relay)')
  .option('--json', 'print one JSON object per event')
  .option('--password-file <file>', 'read the room password from this file (else NULLROOM_PASSWORD, else a prompt)')
  .addOption(new Option('--ca <file>', 'trust this CA certificate (PEM) for the relay').conflicts('pin'))
  .option('--pin <sha256:hex>', 'accept only the relay certificate with this fingerprint (as `serve --self-signed` printed)')
  .option(
    '--fallback <url>',
    'another node of the same relay cluster (repeatable): when the connection drops, the next node is tried',
    (v: string, prev: string[] = []) => [...prev, v],
  )
  .option('--download-dir <dir>', 'where received files are saved (default: the current folder)')
  .option('--max-file <size>', 'largest file to download automatically, e.g. 500M or 4G', '4G')
  .option('--keep-metadata', 'send photos with their metadata (EXIF: where and when taken, the camera); by default it is removed')
  .option('--send-timeout <seconds>', 'how long a line may wait for the relay before it shows as not sent (then /retry)', '120')
  .addOption(
    new Option(
      '--private-routing <mode>',
      'private messages: hidden inside room traffic (the relay cannot tell who talks to whom) or direct to the peer (cheaper in large rooms; the relay sees who talks to whom)',
    )
      .choices(['hidden', 'direct'])
      .default('hidden'),
  )
  .option(
    '--key-dir <dir>',
    'where your identities and the keys you verified are kept (default: NULLROOM_KEY_DIR, else $XDG_CONFIG_HOME/nullroom, else ~/.config/nullroom)',
  )
  .addOption(
    new Option(
      '--no-key-store',
      'remember nothing: a new identity for this run only (others see a key change next time), and no saved session',
    ).conflicts('keyDir'),
  )
  .addOption(
    new Option(
      '--fresh',
      'join as a new member even if a saved session could take your place in this room up again (after a crash or kill)',
    ).conflicts('keyStore'),
  )
  .option('--no-typing', 'never tell the room that you are typing')
  .addOption(
    new Option(
      '--suite <suite>',
      'cipher suite if you create the room: X25519 (default) or the post-quantum X-Wing hybrid; joiners follow the room',
    )
      .choices(['default', 'pq'])
      .default('default'),
  )
  .action(async (url: string, opts) => {
    process.exitCode = await (await import('./chat.js')).chat(url, opts);
  });

/** The options every account command takes. */
function accountCommand(name: 'register' | 'login' | 'logout' | 'whoami' | 'devices', description: string): Command {
  const c = program
    .command(name)
    .description(description)
    .argument('<url>', 'the relay URL')
    .option('--json', 'print one JSON object')
    .option(
      '--key-dir <dir>',
      'where the session token is kept (accounts.json, 0600; default: NULLROOM_KEY_DIR, else $XDG_CONFIG_HOME/nullroom, else ~/.config/nullroom)',
    );
  if (name === 'register' || name === 'login') {
    c.requiredOption('--user <name>', 'the account name').option(
      '--password-file <file>',
      'read the account password from this file (else NULLROOM_PASSWORD, else a prompt)',
    );
  }
  if (name === 'logout') c.option('--everywhere', 'end every session of the account, on every device');
  if (name === 'devices') c.argument('[action...]', 'approve CODE, decline CODE or remove DEVICE (nothing: list them)');
  return c.action(async (url: string, ...rest: unknown[]) => {
    const action = name === 'devices' ? (rest.shift() as string[]) : undefined;
    const opts = rest[0] as Record<string, unknown>;
    process.exitCode = await (await import('./account.js')).account(name, url, { ...opts, ...(action === undefined ? {} : { action }) });
  });
}
accountCommand('register', 'create an account on a relay and sign in (OPAQUE: the password never reaches the relay)');
accountCommand('login', 'sign in to your account on a relay');
accountCommand('logout', 'sign out of a relay (and with --everywhere, every device)');
accountCommand('whoami', 'show the account signed in on a relay');
accountCommand('devices', 'list your account’s devices, or approve, decline or remove one');

/** `inbox`, `send`, `talk` and `conversations`: account conversations (messages.ts). */
function messagesCommand(name: 'inbox' | 'send' | 'talk' | 'conversations', description: string): Command {
  const c = program
    .command(name)
    .description(description)
    .argument('<url>', 'the relay URL')
    .option('--json', 'print one JSON object per event')
    .option('--key-dir <dir>', 'where the session and this terminal’s keys are kept (as for login)');
  const withUsers = name === 'send' || name === 'talk';
  if (withUsers) c.argument('<users...>', 'the other accounts of the conversation');
  if (name === 'send') c.option('--text <text>', 'the message').option('--file <path>', 'send this file instead (encrypted)');
  if (name === 'inbox') c.option('--follow', 'keep showing messages as they come');
  return c.action(async (url: string, ...rest: unknown[]) => {
    const users = withUsers ? (rest.shift() as string[]) : [];
    const opts = rest[0] as Record<string, unknown>;
    process.exitCode = await (await import('./messages.js')).messages(name, url, users, opts);
  });
}
messagesCommand('inbox', 'show the messages waiting for this device in your account’s conversations');
messagesCommand('send', 'send a message to the conversation with these accounts (started if there is none)');
messagesCommand('talk', 'talk in the conversation with these accounts: its last messages, then lines you type are sent');
messagesCommand('conversations', 'list your account’s conversations: members, unread messages, last message time');
program
  .command('download')
  .description('fetch, verify and save the file of a file message (its conversation and message id: inbox --json shows them)')
  .argument('<url>', 'the relay URL')
  .argument('<conversation>', 'the conversation id')
  .argument('<message>', 'the message id')
  .option('--out <dir>', 'the folder to save it in (default: the current one); an existing file is never replaced')
  .option('--json', 'print one JSON object per event')
  .option('--key-dir <dir>', 'where the session and this terminal’s keys are kept (as for login)')
  .action(async (url: string, conversation: string, message: string, opts: Record<string, unknown>) => {
    process.exitCode = await (await import('./messages.js')).messages('download', url, [conversation, message], opts);
  });

program
  .command('group')
  .description('change an account conversation: add USER..., remove USER, rename NAME, or leave')
  .argument('<url>', 'the relay URL')
  .argument('<conversation>', 'its id as `conversations` prints it, or an unambiguous prefix')
  .argument('<action>', 'add, remove, rename or leave')
  .argument('[args...]', 'the accounts to add, the account to remove, or the new name')
  .option('--json', 'print one JSON object per event')
  .option('--key-dir <dir>', 'where the session and this terminal’s keys are kept (as for login)')
  .action(async (url: string, conversation: string, action: string, args: string[], opts: Record<string, unknown>) => {
    process.exitCode = await (await import('./groups.js')).group(url, conversation, action, args, opts);
  });

program
  .command('contacts')
  .description('list your contacts and requests on a relay (signed in with `login`), or change one')
  .argument('<url>', 'the relay URL')
  .addArgument(
    new Argument(
      '[action]',
      'add (ask USER), accept or decline (their request), block, unblock, remove (a contact, or your request)',
    ).choices(['add', 'accept', 'decline', 'block', 'unblock', 'remove']),
  )
  .argument('[user]', 'the exact username the action is for')
  .option('--json', 'print one JSON object')
  .option('--key-dir <dir>', 'where the session token is kept (as for `login`)')
  .action(async (url: string, action, user, opts) => {
    process.exitCode = await (await import('./contacts.js')).contacts(url, action, user, opts);
  });

program.parseAsync(process.argv).then(
  () => {
    // Let pending writes drain, then exit with the code the command set.
    process.stdout.write('', () => process.exit(process.exitCode ?? Exit.OK));
  },
  (e: unknown) => {
    if (e instanceof CommanderError) process.exit(e.exitCode === 0 ? Exit.OK : Exit.USAGE);
    if (e instanceof CliError) {
      process.stderr.write(`nullroom: ${e.code === undefined ? '' : `${e.code}: `}${e.message}\n`);
      process.exit(e.exitCode);
    }
    process.stderr.write(`nullroom: unexpected failure: ${e instanceof Error ? e.name : 'error'}\n`);
    process.exit(Exit.FAILURE);
  },
);
