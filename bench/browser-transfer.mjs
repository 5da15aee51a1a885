#!/usr/bin/env node
/**
 * File transfer, terminal to browser (issue #4): one file (default 200 MiB) from a `nullroom chat
 * --json` process through `nullroom serve` to the web app in headless Chromium, which downloads it
 * into the Origin Private File System. Reports throughput and peak memory: the page's renderer,
 * every other Chromium process and the whole Chromium tree, the relay and the sender (target: every
 * process under 300 MiB, whatever the file's size). Best of RUNS runs.
 *   npm run build && node bench/browser-transfer.mjs
 *   env: MIB (200), RUNS (2), DRIVER (pipe; a comma list runs each in turn, the first is
 *   reported, the others beside it), TIMEOUT_S (180, per run), PROBE=1 (renderer memory at each
 *   step, and in-page micro-benchmarks of fetch, AES-GCM, SHA-256 and OPFS writes afterwards).
 *
 * How the page is driven, and why that measurement is honest. Playwright enables CDP's Network
 * domain on every page it attaches to (its network manager sends `Network.enable` whether or not
 * anyone listens to 'request' or 'response'), so the renderer reports every request and every piece
 * of every response body to the driver, and DevTools keeps response bodies in a per-page buffer.
 * Nothing a user runs does that. So the measured run (DRIVER=pipe) starts /usr/bin/chromium itself,
 * with the browser tests' flags (apps/web/test/_browser.ts) and a fresh on-disk profile, and talks
 * to it over `--remote-debugging-pipe` with no CDP domain enabled at all: Target.attachToTarget,
 * Page.navigate and Runtime.evaluate, nothing else. The join form is filled and submitted in the
 * page (the tests' joinRoom steps: nick, room, password, join, wait for the composer). Before
 * `/send`, a MutationObserver installed in the page clicks the file card's Download button as soon
 * as the offer shows and resolves a promise when the card reaches data-state=done (the SDK verified
 * every chunk and the SHA-256 the sender announced, and the OPFS sink committed); the driver awaits
 * that one promise, so no CDP message moves during the transfer. Afterwards the saved OPFS file is
 * hashed in the page, streamed through hash-wasm's incremental SHA-256 (never whole in memory), and
 * compared with the file's hash computed here and with the hash the sender announced.
 *
 * For comparison, the same page steps under other drivers: DRIVER=pipe-network is the pipe plus
 * `Network.enable` alone (events read and dropped); DRIVER=playwright a Playwright persistent
 * context, on disk, with no listeners, routes or tracing (Playwright's own instrumentation only);
 * DRIVER=playwright-test as the browser tests' helpers do: an off-the-record context with their
 * request, console and dialog listeners. Measured with 200 MiB on 2 cores (2026-11-26, runs with
 * other load under 0.1 core): Network.enable alone, like both Playwright drivers, takes the page's
 * renderer from 245-285 MiB to 415-465 MiB (the buffered response bodies; 285-315 MiB with 50 MiB)
 * and costs Chromium 5-25% more CPU per byte: 19-20 MB/s against 15-18 (Playwright 16-17), not the
 * 6x once suspected. The tests' off-the-record context also keeps its OPFS, so the whole file, in
 * the browser process's memory (211 -> 466 MiB; 13-15 MB/s). A renderer above 300 MiB under
 * Playwright is the harness's.
 *
 * Memory: every 200 ms the Chromium process tree (all descendants of the browser process, listed
 * each second) is read from /proc: each process's VmHWM (peak RSS) and the sum of current VmRSS
 * (and, each second, of PSS, which counts shared pages once). At `/send` each Chromium process's
 * VmHWM is recorded and reset to its current RSS (/proc/PID/clear_refs 5), so the peak *during the
 * transfer* is read apart from the peak before it (the page's Argon2id room-key derivation takes
 * 64 MiB at join). The relay's and the sender's VmHWM are read as bench/transfer.mjs does. CPU
 * seconds per process from /send to done are recorded too, and how many cores other processes on
 * the machine used meanwhile (MB/s means little when that is high). Everything talks to 127.0.0.1
 * only; every process started here is killed at the end, also on failure or timeout.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { makeFile, sha256File } from './_payload.mjs';
import { CHROMIUM, CHROMIUM_ARGS } from './_chromium.mjs';
import { writeResult } from './_results.mjs';

const MIB = Number(process.env.MIB ?? 200);
const DRIVERS = (process.env.DRIVER ?? 'pipe').split(',');
const RUNS = Number(process.env.RUNS ?? 2);
/** Each run (and making the file) must end within this. */
const TIMEOUT_MS = Number(process.env.TIMEOUT_S ?? 180) * 1000;
const here = (f) => new URL(f, import.meta.url).pathname;
const BIN = here('../apps/cli/dist/src/main.js');
// No name resolves: whatever Chromium might try in the background cannot leave 127.0.0.1 (the relay
// is 127.0.0.1, excluded from the rule).
const ARGS = [...CHROMIUM_ARGS, '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'];
const ROOM = 'bench room';
const PASSWORD = 'benchmark password for a browser';
const FILE_NAME = `payload-${MIB}MiB.bin`;
const MiB = (b) => `${(b / 2 ** 20).toFixed(0)} MiB`;

