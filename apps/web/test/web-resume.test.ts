/**
 * Resume in the browser (issue #4): "a transfer that was interrupted by a reconnect resumes from the
 * last verified chunk" (docs/PROTOCOL.md §5.1, §9). A Chromium page reaches the relay only through
 * a TCP proxy on 127.0.0.1 (the page's origin is the proxy, so its WebSocket and its blob requests
 * go through it); a terminal client sits in the same room, connected to the relay directly. The
 * proxy slows the file down, and once the page shows 30 % it cuts every connection in the middle
 * of a chunk and refuses new ones for a second. The page must say it is reconnecting, keep its
 * progress bar where it was (never lower), show no error, and finish: the bytes match, and the
 * chunks that went over the wire twice are exactly those on the wire at the cut (at most the
 * transfer concurrency), not the whole file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import type { Page } from 'playwright-core';
import { DEFAULT_TRANSFER_CHUNK, DEFAULT_TRANSFER_CONCURRENCY as CONCURRENCY } from '@nullroom/client';
import { join, screenshot, skip, withRelayAndBrowser } from './_browser.js';
import { type Proc, run } from './_spawn.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const FILE_SIZE = 24 * 1024 * 1024 + 12_345;
const CHUNKS = Math.ceil(FILE_SIZE / DEFAULT_TRANSFER_CHUNK);
/** Bytes per second through the proxy while a file moves: the 24 MiB take about three seconds. */
const RATE = 8 * 1024 * 1024;
/** The proxy refuses new connections for at least this long after the cut. */
const REFUSE_MS = 1000;

/** A blob request the proxy saw go up to the relay. */
interface BlobRequest {
  method: string;
  index: number;
  /** Cuts before the request went up. */
  cutsBefore: number;
  /** Cuts before its whole answer came back down (undefined: it never did). */
  answeredAfterCuts?: number;
  /** Cuts before its connection closed with the answer still to come (undefined: it did not). */
  lostAfterCuts?: number;
}

/**
 * Reads the HTTP/1.1 messages going one way on one connection: `onHead` gets each head and says
 * how long its body is, what to call as the body goes through (with the bytes left) and once it
 * has. Stops at an upgrade (a WebSocket) or at anything that is not HTTP.
 */
function httpReader(
  onHead: (head: string) => { body: number; onBytes?: (left: number) => void; onBody?: () => void; tunnel?: boolean },
): (chunk: Buffer) => void {
  let head = Buffer.alloc(0);
  let body = 0;
  let onBytes: ((left: number) => void) | undefined;
  let onBody: (() => void) | undefined;
  let tunnel = false;
  return (chunk) => {
    let rest = chunk;
    while (!tunnel && rest.byteLength > 0) {
      if (body > 0) {
        const n = Math.min(body, rest.byteLength);
        body -= n;
        rest = rest.subarray(n);
        onBytes?.(body);
        if (body === 0) onBody?.();
        continue;
      }
      head = Buffer.concat([head, rest]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.byteLength > 64 * 1024) tunnel = true;
        return;
      }
      rest = head.subarray(end + 4);
      const next = onHead(head.subarray(0, end).toString('latin1'));
      head = Buffer.alloc(0);
      ({ body, onBytes, onBody } = next);
      tunnel = next.tunnel === true;
      if (body === 0) onBody?.();
    }
  };
}
const contentLength = (head: string) => Number(/^content-length:\s*(\d+)/im.exec(head)?.[1] ?? '0');

/**
 * A TCP proxy in front of the relay: it reads the HTTP going through (to log every
 * `/blobs/{id}/{index}` request and when its answer came back), shares one byte rate between all
 * its connections when `rate` is set, and can cut: destroy every live connection, in the middle
 * of a chunk, and refuse new ones for a while.
 */
