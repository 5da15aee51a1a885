import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { read } from 'read';
import { ClientError, NullroomClient, type Room, Suites, deriveRoomSecret, formatSafetyNumber, normalizeNick } from '@nullroom/client';
import { nodeWebSocket, parsePin } from '@nullroom/client/node';
import { CliError, Exit } from './exit.js';
import { type ChatEvent, Printer } from './output.js';

export interface ChatOptions {
  room: string;
  nick: string;
  json?: boolean;
  ca?: string;
  pin?: string;
  passwordFile?: string;
  suite?: 'default' | 'pq';
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

const HELP = [
  '/members          list who is in the room',
  '/verify NICK      show the safety number you share with NICK (compare it out of band)',
  '/verified NICK    mark NICK verified once the numbers match (until their key changes)',
  '/quit             leave the room',
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
  const pw = await password(o);
  const printer = new Printer(o.json === true);
  const secret = await deriveRoomSecret(o.room, pw);

  const client = new NullroomClient({
    url,
    webSocket: nodeWebSocket({ ...(ca ? { ca } : {}), ...(pin ? { pin } : {}) }),
    suite: o.suite === 'pq' ? Suites.postQuantum : Suites.default,
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
    room = await client.join({ secret, nick: o.nick });
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
  room.on('key-changed', (e) => printer.print({ event: 'key-changed', nick: e.nick, wasVerified: e.wasVerified }));
  room.on('message', (e) =>
    printer.print({ event: 'message', from: e.from, text: e.text, ts: e.ts, ...(e.outOfOrder ? { outOfOrder: true } : {}) }),
  );
  room.on('error', (e) => printer.print({ event: 'error', code: e.code, message: e.message }));

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
      const unsent = await room.leave(30_000);
      await client.close();
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
        else report({ event: 'verify', nick, safetyNumber: formatSafetyNumber(sn), verified: room.trust(nick)?.verified === true });
      } else if (cmd[1] === 'verified') {
        const nick = cmd[2]!.trim();
        if (room.safetyNumber(nick) === undefined) report({ event: 'error', code: 'NO_SUCH_MEMBER', message: 'no other member has that nickname' });
        else void room.setVerified(nick, true).then(() => report({ event: 'verify', nick, safetyNumber: formatSafetyNumber(room.safetyNumber(nick) ?? ''), verified: true }));
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