// ---- processes: everything started here is killed on the way out ----------------------------------
/** When a process started (clock ticks after boot): tells it from a later one that got its pid. */
const startTime = (pid) => {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
};
const started = new Map(); // pid -> start time, of our children and of every Chromium process seen
const track = (pid) => started.has(pid) || started.set(pid, startTime(pid));
const tmpDirs = new Set();
/** Kills every process started so far (each by its pid, if it is still the same process); `dirs` too removes the temporary directories. */
function cleanup(dirs = true) {
  for (const [pid, t] of started) {
    if (t === undefined || startTime(pid) !== t) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  started.clear();
  if (!dirs) return;
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
  tmpDirs.clear();
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));
let watchdog;
const arm = () => {
  clearTimeout(watchdog);
  watchdog = setTimeout(() => {
    process.stderr.write(`[browser-transfer] a run took more than ${TIMEOUT_MS / 1000} s: stopped\n`);
    process.exit(1);
  }, TIMEOUT_MS);
};
const tmp = (prefix) => {
  const d = mkdtempSync(join(os.tmpdir(), prefix));
  tmpDirs.add(d);
  return d;
};
function launch(cmd, args, opts) {
  const child = spawn(cmd, args, opts);
  track(child.pid);
  return child;
}

// ---- /proc -------------------------------------------------------------------------------------------
const status = (pid) => {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? 0) * 1024;
    return { hwm: kb('VmHWM'), rss: kb('VmRSS') };
  } catch {
    return undefined;
  }
};
const pss = (pid) => {
  try {
    return Number(/Pss:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
};
/** CPU seconds (user + system) a live process has used so far (as bench/transfer.mjs). */
const cpuSeconds = (pid) => {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return undefined;
  }
};
/** CPU seconds the whole machine has been busy (all cores; /proc/stat, USER_HZ = 100). */
const machineBusy = () => {
  const [user, nice, system, , , irq, softirq] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return (user + nice + system + irq + softirq) / 100;
};
/** Resets VmHWM to the current RSS (proc(5), clear_refs "5"). */
const resetPeak = (pid) => {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    // gone
  }
};
/** pid -> parent pid, for every process. */
function parents() {
  const m = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, 'utf8');
      m.set(Number(d), Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // exited meanwhile
    }
  }
  return m;
}
function descendants(root) {
  const ppid = parents();
  const out = [root];
  for (let i = 0; i < out.length; i++) for (const [p, pp] of ppid) if (pp === out[i]) out.push(p);
  return out.filter((p) => ppid.has(p));
}
/** What a Chromium process is: browser, renderer, zygote, gpu-process, utility:<service>. */
function kind(pid) {
  try {
    // Chromium's children rewrite their title (setproctitle): one space-separated string.
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split(/[\0 ]/);
    const type = argv.find((a) => a.startsWith('--type='))?.slice(7);
    if (type === undefined) return 'browser';
    const sub = argv.find((a) => a.startsWith('--utility-sub-type='))?.slice(19);
    return type === 'utility' && sub ? `utility:${sub.replace(/\.mojom\.\w+$/, '')}` : type;
  } catch {
    return 'gone';
  }
}
/** Samples a process's peak RSS until it exits (as bench/transfer.mjs). */
function sampler(child) {
  let peak = 0;
  const t = setInterval(() => (peak = Math.max(peak, status(child.pid)?.hwm ?? 0)), 200);
  return () => (clearInterval(t), Math.max(peak, status(child.pid)?.hwm ?? 0));
}
/**
 * Samples the Chromium tree under `root` every 200 ms: per process its kind and the highest VmHWM
 * seen before and after `mark()`, the tree's summed RSS (and PSS each second) at its highest.
 */