async function cuttableProxy(target: URL) {
  const sockets = new Set<net.Socket>();
  const requests: BlobRequest[] = [];
  let cuts = 0;
  let down = false;
  let rate = Infinity;
  let linkFreeAt = 0;
  /** Armed by `cutMidChunk`: cut once a chunk of this method is half way through. */
  let armed: string | undefined;
  const cut = () => {
    cuts++;
    down = true;
    for (const s of sockets) s.destroy();
  };
  /** Body bytes of a blob request or answer went through: `left` of `total` to go. */
  const midway = (method: string, left: number, total: number) => {
    if (armed !== method || left > total / 2) return;
    armed = undefined;
    cut();
  };

  /** Copies src to dst with backpressure, at the shared rate; `inspect` reads each piece first. */
  const pipe = (src: net.Socket, dst: net.Socket, inspect: (b: Buffer) => void) => {
    let holds = 0;
    const hold = () => {
      holds++;
      src.pause();
      return () => {
        if (--holds === 0 && !src.destroyed) src.resume();
      };
    };
    src.on('data', (b: Buffer) => {
      inspect(b);
      if (!dst.write(b)) dst.once('drain', hold());
      if (rate === Infinity) return;
      const now = performance.now();
      linkFreeAt = Math.max(linkFreeAt, now) + (b.byteLength / rate) * 1000;
      if (linkFreeAt - now > 2) setTimeout(hold(), linkFreeAt - now);
    });
    src.on('end', () => dst.end());
  };

  const server = net.createServer((client) => {
    if (down) return void client.destroy();
    const upstream = net.connect(Number(target.port), target.hostname);
    // Requests on this connection still waiting for their answer, in order (no pipelining).
    const waiting: { method: string; blob?: BlobRequest }[] = [];
    /** Every blob request made on this connection. */
    const mine: BlobRequest[] = [];
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
        for (const blob of mine) if (blob.answeredAfterCuts === undefined) blob.lostAfterCuts ??= cuts;
      });
      s.on('error', () => undefined);
    }
    const asks = httpReader((head) => {
      const [method = '', path = ''] = head.slice(0, head.indexOf('\r\n')).split(' ');
      const m = /^\/blobs\/[A-Za-z0-9_-]{22}\/(\d+)(?:\?|$)/.exec(path);
      const blob = m === null ? undefined : { method, index: Number(m[1]), cutsBefore: cuts };
      if (blob !== undefined) {
        requests.push(blob);
        mine.push(blob);
      }
      waiting.push(blob === undefined ? { method } : { method, blob });
      const body = contentLength(head);
      return {
        body,
        tunnel: /^upgrade:/im.test(head),
        ...(method === 'PUT' && blob ? { onBytes: (left: number) => midway('PUT', left, body) } : {}),
      };
    });
    const answers = httpReader((head) => {
      const status = Number(head.split(' ')[1]);
      const req = status >= 200 ? waiting.shift() : undefined; // 1xx: more to come
      const bodyless = req?.method === 'HEAD' || status < 200 || status === 204 || status === 304;
      const body = bodyless ? 0 : contentLength(head);
      return {
        body,
        ...(req?.method === 'GET' && req.blob ? { onBytes: (left: number) => midway('GET', left, body) } : {}),
        onBody: () => req?.blob !== undefined && (req.blob.answeredAfterCuts = cuts),
        tunnel: status === 101,
      };
    });
    pipe(client, upstream, asks);
    pipe(upstream, client, answers);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    set rate(bytesPerSecond: number) {
      rate = bytesPerSecond;
    },
    /** Cuts every connection now and refuses new ones until `reopen`. */
    cut,
    /** The same, as soon as a chunk going up (PUT) or down (GET) is half way through. */
    cutMidChunk(method: 'GET' | 'PUT') {
      armed = method;
    },
    reopen() {
      down = false;
    },
    get cuts() {
      return cuts;
    },
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}
type Proxy = Awaited<ReturnType<typeof cuttableProxy>>;

/** What the page shows, sampled on every DOM change. */
interface Shown {
  at: number;
  /** The file's progress bar (null once the card shows no bar). */
  progress: number | null;
  /** The file card's data-state. */
  state: string | null;
  /** The connection badge's state (online, reconnecting, ...). */
  conn: string;
  /** Error lines in the conversation plus error texts on file cards. */
  errors: number;
}

/**
 * Watches the page from inside (a MutationObserver; a busy page answers queries from outside
 * slowly, an observer misses nothing) and reports each change of what is shown for file `name`.
 */
async function watch(page: Page, name: string, onShown: (s: Shown) => void): Promise<Shown[]> {
  const log: Shown[] = [];
  await page.exposeFunction('__nullroomShown', (s: Shown) => {
    log.push(s);
    onShown(s);
  });
  await page.evaluate((fileName) => {
    let last = '';
    const sample = () => {
      const card = Array.from(document.querySelectorAll('[data-testid=file-card]')).find(
        (c) => c.querySelector('.file-name')?.textContent === fileName,
      );
      const bar = card?.querySelector('[data-testid=file-progress]') as HTMLProgressElement | null | undefined;
      const s = {
        progress: bar?.value ?? null,
        state: card?.getAttribute('data-state') ?? null,
        conn: /conn-(\w+)/.exec(document.querySelector('[data-testid=connection]')?.className ?? '')?.[1] ?? '',
        errors: document.querySelectorAll('li.line.error, [data-testid=file-card] .error').length,
      };
      const key = JSON.stringify(s);
      if (key === last) return;
      last = key;
      void (window as unknown as { __nullroomShown: (x: unknown) => Promise<void> }).__nullroomShown({ at: Date.now(), ...s });
    };
    new MutationObserver(sample).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
    sample();
  }, name);
  return log;
}

