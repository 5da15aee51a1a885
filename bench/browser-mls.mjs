#!/usr/bin/env node
/**
 * Receiving a room message in the browser (issue 14: at most 0.5 ms in Chromium): the same
 * @nullroom/crypto code the web app runs (packages/crypto/dist, bundled by Vite as the web app is),
 * in headless Chromium, against Node in the same run.
 *
 *   npm run build && node bench/browser-mls.mjs     (BROWSER_MLS_MESSAGES=2000 BROWSER_MLS_ROUNDS=5)
 *
 * In each runtime: a room of two members (RoomGroup: create, an external join, its commit
 * processed), then, ROUNDS times, one member encrypts MESSAGES application messages of 1024 bytes
 * and the other processes them in order (RoomGroup.process: SenderData, ratchet, AES-GCM, the
 * sender's Ed25519 signature, the sender's credential), one after another. Per round: wall time per
 * message of each loop (and, in Node, CPU time); reported: the median round. In the browser the
 * primitives are Web Crypto's (AES-GCM, Ed25519 keys imported once) and @noble's HMAC; in Node,
 * node:crypto's (packages/crypto/src/primitives.ts). The page runs on http://127.0.0.1 (a secure
 * context) in Debian's Chromium, driven by playwright-core. Writes bench/results/browser-mls.json.
 * BROWSER_MLS_CPU_PROF=<file>: also writes the page's CPU profile (DevTools format) there.
 */
import { createServer } from 'node:http';
import os from 'node:os';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHROMIUM, CHROMIUM_ARGS } from './_chromium.mjs';
import { writeResult } from './_results.mjs';
import { machine } from './_workers.mjs';

const MESSAGES = Number(process.env.BROWSER_MLS_MESSAGES ?? 2000);
const ROUNDS = Number(process.env.BROWSER_MLS_ROUNDS ?? 5);
const root = new URL('../', import.meta.url).pathname;
const loadAtStart = os.loadavg();

/** The measurement, as source: run in the page (bundled) and in Node (imported), with the same code. */
const body = `
export async function measure(messages, rounds, cpu, verifier) {
  // The floor: one Ed25519 verification of a message the size of a 1 KiB message's signed content,
  // as this environment's receive path makes it (RFC 9420 §6.1: one per received message).
  const pair = await crypto.subtle.generateKey('Ed25519', true, ['sign', 'verify']);
  const signed = new Uint8Array(1200).fill(0x42);
  const signature = new Uint8Array(await crypto.subtle.sign('Ed25519', pair.privateKey, signed));
  const rawPublic = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
  const verify = verifier === undefined
    ? ((k) => async () => crypto.subtle.verify('Ed25519', await k, signature, signed))(crypto.subtle.importKey('raw', rawPublic, 'Ed25519', false, ['verify']))
    : () => verifier(rawPublic, signed, signature);
  const keys = await deriveRoomKeys(randomRoomSecret());
  const [a, b] = await Promise.all([RoomGroup.create(keys), RoomGroup.create(keys)]);
  const created = await a.createGroup({ nick: 'alice', slot: 1 });
  let A = created.state;
  const jb = await b.joinExternal(await b.readGroupInfo(created.groupInfo), { nick: 'bob', slot: 2 });
  let B = jb.state;
  A = (await a.process(A, jb.message, 2)).state;
  const text = new Uint8Array(1024).fill(0x41);
  const out = [];
  for (let r = 0; r < rounds; r++) {
    const sent = [];
    let c0 = cpu?.(), t0 = performance.now();
    for (let i = 0; i < messages; i++) {
      const o = await a.encrypt(A, text);
      A = o.state;
      sent.push(o.message);
    }
    const encryptMs = (performance.now() - t0) / messages;
    const encryptCpuMs = cpu === undefined ? undefined : (cpu() - c0) / messages;
    c0 = cpu?.();
    t0 = performance.now();
    for (const m of sent) {
      const got = await b.process(B, m, 1);
      if (got.kind !== 'app' || got.plaintext.byteLength !== 1024 || got.sender.nick !== 'alice') throw new Error('not read');
      B = got.state;
    }
    const receiveMs = (performance.now() - t0) / messages;
    const receiveCpuMs = cpu === undefined ? undefined : (cpu() - c0) / messages;
    t0 = performance.now();
    for (let i = 0; i < messages; i++) if (!(await verify())) throw new Error('the floor signature did not verify');
    const verifyMs = (performance.now() - t0) / messages;
    out.push({ encryptMs, receiveMs, encryptCpuMs, receiveCpuMs, verifyMs });
  }
  return out;
}
`;
const imports = (path) => `import { RoomGroup, deriveRoomKeys, randomRoomSecret } from ${JSON.stringify(path)};\n`;