function treeSampler(root) {
  const procs = new Map(); // pid -> { kind, before, during }
  let phase = 'before';
  const sums = { before: { rss: 0, pss: 0 }, during: { rss: 0, pss: 0 } };
  let n = 0;
  let pids = [];
  const tick = () => {
    // The tree is listed each second (a walk over all of /proc), its processes read every 200 ms.
    const each = n++ % 5 === 0;
    if (each) pids = descendants(root);
    const withPss = each;
    let rss = 0;
    let pssSum = 0;
    for (const pid of pids) {
      track(pid);
      const s = status(pid);
      if (s === undefined) continue;
      let p = procs.get(pid);
      if (p === undefined) procs.set(pid, (p = { kind: kind(pid), before: 0, during: 0, cpuAtMark: 0, cpu: 0, rss: 0, rssAtMark: 0 }));
      p.rss = s.rss;
      p[phase] = Math.max(p[phase], s.hwm);
      p.cpu = cpuSeconds(pid) ?? p.cpu;
      rss += s.rss;
      if (withPss) pssSum += pss(pid);
    }
    sums[phase].rss = Math.max(sums[phase].rss, rss);
    if (withPss) sums[phase].pss = Math.max(sums[phase].pss, pssSum);
  };
  tick();
  const t = setInterval(tick, 200);
  return {
    /** The transfer starts: peaks from here on are kept apart. */
    mark() {
      tick();
      for (const p of procs.values()) (p.cpuAtMark = p.cpu), (p.rssAtMark = p.rss);
      phase = 'during';
      for (const pid of procs.keys()) resetPeak(pid);
      n = 0;
      tick();
    },
    stop() {
      tick();
      clearInterval(t);
      const list = [...procs].map(([pid, p]) => ({
        pid,
        kind: p.kind,
        peakBefore: p.before,
        peakDuring: p.during,
        peak: Math.max(p.before, p.during),
        rssAtSend: p.rssAtMark,
        cpuDuring: Math.round((p.cpu - p.cpuAtMark) * 100) / 100,
      }));
      const max = (k, f = () => true) => Math.max(0, ...list.filter(f).map((p) => p[k]));
      const renderer = (p) => p.kind === 'renderer';
      // The page's renderer: the one that worked during the transfer (others are Chromium's own UI
      // and extensions, idle throughout).
      const page = list.filter(renderer).reduce((a, b) => (b.cpuDuring > (a?.cpuDuring ?? -1) ? b : a), undefined);
      return {
        rendererMax: max('peak', renderer),
        rendererDuring: max('peakDuring', renderer),
        rendererBefore: max('peakBefore', renderer),
        page: {
          peak: page?.peak ?? 0,
          peakBefore: page?.peakBefore ?? 0,
          rssAtSend: page?.rssAtSend ?? 0,
          peakDuring: page?.peakDuring ?? 0,
          cpuDuring: page?.cpuDuring ?? 0,
        },
        processMax: max('peak'),
        treeRssSumMax: Math.max(sums.before.rss, sums.during.rss),
        treeRssSumDuring: sums.during.rss,
        treePssSumMax: Math.max(sums.before.pss, sums.during.pss),
        treePssSumDuring: sums.during.pss,
        treeCpuDuring: Math.round(list.reduce((a, p) => a + p.cpuDuring, 0) * 100) / 100,
        processes: list
          .sort((a, b) => b.peak - a.peak)
          .map((p) => ({ kind: p.kind, peakBefore: p.peakBefore, peakDuring: p.peakDuring, cpuDuring: p.cpuDuring })),
      };
    },
  };
}

// ---- helpers -----------------------------------------------------------------------------------------
function jsonLines(child, onEvent) {
  createInterface({ input: child.stdout }).on('line', (l) => {
    let e;
    try {
      e = JSON.parse(l);
    } catch {
      e = l;
    }
    onEvent(e);
  });
}
function waitFor(child, pred, what) {
  return new Promise((resolve, reject) => {
    jsonLines(child, (e) => pred(e) && resolve(e));
    child.once('exit', (code) => reject(new Error(`${what}: exited ${code}`)));
  });
}