/** Resolves on the first thing shown that satisfies `pred` (or rejects after `ms`). */
function shownUntil(
  log: Shown[],
  subscribe: (fn: () => void) => void,
  pred: (s: Shown) => boolean,
  what: string,
  ms = 60_000,
): Promise<Shown> {
  return new Promise((resolve, reject) => {
    let done = false;
    const timer = setTimeout(
      () => ((done = true), reject(new Error(`timed out waiting for ${what}; last shown: ${JSON.stringify(log.at(-1))}`))),
      ms,
    );
    const check = () => {
      const s = log.find(pred);
      if (done || s === undefined) return;
      done = true;
      clearTimeout(timer);
      resolve(s);
    };
    subscribe(check);
    check();
  });
}

/** Relay, proxy, a Chromium page behind the proxy (alice) and a terminal client on the relay (bob). */
async function withRoom(label: string, fn: (ctx: { page: Page; term: Proc; proxy: Proxy; dir: string }) => Promise<void>): Promise<void> {
  await withRelayAndBrowser([], async (relayUrl, browser) => {
    const proxy = await cuttableProxy(new URL(relayUrl));
    const dir = mkdtempSync(joinPath(tmpdir(), 'nullroom-resume-'));
    const password = `resume ${label} password 31`;
    let term: Proc | undefined;
    try {
      const alice = await join(browser, proxy.url, 'alice', `resume ${label}`, password);
      term = run(['chat', relayUrl, '--room', `resume ${label}`, '--nick', 'bob', '--json', '--download-dir', dir], {
        NULLROOM_PASSWORD: password,
      });
      await term.waitFor((e) => e['event'] === 'joined', 'terminal joined');
      await alice.page.getByText('bob joined').waitFor();
      await fn({ page: alice.page, term, proxy, dir });
      assert.deepEqual(alice.foreign, [], 'the page talked to nothing but the proxy');
      assert.deepEqual(
        alice.console.filter((l) => l.startsWith('pageerror')),
        [],
        'no uncaught error in the page',
      );
    } finally {
      if (term !== undefined && term.child.exitCode === null) term.child.kill('SIGKILL');
      proxy.close();
    }
  });
}

/**
 * Once the page shows 30 % of the file verified, cuts the proxy in the middle of the next chunk
 * (`method`: the way the file goes), then checks what the page showed: reconnecting (screenshot),
 * back online, the card done (screenshot), its progress never going down nor any error appearing
 * on the way. Returns what the bar showed when the cut was armed (verified by then).
 */
async function cutMidway(
  page: Page,
  proxy: Proxy,
  method: 'GET' | 'PUT',
  name: string,
  shot: string,
  start: () => Promise<void>,
): Promise<{ log: Shown[]; atCut: number }> {
  const subscribers = new Set<() => void>();
  const subscribe = (fn: () => void) => subscribers.add(fn);
  let atCut: number | undefined;
  const log = await watch(page, name, (s) => {
    // Armed from inside the report itself: no round trip between seeing the progress and arming.
    if (atCut === undefined && s.progress !== null && s.progress >= FILE_SIZE * 0.3) {
      atCut = s.progress;
      proxy.cutMidChunk(method);
    }
    for (const fn of subscribers) fn();
  });
  proxy.rate = RATE;
  await start();
  await shownUntil(log, subscribe, () => proxy.cuts > 0, 'the cut at 30 %');
  const cutAt = Date.now();
  assert.ok(atCut! < FILE_SIZE * 0.9, `the cut came too late to tell anything (${atCut} of ${FILE_SIZE})`);
  // The proxy stays down until the page said so and was photographed (a second at least).
  await shownUntil(log, subscribe, (s) => s.conn === 'reconnecting', 'the page shows it is reconnecting', 10_000);
  await screenshot(page, `${shot}-cut`);
  await new Promise((resolve) => setTimeout(resolve, cutAt + REFUSE_MS - Date.now()));
  proxy.reopen();
  await shownUntil(log, subscribe, (s) => s.state === 'done', 'the transfer finishes after the cut', 90_000);
  await shownUntil(
    log,
    subscribe,
    (s) => s.conn === 'online' && log.some((x) => x.conn === 'reconnecting'),
    'the page is back online',
    20_000,
  );
  await page.getByTestId('connection').getByText('Online').waitFor();
  await screenshot(page, `${shot}-done`);
  proxy.rate = Infinity;

  // Honest UI: the bar only moves forward (it counts verified bytes), through the cut too; the
  // "reconnecting" badge clears; no error was shown for a cut the transfer survived.
  const bars = log.map((s) => s.progress).filter((p): p is number => p !== null);
  for (let i = 1; i < bars.length; i++) assert.ok(bars[i]! >= bars[i - 1]!, `the progress bar went back from ${bars[i - 1]} to ${bars[i]}`);
  assert.ok(bars.some((p) => p > 0 && p < atCut!) && bars.some((p) => p > atCut!), 'the bar moved before and after the cut');
  assert.deepEqual(
    log.filter((s) => s.errors > 0 || s.state === 'failed' || s.state === 'cancelled'),
    [],
    'no error shown',
  );
  assert.equal(log.at(-1)?.conn, 'online');
  return { log, atCut: atCut! };
}

