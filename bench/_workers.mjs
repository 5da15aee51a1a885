// What the multi-process benchmarks (bench/private.mjs, bench/e2e.mjs) share: a child process
// driven by request/answer messages over IPC, waiting on a condition, quantiles and the machine.
import { fork } from 'node:child_process';
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import os from 'node:os';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const r2 = (x) => Math.round(x * 100) / 100;
export const r0 = (x) => Math.round(x);

/**
 * A child process running `file` with `args`, answering {id, cmd} messages with {re: id, ...}:
 * `call(cmd, extra)`, and `stop()`, which sends `stopSignal` (SIGTERM: then SIGKILL after 5 s).
 * `ready` resolves with its first message for which `isReady` holds; other messages that answer
 * no call go to `onOther`. If the child exits, `ready` and every call waiting reject.
 */
export function rpcChild(file, args, o = {}) {
  const { execArgv = [], serialization, name = file, isReady = (m) => m.ready, onOther = () => {}, stopSignal = 'SIGKILL' } = o;
  const child = fork(file, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv, ...(serialization ? { serialization } : {}) });
  let next = 1;
  const waiting = new Map();
  const ready = new Promise((resolve, reject) => {
    child.on('message', (m) => {
      if (isReady(m)) return resolve(m);
      if (m.re === undefined) return onOther(m);
      const w = waiting.get(m.re);
      waiting.delete(m.re);
      w?.(m);
    });
    child.once('exit', (code) => {
      const e = new Error(`${name} exited ${code}`);
      reject(e);
      for (const w of waiting.values()) w({ error: e.message });
    });
  });
  const call = (cmd, extra = {}) =>
    new Promise((resolve, reject) => {
      const id = next++;
      waiting.set(id, (m) => (m.error ? reject(new Error(m.error)) : resolve(m)));
      child.send({ id, cmd, ...extra });
    });
  const stop = () =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const t = stopSignal === 'SIGTERM' ? setTimeout(() => child.kill('SIGKILL'), 5000) : undefined;
      child.once('exit', () => (clearTimeout(t), resolve()));
      child.kill(stopSignal);
    });
  return { child, ready, call, stop, pid: child.pid };
}

/**
 * A benchmark's worker running `file` with `role` (rpcChild). With BENCH_CPU_PROF=<dir> set, it writes
 * a CPU profile there when it ends: `stop` sends SIGTERM (the workers exit on it), SIGKILL after 5 s.
 */
export function worker(file, role) {
  const prof = process.env.BENCH_CPU_PROF;
  const execArgv = prof ? ['--cpu-prof', '--cpu-prof-dir', prof, '--cpu-prof-name', `${role}-${process.pid}-${Date.now()}.cpuprofile`] : [];
  return rpcChild(file, [role], { execArgv, name: `${role} worker`, stopSignal: 'SIGTERM' });
}

/** Resolves once `cond()` holds (polled every 50 ms); rejects after `ms`. */
export async function until(cond, what, ms = 120_000) {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

export const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
};

/** CPU time of this process so far, in microseconds. */
export const cpuNow = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

/** The machine a result was measured on, with its load then. */
export const machine = (loadAtStart) => ({
  node: process.version,
  platform: `${os.platform()} ${os.arch()}`,
  cpus: os.cpus().length,
  loadavgAtStart: loadAtStart.map(r2),
  loadavgAtEnd: os.loadavg().map(r2),
});

/** A benchmark's start: its progress log (stderr), its clock and load, and a time limit past which it gives up. */
export function benchStart(name, limitS) {
  const log = (line) => process.stderr.write(`[${name}] ${line}\n`);
  setTimeout(() => {
    log(`over the time limit (${limitS} s): giving up`);
    process.exit(1);
  }, limitS * 1000).unref();
  return { log, started: performance.now(), loadAtStart: os.loadavg() };
}

/**
 * A worker ends on SIGINT and SIGTERM with exit code 0, which lets --cpu-prof write its profile; and
 * when its parent is gone (the IPC channel closes): a benchmark that failed or was killed leaves no
 * relay or members host running behind it.
 */
export function exitOnStop() {
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
  process.on('disconnect', () => process.exit(0));
}

/**
 * The floor of a receive on this machine, now (ms): one Ed25519 verification of 1200 bytes through
 * node:crypto with a kept key object, as a client's receive path makes it (RFC 9420 §6.1: one per
 * received message). Median of 5 runs of `n`. The machine's speed moves between days and within an
 * hour; figures read against this one, measured in the same run, compare across runs.
 */
export function ed25519VerifyMs(n = 400) {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const message = new Uint8Array(1200).fill(0x42);
  const signature = sign(null, message, privateKey);
  const runs = [];
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) if (!verify(null, message, publicKey, signature)) throw new Error('the floor signature did not verify');
    runs.push((performance.now() - t0) / n);
  }
  return Math.round(quantile(runs, 0.5) * 1000) / 1000;
}