// ---- CDP: Runtime.evaluate is all the driving there is -------------------------------------------------
/** A CDP connection over Chromium's --remote-debugging-pipe (fd 3 in, fd 4 out, NUL-separated JSON). */
function pipeConnection(child) {
  let id = 0;
  let buf = '';
  const pending = new Map();
  child.stdio[4].setEncoding('utf8');
  child.stdio[4].on('data', (d) => {
    buf += d;
    for (let i = buf.indexOf('\0'); i >= 0; i = buf.indexOf('\0')) {
      const msg = JSON.parse(buf.slice(0, i));
      buf = buf.slice(i + 1);
      const p = msg.id === undefined ? undefined : pending.get(msg.id);
      if (p === undefined) continue; // an event (none is enabled but Target's own)
      pending.delete(msg.id);
      if (msg.error) p.reject(new Error(`${p.method}: ${msg.error.message}`));
      else p.resolve(msg.result);
    }
  });
  child.once('exit', () => {
    for (const p of pending.values()) p.reject(new Error(`${p.method}: Chromium exited`));
  });
  return {
    send(method, params = {}, sessionId) {
      return new Promise((resolve, reject) => {
        pending.set(++id, { method, resolve, reject });
        child.stdio[3].write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`);
      });
    },
  };
}
/** Evaluates an expression in the page (awaiting a promise), through any CDP session's `send`. */
async function evaluate(send, expression) {
  const r = await send('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true });
  if (r.exceptionDetails) throw new Error(`in the page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
  return r.result.value;
}
/** In-page polling until `pred` (an expression) is truthy. */
const until = (pred, what, ms = 60_000) =>
  `new Promise((resolve, reject) => { const t0 = Date.now(); const tick = () => { let v; try { v = (${pred}); } catch (e) { return reject(e); } if (v) return resolve(v); if (Date.now() - t0 > ${ms}) return reject(new Error(${JSON.stringify(`timed out: ${what}`)})); setTimeout(tick, 50); }; tick(); })`;

/** The tests' joinRoom steps (apps/web/test/_browser.ts), done in the page. */
async function joinInPage(send, nick) {
  await evaluate(send, until(`document.querySelector('[data-testid=nick]')`, 'the join form'));
  await evaluate(
    send,
    `(() => {
      const fill = (id, v) => {
        const el = document.querySelector('[data-testid=' + id + ']');
        Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set.call(el, v);
        el.dispatchEvent(new Event('input', { bubbles: true }));
      };
      fill('nick', ${JSON.stringify(nick)});
      fill('room', ${JSON.stringify(ROOM)});
      fill('password', ${JSON.stringify(PASSWORD)});
    })()`,
  );
  // Preact renders the new state after the event; the form's submit handler reads that render's.
  await evaluate(send, `new Promise((resolve) => setTimeout(() => resolve(document.querySelector('[data-testid=join]').click()), 100))`);
  await evaluate(
    send,
    until(
      `document.querySelector('[data-testid=composer]') || (document.querySelector('#join-error') && Promise.reject(new Error(document.querySelector('#join-error').textContent)))`,
      'joined',
    ),
  );
}

/**
 * Watches for the file's card: clicks Download when it is offered, resolves `window.__bench` when
 * it is done (verified and committed), rejects if it failed or was cancelled.
 */
const WATCH = `(() => {
  window.__bench = new Promise((resolve, reject) => {
    let clickedAt;
    // The JS heap's high-water mark during the transfer (Chromium's performance.memory, coarse).
    const heap = { used: 0, total: 0 };
    const sample = () => {
      heap.used = Math.max(heap.used, performance.memory?.usedJSHeapSize ?? 0);
      heap.total = Math.max(heap.total, performance.memory?.totalJSHeapSize ?? 0);
    };
    sample();
    const heapAtStart = { ...heap };
    const heapTimer = setInterval(sample, 200);
    const check = () => {
      for (const card of document.querySelectorAll('[data-testid=file-card]')) {
        if (!card.textContent.includes(${JSON.stringify(FILE_NAME)})) continue;
        const state = card.dataset.state;
        const download = card.querySelector('[data-testid=file-download]');
        if (state === 'offered' && download && clickedAt === undefined) {
          clickedAt = performance.now();
          download.click();
        } else if (state === 'done') {
          observer.disconnect();
          clearInterval(heapTimer);
          sample();
          resolve({ pageMs: performance.now() - clickedAt, saveLink: card.querySelector('[data-testid=file-save]') !== null, heap, heapAtStart });
        } else if (state === 'failed' || state === 'cancelled') {
          observer.disconnect();
          clearInterval(heapTimer);
          reject(new Error(state + ': ' + card.textContent));
        }
      }
    };
    const observer = new MutationObserver(check);
    observer.observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-state'] });
    check();
  });
  return true;
})()`;

/** Hashes the file the OPFS sink saved (apps/web/src/browserFiles.ts: received/<page>/<random>.part), streamed. */
const HASH_OPFS = `(async () => {
  const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('received');
  const files = [];
  for await (const page of dir.values()) if (page.kind === 'directory') for await (const h of page.values()) if (h.kind === 'file') files.push(await h.getFile());
  const f = files.find((x) => x.size === ${MIB * 2 ** 20});
  if (f === undefined) throw new Error('no file of the right size in OPFS: ' + files.map((x) => x.name + ' ' + x.size).join(', '));
  const h = await hashwasm.createSHA256();
  h.init();
  const reader = f.stream().getReader();
  let chunks = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    h.update(value);
    chunks++;
  }
  return { size: f.size, sha256: h.digest('hex'), files: files.length, chunks };
})()`;

const PROBE = `(async () => {
  const out = { visibility: document.visibilityState, hasFocus: document.hasFocus() };
  const rt = performance.getEntriesByType('resource').filter((e) => e.name.includes('/blobs/'));
  out.blobRequests = rt.length;

  const urls = rt.map((e) => e.name.replace(/\\?.*$/, ''));
  let t = performance.now();
  let bytes = 0;
  const bufs = [];
  for (const u of urls.slice(0, 40)) { const b = await (await fetch(u)).arrayBuffer(); bytes += b.byteLength; if (bufs.length < 8) bufs.push(new Uint8Array(b)); }
  out.fetchSeqMBps = bytes / 1e6 / ((performance.now() - t) / 1000);
  t = performance.now(); bytes = 0;
  const list = urls.slice(0, 40);
  const q = list.map((u) => fetch(u).then((r) => r.arrayBuffer()));
  for (const p of q) bytes += (await p).byteLength;
  out.fetchParMBps = bytes / 1e6 / ((performance.now() - t) / 1000);
  const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
  const iv = new Uint8Array(12);
  const ct = await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, key, new Uint8Array(1 << 20));
  t = performance.now();
  for (let i = 0; i < 40; i++) await crypto.subtle.decrypt({ name: 'AES-GCM', iv }, key, ct);
  out.gcmMBps = 40 * 1.048576 / ((performance.now() - t) / 1000);
  const h = await hashwasm.createSHA256(); h.init();
  t = performance.now();
  for (let i = 0; i < 40; i++) h.update(bufs[i % bufs.length]);
  out.sha256MBps = 40 * 1.048576 / ((performance.now() - t) / 1000);
  const dir = await navigator.storage.getDirectory();
  const fh = await dir.getFileHandle('probe.bin', { create: true });
  const w = await fh.createWritable();
  t = performance.now();
  for (let i = 0; i < 40; i++) await w.write(bufs[i % bufs.length]);
  out.opfsWriteMBps = 40 * 1.048576 / ((performance.now() - t) / 1000);
  t = performance.now();
  await w.close();
  out.opfsCloseMs = performance.now() - t;
  await dir.removeEntry('probe.bin');
  return out;
})()`;

// ---- browsers ----------------------------------------------------------------------------------------
/** Chromium started here, driven over --remote-debugging-pipe with no CDP domain enabled. */
async function pipeBrowser(url, network) {
  const profile = tmp('nullroom-bench-profile-');
  const chrome = launch(CHROMIUM, [...ARGS, `--user-data-dir=${profile}`, '--remote-debugging-pipe', 'about:blank'], {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  chrome.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const cdp = pipeConnection(chrome);
  const version = (await cdp.send('Browser.getVersion')).product;
  let page;
  for (let i = 0; page === undefined; i++) {
    page = (await cdp.send('Target.getTargets')).targetInfos.find((t) => t.type === 'page');
    if (page === undefined && i > 100) throw new Error(`no page in Chromium: ${stderr}`);
    if (page === undefined) await new Promise((r) => setTimeout(r, 50));
  }
  const { sessionId } = await cdp.send('Target.attachToTarget', { targetId: page.targetId, flatten: true });
  const send = (method, params) => cdp.send(method, params, sessionId);
  // DRIVER=pipe-network: what Playwright does on every page, alone (the events are read and dropped).
  if (network) await send('Network.enable');
  await send('Page.navigate', { url });
  return {
    pid: chrome.pid,
    profile,
    version,
    send,
    async close() {
      await Promise.race([cdp.send('Browser.close').catch(() => undefined), new Promise((r) => setTimeout(r, 3000))]);
    },
  };
}

/** Chromium through playwright-core: `test` as apps/web/test/_browser.ts open() does, else bare. */
async function playwrightBrowser(url, test) {
  const { chromium } = await import('playwright-core');
  const before = new Set(descendants(process.pid));
  let ctx;
  let browser;
  let page;
  let profile;
  if (test) {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    ctx = await browser.newContext({ viewport: { width: 1100, height: 700 } });
    page = await ctx.newPage();
    const foreign = [];
    page.on('dialog', (d) => void d.dismiss());
    page.on('request', (r) => {
      if (!r.url().startsWith(url) && !r.url().startsWith('data:') && !r.url().startsWith(`blob:${url}`)) foreign.push(r.url());
    });
    page.on('console', () => undefined);
    page.on('pageerror', () => undefined);
  } else {
    profile = tmp('nullroom-bench-profile-');
    ctx = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: ARGS });
    browser = ctx.browser();
    page = ctx.pages()[0] ?? (await ctx.newPage());
  }
  const isChromium = (pid) => {
    try {
      return readlinkSync(`/proc/${pid}/exe`).includes('chromium') && kind(pid) === 'browser';
    } catch {
      return false;
    }
  };
  const pid = descendants(process.pid).find((p) => !before.has(p) && isChromium(p));
  if (pid === undefined) throw new Error('cannot find the Chromium that Playwright started');
  track(pid);
  await page.goto(url);
  // Driven exactly as the pipe run is: Runtime.evaluate, on a CDP session of Playwright's.
  const cdp = await ctx.newCDPSession(page);
  return {
    pid,
    profile,
    version: browser?.version() ?? 'chromium',
    send: (m, p) => cdp.send(m, p),
    close: () =>
      ctx
        .close()
        .then(() => browser?.close())
        .catch(() => undefined),
  };
}

// ---- one run -----------------------------------------------------------------------------------------
async function run(driver, file, expected) {
  const data = tmp('nullroom-bench-relay-');
  const relay = launch(process.execPath, [BIN, 'serve', '--port', '0', '--data', data, '--blob-dir', join(data, 'blobs')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const relayPeak = sampler(relay);
  const url = (await waitFor(relay, (l) => typeof l === 'string' && l.startsWith('nullroom listening on '), 'relay')).slice(
    'nullroom listening on '.length,
  );
  if (!/^https?:\/\/127\.0\.0\.1:/.test(url)) throw new Error(`the relay is not on 127.0.0.1: ${url}`);
  const browser = driver.startsWith('pipe')
    ? await pipeBrowser(url, driver === 'pipe-network')
    : await playwrightBrowser(url, driver === 'playwright-test');
  const tree = treeSampler(browser.pid);
  let sender;
  try {
    await evaluate(
      browser.send,
      until(
        `document.readyState === 'complete' && location.origin === ${JSON.stringify(new URL(url).origin)} && document.querySelector('#app > *')`,
        'the web app',
      ),
    );
    const stage = async (what) => {
      if (!process.env.PROBE) return;
      const r = descendants(browser.pid)
        .filter((q) => kind(q) === 'renderer')
        .map((q) => ({ q, ...status(q) }))
        .sort((a, b) => b.rss - a.rss)[0];
      const heap = await evaluate(browser.send, 'performance.memory.usedJSHeapSize');
      process.stderr.write(`[probe] ${what}: biggest renderer RSS ${MiB(r.rss)} (peak ${MiB(r.hwm)}), JS heap used ${MiB(heap)}\n`);
    };
    await stage('app loaded');
    await joinInPage(browser.send, 'receiver');
    await stage('joined');
    sender = launch(process.execPath, [BIN, 'chat', url, '--room', ROOM, '--nick', 'sender', '--json', '--no-key-store'], {
      env: { ...process.env, NULLROOM_PASSWORD: PASSWORD },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const senderPeak = sampler(sender);
    const sent = waitFor(sender, (e) => e.event === 'file-sent' || e.event === 'error', 'sender');
    sent.catch(() => undefined);
    await waitFor(sender, (e) => e.event === 'joined', 'sender joined');
    await evaluate(browser.send, until(`document.body.innerText.includes('sender joined')`, 'the browser sees the sender'));
    await evaluate(browser.send, WATCH);
    const load = os.loadavg()[0];
    tree.mark();
    const cpu0 = { relay: cpuSeconds(relay.pid), sender: cpuSeconds(sender.pid), driver: process.cpuUsage(), machine: machineBusy() };
    const start = performance.now();
    sender.stdin.write(`/send ${file}\n`);
    const done = await evaluate(browser.send, 'window.__bench');
    const seconds = (performance.now() - start) / 1000;
    const mem = tree.stop(); // before hashing: the check below is not part of the transfer
    const d = process.cpuUsage(cpu0.driver);
    const r2 = (x) => Math.round(x * 100) / 100;
    const cpu = {
      pageRenderer: mem.page.cpuDuring,
      chromiumTree: mem.treeCpuDuring,
      relay: r2(cpuSeconds(relay.pid) - cpu0.relay),
      sender: r2(cpuSeconds(sender.pid) - cpu0.sender),
      driver: r2((d.user + d.system) / 1e6),
    };
    // Other work on this machine meanwhile (other people's tests...), in cores: MB/s means little when it is high.
    const others = r2((machineBusy() - cpu0.machine - cpu.chromiumTree - cpu.relay - cpu.sender - cpu.driver) / seconds);
    const senderEvent = await sent;
    if (senderEvent.event !== 'file-sent') throw new Error(`sender: ${JSON.stringify(senderEvent)}`);
    await evaluate(browser.send, readFileSync(here('../node_modules/hash-wasm/dist/sha256.umd.min.js'), 'utf8'));
    const saved = await evaluate(browser.send, HASH_OPFS);
    if (process.env.PROBE) process.stderr.write(`[probe] ${driver} ${JSON.stringify(await evaluate(browser.send, PROBE))}\n`);
    if (saved.sha256 !== expected || senderEvent.sha256 !== expected || !done.saveLink)
      throw new Error(`the saved file differs: ${JSON.stringify({ saved, sender: senderEvent.sha256, expected, done })}`);
    return {
      driver,
      chromium: browser.version,
      load,
      others,
      seconds,
      mbPerSec: (MIB * 2 ** 20) / 1e6 / seconds,
      pageMs: done.pageMs,
      heap: done.heap,
      heapAtStart: done.heapAtStart,
      mem,
      cpu,
      relay: relayPeak(),
      sender: senderPeak(),
    };
  } finally {
    await browser.close();
    cleanup(false);
    for (const d of [data, ...(browser.profile ? [browser.profile] : [])]) rmSync(d, { recursive: true, force: true }), tmpDirs.delete(d);
  }
}

// ---- main ---------------------------------------------------------------------------------------------
if (!existsSync(CHROMIUM)) {
  process.stderr.write(`NOTICE: browser transfer benchmark skipped: ${CHROMIUM} is not installed\n`);
  process.exit(0);
}
arm();
const dir = tmp('nullroom-bench-file-');
const file = makeFile(dir, FILE_NAME, MIB);
const expected = await sha256File(file);
const runs = [];
try {
  for (let i = 0; i < RUNS; i++) {
    for (const driver of i % 2 === 0 ? DRIVERS : [...DRIVERS].reverse()) {
      arm();
      const r = await run(driver, file, expected);
      process.stderr.write(
        `[browser-transfer] ${driver}: ${r.mbPerSec.toFixed(0)} MB/s (${r.seconds.toFixed(2)} s; other processes used ${r.others} cores meanwhile); peak RSS page renderer ${MiB(r.mem.page.peak)} (before /send ${MiB(r.mem.page.peakBefore)}, RSS at /send ${MiB(r.mem.page.rssAtSend)}, during ${MiB(r.mem.page.peakDuring)}), ` +
          `Chromium tree RSS sum ${MiB(r.mem.treeRssSumMax)} (PSS ${MiB(r.mem.treePssSumMax)}), page JS heap used ${MiB(r.heap.used)} (${MiB(r.heapAtStart.used)} at /send), relay ${MiB(r.relay)}, sender ${MiB(r.sender)}; CPU s during the transfer ${JSON.stringify(r.cpu)}\n` +
          `  peak RSS before/during /send, CPU s during: ${r.mem.processes.map((p) => `${p.kind} ${MiB(p.peakBefore)}/${MiB(p.peakDuring)} ${p.cpuDuring}s`).join(', ')}\n`,
      );
      runs.push(r);
    }
  }
} finally {
  cleanup();
}
clearTimeout(watchdog);

const of = (driver) => runs.filter((r) => r.driver === driver);
const most = (rs, f) => Math.max(...rs.map(f));
const summarize = (rs) =>
  rs.length === 0
    ? undefined
    : {
        mbPerSec: Math.round(most(rs, (r) => r.mbPerSec)),
        peakRssBytes: {
          rendererMax: most(rs, (r) => r.mem.rendererMax),
          browserTreeMax: most(rs, (r) => r.mem.treeRssSumMax),
          relay: most(rs, (r) => r.relay),
          sender: most(rs, (r) => r.sender),
        },
        browserTreePssMax: most(rs, (r) => r.mem.treePssSumMax),
        chromiumProcessMax: most(rs, (r) => r.mem.processMax),
        // Each Chromium process's VmHWM reset at /send: what the transfer itself needed.
        duringTransfer: {
          rendererMax: most(rs, (r) => r.mem.rendererDuring),
          rendererBeforeSend: most(rs, (r) => r.mem.rendererBefore),
          anyChromiumProcessMax: most(rs, (r) => most(r.mem.processes, (p) => p.peakDuring)),
          browserTreeRssSumMax: most(rs, (r) => r.mem.treeRssSumDuring),
          browserTreePssSumMax: most(rs, (r) => r.mem.treePssSumDuring),
        },
        runs: rs.map((r) => ({
          mbPerSec: Math.round(r.mbPerSec),
          loadavg1: Math.round(r.load * 100) / 100,
          otherProcessesCores: r.others,
          pageRendererPeak: r.mem.page.peak,
          pageRendererRssAtSend: r.mem.page.rssAtSend,
          pageJsHeapUsed: { atSend: r.heapAtStart.used, max: r.heap.used },
          cpuSeconds: r.cpu,
          processes: r.mem.processes,
        })),
      };
const main = DRIVERS[0];
const m = summarize(of(main));
const others = Object.fromEntries(DRIVERS.slice(1).map((d) => [d, summarize(of(d))]));
const report = {
  bench: 'browser-transfer',
  date: new Date().toISOString(),
  machine: {
    node: process.version,
    chromium: runs[0].chromium,
    platform: `${os.platform()} ${os.arch()}`,
    cpus: os.cpus().length,
    loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100),
  },
  fileBytes: MIB * 2 ** 20,
  driver: main,
  mbPerSec: m.mbPerSec,
  peakRssBytes: m.peakRssBytes,
  browserTreePssMax: m.browserTreePssMax,
  chromiumProcessMax: m.chromiumProcessMax,
  duringTransfer: m.duringTransfer,
  runs: m.runs,
  ...(Object.keys(others).length ? { otherDrivers: others } : {}),
  notes:
    'One file from `nullroom chat --json` (terminal) through `nullroom serve` to the web app in headless Chromium, saved to OPFS; ' +
    'mbPerSec from `/send` to the file card reaching data-state=done (every chunk verified, SHA-256 matched, OPFS file committed), best run. ' +
    `Driver "${main}"${main === 'pipe' ? ': Chromium started by the bench and driven over --remote-debugging-pipe with no CDP domain enabled (Runtime.evaluate only; nothing moves on CDP during the transfer)' : ''}. ` +
    'Saved bytes re-hashed in the page from OPFS (streamed, hash-wasm SHA-256) and compared. ' +
    'rendererMax: highest VmHWM of any renderer (the page is the only page); browserTreeMax: highest sum of VmRSS over all Chromium processes, sampled every 200 ms (counts shared pages once per process; browserTreePssMax counts them once); chromiumProcessMax: highest VmHWM of any Chromium process; ' +
    'duringTransfer: the same after each Chromium process VmHWM was reset at /send (clear_refs 5), i.e. without the join (Argon2id, 64 MiB). relay, sender: VmHWM. ' +
    'cpuSeconds: CPU used from /send to done by the page renderer, the whole Chromium tree, relay, sender and this driver (Playwright runs its CDP client here); less sensitive to other load than MB/s.',
};
writeResult(MIB === 200 ? 'browser-transfer' : `browser-transfer-${MIB}MiB`, report);
const pr = report.peakRssBytes;
console.log(
  `${MIB} MiB terminal to browser (${main}): ${report.mbPerSec} MB/s; peak RSS renderer ${MiB(pr.rendererMax)} (during the transfer ${MiB(report.duringTransfer.rendererMax)}), Chromium tree ${MiB(pr.browserTreeMax)}, relay ${MiB(pr.relay)}, sender ${MiB(pr.sender)}` +
    Object.entries(others)
      .map(
        ([d, o]) => `; ${d}: ${o.mbPerSec} MB/s, renderer ${MiB(o.peakRssBytes.rendererMax)}, tree ${MiB(o.peakRssBytes.browserTreeMax)}`,
      )
      .join(''),
);