/**
 * Resumed, not restarted: every chunk went through at least once, and the ones that went twice
 * are exactly those on the wire at the cut (asked for before it, not yet answered), at most the
 * transfer concurrency. Nothing below `verifiedChunks` was asked for after the cut (downloads
 * verify in order, so what the bar showed at the cut is a prefix of verified chunks).
 */
function assertResumed(requests: BlobRequest[], method: 'GET' | 'PUT', verifiedChunks: number): void {
  const all = requests.filter((r) => r.method === method);
  // A connection can also close under a request before any cut: one the relay closed for being
  // idle just as the browser reused it, and the browser sends the request again by itself. That
  // is not the resume under test: such requests are left out (and shown), a handful at most.
  const lostEarly = all.filter((r) => r.lostAfterCuts === 0);
  assert.ok(lostEarly.length <= CONCURRENCY, `${lostEarly.length} requests lost before the cut`);
  const seen = all.filter((r) => r.lostAfterCuts !== 0);
  const count = new Map<number, number>();
  for (const r of seen) count.set(r.index, (count.get(r.index) ?? 0) + 1);
  assert.deepEqual(
    [...count.keys()].sort((a, b) => a - b),
    Array.from({ length: CHUNKS }, (_, i) => i),
    `every chunk went through the proxy (${method})`,
  );
  const again = [...count]
    .filter(([, n]) => n > 1)
    .map(([i]) => i)
    .sort((a, b) => a - b);
  const onTheWire = new Set(seen.filter((r) => r.cutsBefore === 0 && r.answeredAfterCuts !== 0).map((r) => r.index));
  const afterCut = seen.filter((r) => r.cutsBefore === 1);
  const order = (rs: BlobRequest[]) => rs.map((r) => r.index).join(' ');
  process.stderr.write(
    `# ${method} ${seen.length} requests for ${CHUNKS} chunks; before the cut: ${order(seen.filter((r) => r.cutsBefore === 0))}; ` +
      `on the wire at the cut: ${[...onTheWire].join(' ')}; after: ${order(afterCut)}; twice: ${again.join(' ')}; ${verifiedChunks} chunks shown verified at the cut; lost before it: ${order(lostEarly)}\n`,
  );
  assert.ok(seen.some((r) => r.answeredAfterCuts === 0) && afterCut.length > 0, 'chunks went both before and after the cut');
  assert.ok(
    again.length <= CONCURRENCY,
    `${again.length} chunks went twice (${again.join(', ')}); at most ${CONCURRENCY} can be in flight`,
  );
  // A chunk cut off on the wire must go again; one that had gone through must not.
  assert.ok(onTheWire.size > 0, 'the cut came in the middle of a chunk');
  assert.deepEqual(
    again,
    [...onTheWire].sort((x, y) => x - y),
    'exactly the chunks on the wire at the cut went twice',
  );
  for (const r of afterCut)
    assert.ok(
      r.index >= verifiedChunks,
      `chunk ${r.index} was asked for again after the cut, though the first ${verifiedChunks} had verified`,
    );
}

/**
 * Size and SHA-256 of each file the page received, read in the page where its sink wrote them: the
 * origin's private file system (the page's CSP, connect-src 'self', keeps fetch() away from the
 * blob: URL behind the save link).
 */
function savedFiles(page: Page): Promise<{ size: number; sha256: string }[]> {
  return page.evaluate(async () => {
    // received/<page>/<file> (browserFiles.ts, receivedFolder).
    type Dir = { values(): AsyncIterable<FileSystemHandle> };
    const received = await (await navigator.storage.getDirectory()).getDirectoryHandle('received');
    const handles: FileSystemFileHandle[] = [];
    for await (const page of (received as unknown as Dir).values())
      for await (const h of (page as unknown as Dir).values()) handles.push(h as FileSystemFileHandle);
    const files: { size: number; sha256: string }[] = [];
    for (const handle of handles) {
      const bytes = await (await handle.getFile()).arrayBuffer();
      const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
      files.push({ size: bytes.byteLength, sha256: Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('') });
    }
    return files;
  });
}

