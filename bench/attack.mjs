#!/usr/bin/env node
/**
 * The attack suite (issue 11, "How we will know"): every attack in bench/attacks/{outside,inside}.mjs
 * against a real relay process (`nullroom serve`, a fresh one per attack, default options), with two
 * honest SDK members (alice, bob) chatting and sending files in a room of their own (or the
 * attacked room, for the attacks from inside it). For each attack it records:
 *
 *   survived      the relay process is still running and answers GET /healthz afterwards
 *   peak RSS      the relay's VmHWM / sampled VmRSS (/proc/<pid>/status) against the budget
 *   chat          a message each way, received and acknowledged, while the attack is still running
 *   upload        a 256 KiB file sent through the blob store and received whole, meanwhile
 *   recovery      ms from the attack's decisive moment until chat and upload both work again
 *   checks        what the attack itself asserts (e.g. "foreign Origin refused")
 *
 * outcome = held when all of them pass; FAILED names what did not. A relay that dies is a result,
 * not a crash of the suite. Everything is on 127.0.0.1 and bounded (counts below, 120 s per attack).
 *
 *   npm run build && npm run attack                 the full suite; writes bench/results/attack.json
 *   node bench/attack.mjs --ci                      small counts (the CI test runs this)
 *   node bench/attack.mjs --only slash-targets,foreign-origin --out /tmp/a.json
 *
 * Budget: ATTACK_RSS_BUDGET_MIB (default 256): the relay's peak RSS under any attack must stay below
 * it. (The relay on main has no global memory budget of its own; once it has one, set this to
 * that budget plus the idle relay's RSS.)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname } from 'node:path';
import { inside } from './attacks/inside.mjs';
import { outside } from './attacks/outside.mjs';
import {
  MiB,
  chatProbe,
  closeHonest,
  healthy,
  honestMember,
  randomRoomSecret,
  recover,
  root,
  sleep,
  startRelay,
  uploadProbe,
  within,
} from './attacks/_lib.mjs';

const argv = process.argv.slice(2);
const flag = (n) => argv.includes(n);
const opt = (n) => {
  const i = argv.indexOf(n);
  return i >= 0 ? argv[i + 1] : undefined;
};
const CI = flag('--ci');
const only = opt('--only')?.split(',');
const out = opt('--out') ?? (CI ? undefined : `${root}bench/results/attack.json`);
const budgetMiB = Number(process.env.ATTACK_RSS_BUDGET_MIB ?? 256);
const log = (s) => process.stderr.write(`[attack] ${s}\n`);

const scale = CI
  ? {
      pinConnections: 12,
      hoardConnections: 1,
      holdMs: 6000,
      trickleEveryMs: 1000,
      tinyPuts: 200,
      waitingGets: 1100,
      guessConnections: 2,
      guessMs: 4000,
      guessLimitPerSec: 1,
      headerFloods: 12,
      slowloris: 50,
      manyConnections: 300,
      badFrames: 8,
      floodConnections: 4,
      recoveryDeadlineMs: 12_000,
      uploadWaitMs: 8000,
      joinWaitMs: 11_000,
      // No speed targets in tests: CI checks that honest members get through before the deadlines
      // above; the 5 s and 10 s targets of issue 11 are judged in the full run only.
      timeTargets: false,
    }
  : {
      pinConnections: Number(process.env.ATTACK_PIN ?? 60),
      hoardConnections: 8,
      holdMs: 8000,
      trickleEveryMs: 2000,
      tinyPuts: 5000,
      waitingGets: 1100,
      guessConnections: 8,
      guessMs: 5000,
      guessLimitPerSec: 1,
      headerFloods: 300,
      slowloris: 1000,
      manyConnections: 3000,
      badFrames: 40,
      floodConnections: 40,
      recoveryDeadlineMs: 20_000,
      uploadWaitMs: 20_000,
      joinWaitMs: 12_000,
      timeTargets: true,
    };

// The suite must outlive whatever the relay or a socket does.
process.on('unhandledRejection', (e) => log(`unhandled rejection: ${e instanceof Error ? e.message : String(e)}`));
process.on('uncaughtException', (e) => log(`uncaught exception: ${e instanceof Error ? e.message : String(e)}`));

const attacks = [...outside, ...inside].filter((a) => only === undefined || only.includes(a.key));

async function runOne(attack) {
  const relay = await startRelay();
  const tracked = [];
  const track = (x) => tracked.push(x);
  const secret = randomRoomSecret();
  const row = { attack: attack.name, key: attack.key, issue: attack.issue, outcome: 'held', failures: [] };
  let a;
  let b;
  try {
    a = await honestMember(relay, secret, 'alice');
    b = await honestMember(relay, secret, 'bob');
    await sleep(300);
    const base = await chatProbe(a, b, 10_000);
    const baseUp = base === undefined ? undefined : await uploadProbe(a, b, 10_000);
    if (base === undefined || baseUp === undefined) throw new Error('honest members could not chat and upload before the attack');
    row.baseline = { chatMs: base, uploadMs: baseUp, rssMiB: Math.round(relay.rss() / MiB) };
    const t0 = performance.now();
    const res = await within(
      attack
        .run({ relay, track, secret, a, b, scale, probes: { chat: chatProbe, upload: uploadProbe } })
        .catch((e) => ({ error: e instanceof Error ? e.message : String(e) })),
      120_000,
      { error: 'attack did not finish within 120 s' },
    );
    row.attackMs = Math.round(performance.now() - t0);
    if (res.error !== undefined) row.failures.push(`attack error: ${res.error}`);
    row.checks = res.checks ?? [];
    row.metrics = res.metrics ?? {};
    // While the attack still runs: can the honest members chat and upload, and how fast?
    const target = attack.recoveryTargetMs ?? 10_000;
    const rec = relay.alive()
      ? await recover(relay, a, b, res.since ?? performance.now(), scale.recoveryDeadlineMs)
      : { recoveredMs: undefined };
    if (typeof res.later === 'function') {
      const l = await res.later();
      row.checks.push(...(l.checks ?? []));
      Object.assign(row.metrics, l.metrics ?? {});
    }
    row.chatOk = rec.chatMs !== undefined;
    row.uploadOk = rec.uploadMs !== undefined;
    row.chatMs = rec.chatMs ?? null;
    row.uploadMs = rec.uploadMs ?? null;
    row.recoveryMs = rec.recoveredMs ?? null;
    for (const c of row.checks) if (!c.ok) row.failures.push(c.what);
    if (!row.chatOk) row.failures.push(`honest members could not chat within ${scale.recoveryDeadlineMs / 1000} s`);
    if (!row.uploadOk) row.failures.push(`honest upload did not complete within ${scale.recoveryDeadlineMs / 1000} s`);
    if (scale.timeTargets && row.recoveryMs !== null && row.recoveryMs > target)
      row.failures.push(`recovery took ${row.recoveryMs} ms (target ${target})`);
  } catch (e) {
    row.failures.push(`harness: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    for (const x of tracked) {
      try {
        if (typeof x.close === 'function') x.close();
        else x.destroy?.();
      } catch {
        /* already gone */
      }
    }
    // The attacker's sockets were just closed from the address this check comes from too: a relay
    // that caps connections per address may still count them for a moment. A few tries, 250 ms apart.
    let ok = false;
    for (let k = 0; k < 4 && !ok && relay.alive(); k++) {
      if (k > 0) await sleep(250);
      ok = await healthy(relay);
    }
    row.survived = relay.alive() && ok;
    row.peakRssMiB = Math.round(relay.peakRss() / MiB);
    row.baselineRssMiB = Math.round(relay.baselineRss / MiB);
    row.budgetMiB = budgetMiB;
    if (!row.survived) {
      const ex = relay.exit();
      row.exit = ex === undefined ? 'unresponsive' : `exited code ${ex.code} signal ${ex.signal}`;
      row.stderrTail = relay.stderr.slice(-8);
      row.failures.unshift(`relay ${row.exit}`);
    }
    if (row.peakRssMiB > budgetMiB) row.failures.push(`peak RSS ${row.peakRssMiB} MiB over the ${budgetMiB} MiB budget`);
    row.outcome = row.failures.length === 0 ? 'held' : 'FAILED';
    await closeHonest();
    await relay.stop();
  }
  return row;
}

const started = new Date();
const rows = [];
for (const attack of attacks) {
  log(`${attack.key} ...`);
  const row = await runOne(attack);
  rows.push(row);
  log(
    `${attack.key}: ${row.outcome}${row.failures.length ? ` (${row.failures.join('; ')})` : ''}; peak RSS ${row.peakRssMiB} MiB; chat ${row.chatMs ?? '-'} ms; upload ${row.uploadMs ?? '-'} ms; recovery ${row.recoveryMs ?? '-'} ms`,
  );
}
const result = {
  date: started.toISOString(),
  mode: CI ? 'ci' : 'full',
  machine: { cpus: os.cpus().length, node: process.versions.node },
  budgetMiB,
  scale,
  held: rows.filter((r) => r.outcome === 'held').length,
  failed: rows.filter((r) => r.outcome !== 'held').length,
  rows,
};
if (out !== undefined) {
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  log(`wrote ${out}`);
}
console.log(
  JSON.stringify({ held: result.held, failed: result.failed, failedKeys: rows.filter((r) => r.outcome !== 'held').map((r) => r.key) }),
);
// Sockets the attacks left half-open must not keep the suite alive.
setTimeout(() => process.exit(0), 200).unref();