const median = (xs) => {
  const s = xs.filter((x) => x !== undefined).sort((x, y) => x - y);
  return s.length === 0 ? undefined : s[Math.floor(s.length / 2)];
};
const r3 = (x) => (x === undefined ? undefined : Math.round(x * 1000) / 1000);
const summary = (rounds) => ({
  encryptMs: r3(median(rounds.map((r) => r.encryptMs))),
  receiveMs: r3(median(rounds.map((r) => r.receiveMs))),
  encryptCpuMs: r3(median(rounds.map((r) => r.encryptCpuMs))),
  receiveCpuMs: r3(median(rounds.map((r) => r.receiveCpuMs))),
  verifyMs: r3(median(rounds.map((r) => r.verifyMs))),
  rounds,
});

async function inNode() {
  const dir = mkdtempSync(join(root, 'bench/.browser-mls-'));
  try {
    const file = join(dir, 'node.mjs');
    writeFileSync(file, imports(join(root, 'packages/crypto/dist/src/index.js')) + body);
    const { measure } = await import(file);
    const cpu = () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    };
    // Our Node receive path verifies through node:crypto, synchronously, with the key object kept (primitives.ts).
    const nodeCrypto = await import('node:crypto');
    const keyObjects = new Map();
    const verifier = (raw, message, signature) => {
      const id = Buffer.from(raw).toString('hex');
      let k = keyObjects.get(id);
      if (k === undefined) {
        k = nodeCrypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
        keyObjects.set(id, k);
      }
      return nodeCrypto.verify(null, message, k, signature);
    };
    return summary(await measure(MESSAGES, ROUNDS, cpu, verifier));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The measurement bundled by Vite, as the web app bundles the crypto package. */
async function bundled() {
  const { build } = await import('vite');
  const dir = mkdtempSync(join(tmpdir(), 'nullroom-browser-mls-'));
  try {
    const entry = join(dir, 'entry.js');
    writeFileSync(entry, imports(join(root, 'packages/crypto/dist/src/index.js')) + body);
    const out = await build({
      configFile: false,
      logLevel: 'silent',
      root,
      build: {
        write: false,
        minify: !process.env.BROWSER_MLS_CPU_PROF, // a profile names functions
        target: 'es2022',
        lib: { entry, formats: ['es'], fileName: 'bench' },
      },
    });
    // The entry, and the chunks it may load later (the post-quantum suite), by file name.
    const chunks = (Array.isArray(out) ? out : [out]).flatMap((o) => o.output).filter((o) => o.type === 'chunk');
    return new Map(chunks.map((c) => [`/${c.fileName}`, c.code]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function inChromium() {
  const files = await bundled();
  const html = '<!doctype html><meta charset="utf-8"><title>browser-mls</title>';
  const server = createServer((req, res) => {
    const code = files.get(req.url ?? '');
    if (code !== undefined) res.writeHead(200, { 'content-type': 'text/javascript' }).end(code);
    else res.writeHead(200, { 'content-type': 'text/html' }).end(html);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
  });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${server.address().port}/`);
    const prof = process.env.BROWSER_MLS_CPU_PROF;
    const cdp = prof ? await page.context().newCDPSession(page) : undefined;
    await cdp?.send('Profiler.enable');
    await cdp?.send('Profiler.start');
    const rounds = await page.evaluate(
      async ([messages, rounds]) => (await import('/bench.js')).measure(messages, rounds, undefined),
      [MESSAGES, ROUNDS],
    );
    if (cdp !== undefined) writeFileSync(prof, JSON.stringify((await cdp.send('Profiler.stop')).profile));
    return { ...summary(rounds), version: browser.version() };
  } finally {
    await browser.close();
    server.close();
  }
}

if (!existsSync(CHROMIUM)) {
  console.error(`bench/browser-mls.mjs: ${CHROMIUM} is not installed`);
  process.exit(1);
}
// Alternating, so a change in the machine's load falls on both.
const node1 = await inNode();
const browser = await inChromium();
const node2 = await inNode();
const node = summary([...node1.rounds, ...node2.rounds]);
const report = {
  date: new Date().toISOString(),
  machine: machine(loadAtStart),
  messages: MESSAGES,
  rounds: ROUNDS,
  plaintextBytes: 1024,
  node,
  chromium: browser,
  ratio: {
    receive: r3(browser.receiveMs / node.receiveMs),
    encrypt: r3(browser.encryptMs / node.encryptMs),
    // A receive in units of the one Ed25519 verification it must make, in each environment.
    nodeReceiveOverVerify: r3(node.receiveMs / node.verifyMs),
    chromiumReceiveOverVerify: r3(browser.receiveMs / browser.verifyMs),
  },
};
writeResult('browser-mls', report);
console.log(
  `receiving a 1 KiB room message: Chromium ${browser.receiveMs} ms, Node ${node.receiveMs} ms (CPU ${node.receiveCpuMs} ms); ` +
    `one Ed25519 verification: Chromium ${browser.verifyMs} ms, Node ${node.verifyMs} ms; ` +
    `encrypting: Chromium ${browser.encryptMs} ms, Node ${node.encryptMs} ms; ${MESSAGES} messages x ${ROUNDS} rounds`,
);