test(
  'browser receiving: a download cut by a reconnect resumes from the last verified chunk; the saved bytes match',
  { skip, timeout: 150_000 },
  () =>
    withRoom('receive', async ({ page, term, proxy, dir }) => {
      const data = randomBytes(FILE_SIZE);
      const path = joinPath(dir, 'resume-down.bin');
      writeFileSync(path, data);
      const { atCut } = await cutMidway(page, proxy, 'GET', 'resume-down.bin', 'web-resume-receive', async () => {
        term.child.stdin.write(`/send "${path}"\n`);
        // The terminal uploads straight to the relay; only the page's download crosses the proxy.
        await term.waitFor((e) => e['event'] === 'file-sent', 'the terminal uploaded the file', 30_000);
        await page.getByTestId('file-card').filter({ hasText: 'resume-down.bin' }).getByTestId('file-download').click();
      });
      await page.getByTestId('file-card').filter({ hasText: 'resume-down.bin' }).getByTestId('file-save').waitFor();
      assert.deepEqual(await savedFiles(page), [{ size: FILE_SIZE, sha256: sha(data) }]);
      // Downloads verify in order: the bar at the cut counts a prefix of chunks that must not come again.
      assertResumed(proxy.requests, 'GET', Math.floor(atCut / DEFAULT_TRANSFER_CHUNK));
    }),
);

test('browser sending: an upload cut by a reconnect resumes; the terminal saves the same bytes', { skip, timeout: 150_000 }, () =>
  withRoom('send', async ({ page, term, proxy, dir }) => {
    const data = randomBytes(FILE_SIZE);
    const path = joinPath(mkdtempSync(joinPath(tmpdir(), 'nullroom-upload-')), 'resume-up.bin');
    writeFileSync(path, data);
    await cutMidway(page, proxy, 'PUT', 'resume-up.bin', 'web-resume-send', async () => {
      await page.getByTestId('file-input').setInputFiles([path]);
    });
    const got = await term.waitFor((e) => e['event'] === 'file' && e['name'] === 'resume-up.bin', 'the terminal saves the file', 30_000);
    assert.equal(got['sha256'], sha(data));
    assert.equal(got['size'], FILE_SIZE);
    assert.ok(String(got['path']).startsWith(dir));
    // Uploads are acknowledged out of order: no prefix to check, only what went twice.
    assertResumed(proxy.requests, 'PUT', 0);
  }),
);

// A member who rejoins sees nothing sent while it was away (§4.3): the sender tells the hash of its
// recent files again when a member (re)joins (files.ts FILE_DONE_REPEAT_MS), so a receiver that was
// reconnecting when `file-done` went out still saves the file.
test('browser away while the sender finishes: after the reconnect the download completes', { skip, timeout: 120_000 }, () =>
  withRoom('away', async ({ page, term, proxy, dir }) => {
    const data = randomBytes(FILE_SIZE);
    const path = joinPath(dir, 'away.bin');
    writeFileSync(path, data);
    const subscribers = new Set<() => void>();
    const subscribe = (fn: () => void) => subscribers.add(fn);
    const log = await watch(page, 'away.bin', () => subscribers.forEach((fn) => fn()));
    term.child.stdin.write(`/send "${path}"\n`);
    await shownUntil(log, subscribe, (s) => s.state === 'offered', 'the offer', 30_000);
    // The page is away until the terminal, on the relay directly, has uploaded and said file-done.
    proxy.cut();
    await shownUntil(log, subscribe, (s) => s.conn === 'reconnecting', 'the page is away', 10_000);
    await term.waitFor((e) => e['event'] === 'file-sent', 'the terminal uploaded the file', 30_000);
    proxy.reopen();
    await page.getByTestId('connection').getByText('Online').waitFor({ timeout: 20_000 });
    await page.getByTestId('file-card').filter({ hasText: 'away.bin' }).getByTestId('file-download').click();
    await shownUntil(log, subscribe, (s) => s.progress === FILE_SIZE, 'every chunk verified', 60_000);
    await screenshot(page, 'web-resume-away');
    await shownUntil(log, subscribe, (s) => s.state === 'done', 'the download completes', 15_000);
    assert.deepEqual(await savedFiles(page), [{ size: FILE_SIZE, sha256: sha(data) }]);
  }),
);
