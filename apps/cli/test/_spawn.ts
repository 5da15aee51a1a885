/** Helpers to run the real `nullroom` binary in tests. */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

export const BIN = fileURLToPath(new URL('../src/main.js', import.meta.url));

export interface Proc {
  child: ChildProcessWithoutNullStreams;
  lines: string[];
  stderr: string[];
  events: Record<string, unknown>[];
  exited: Promise<number | null>;
  waitFor(pred: (e: Record<string, unknown>) => boolean, what: string, ms?: number): Promise<Record<string, unknown>>;
  waitLine(pred: (l: string) => boolean, what: string, ms?: number): Promise<string>;
}

/** Every process `run` started and that is still running. */
const live = new Set<ChildProcessWithoutNullStreams>();
// When a test file is done, whatever it left running (a test that failed half-way) is killed: a
// live child would keep the file's process, and so the whole run, waiting forever.
after(() => {
  for (const c of live) c.kill('SIGKILL');
});

/** Key folders made for processes that did not name one (removed when the test file ends). */
let keyRoot: string | undefined;
after(() => {
  if (keyRoot !== undefined) rmSync(keyRoot, { recursive: true, force: true });
});
/** A fresh, empty key folder (a new device); pass it as NULLROOM_KEY_DIR to several runs to restart one device. */
export function keyDir(): string {
  keyRoot ??= mkdtempSync(join(tmpdir(), 'nullroom-cli-keys-'));
  return mkdtempSync(join(keyRoot, 'k'));
}

/**
 * Runs `nullroom` with `args`. Each run is a new device (its own empty key folder) unless `env`
 * names one with NULLROOM_KEY_DIR, and has a data home of its own (XDG_DATA_HOME: where a relay
 * started without --data keeps its room store) unless `env` names one: tests never touch the
 * user's own ~/.config/nullroom or ~/.local/share/nullroom, nor a relay the user runs from there.
 * `via` runs it through another command (a network namespace).
 */
export function run(args: string[], env: Record<string, string> = {}, via: string[] = []): Proc {
  // `via`: a command that runs node in turn, e.g. ['ip', 'netns', 'exec', ns] (it execs: the same process).
  const [cmd, ...pre] = [...via, process.execPath];
  const child = spawn(cmd!, [...pre, BIN, ...args], {
    env: { ...process.env, NULLROOM_KEY_DIR: keyDir(), XDG_DATA_HOME: keyDir(), ...env },
    stdio: 'pipe',
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  return watch(child);
}

/** A Proc over a child started elsewhere (package.test.ts: an installed `nullroom` run through npx). */
export function watch(child: ChildProcessWithoutNullStreams): Proc {
  const lines: string[] = [];
  const stderr: string[] = [];
  const events: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  createInterface({ input: child.stdout }).on('line', (l) => {
    lines.push(l);
    try {
      const e = JSON.parse(l) as unknown;
      if (e !== null && typeof e === 'object') events.push(e as Record<string, unknown>);
    } catch {
      /* not JSON */
    }
    for (const w of waiters) w();
  });
  createInterface({ input: child.stderr }).on('line', (l) => {
    stderr.push(l);
    for (const w of waiters) w();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const poll = <T>(check: () => T | undefined, what: string, ms: number): Promise<T> =>
    new Promise((resolve, reject) => {
      const tick = () => {
        const v = check();
        if (v !== undefined) {
          waiters.delete(tick);
          clearTimeout(timer);
          resolve(v);
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(tick);
        reject(
          new Error(`timed out waiting for ${what}; stdout: ${lines.slice(-10).join(' | ')}; stderr: ${stderr.slice(-5).join(' | ')}`),
        );
      }, ms);
      waiters.add(tick);
      tick();
    });
  return {
    child,
    lines,
    stderr,
    events,
    exited,
    waitFor: (pred, what, ms = 15_000) => poll(() => events.find(pred), what, ms),
    waitLine: (pred, what, ms = 15_000) => poll(() => lines.find(pred), what, ms),
  };
}

/** `nullroom chat --json` members of one room, each kept in `procs` (to be stopped at the end). */
export function chatMembers(url: string, room: string, env: Record<string, string>, procs: Proc[]): (nick: string) => Proc {
  return (nick) => {
    const p = run(['chat', url, '--room', room, '--nick', nick, '--json'], env);
    procs.push(p);
    return p;
  };
}

/** Starts `nullroom serve` on an ephemeral port and returns its URL (and fingerprint when TLS is on). */
export async function serveProc(args: string[] = []): Promise<{ proc: Proc; url: string; fingerprint?: string }> {
  // Each relay its own data directory (its room store is locked by one relay at a time), unless the test names one.
  const data = args.includes('--data')
    ? []
    : ['--data', mkdtempSync(join(keyRoot ?? (keyRoot = mkdtempSync(join(tmpdir(), 'nullroom-cli-keys-'))), 'd'))];
  const proc = run(['serve', '--port', '0', ...data, ...args]);
  const line = await proc.waitLine((l) => l.startsWith('nullroom listening on '), 'listening line');
  const url = line.slice('nullroom listening on '.length);
  if (!url.startsWith('https:')) return { proc, url };
  const fp = await proc.waitLine((l) => l.startsWith('fingerprint '), 'fingerprint line');
  return { proc, url, fingerprint: fp.slice('fingerprint '.length) };
}
