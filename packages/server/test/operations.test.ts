/**
 * The relay's operational surface (docs/OPERATING.md "Signals, logs, health"):
 *  - /metrics after real traffic (a room with messages, refused frames, a 404, a refused upgrade, an
 *    account journey over HTTP and the account channel): the counters moved, the gauges show the
 *    room and its connections, the budgets carry their limits, process metrics are there; and
 *    neither the metrics nor pino's JSON log lines (at debug) hold a canary room locator (hex,
 *    base64url), path, user name, password or token;
 *  - who may read /metrics: its own listener, 404 elsewhere, a bearer token when set; a non-loopback
 *    listener without a token or without TLS is a configuration error;
 *  - /readyz: 200 when ready; drain() makes it 503 `draining` and refuses new WebSockets (503,
 *    Retry-After) while open ones go on; a failing check added by the caller, and a closed account
 *    store, make it 503 naming the check.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import WebSocket from 'ws';
import { type RoomLocator, SUBPROTOCOL, asEpoch, asReqId, encodeFrame } from '@nullroom/protocol';
import { RelayConfigError, pinoLogger, startRelay } from '../src/index.js';
import { connect } from './_raw.js';
import { openChannel, relayWithAccounts, withDevice } from './_accounts.js';

const rq = (n: number) => asReqId(n);

/** The value of one sample line (`name{labels} value`), or undefined. */
function sample(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels === '' ? '' : `{${labels}}`} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** An upgrade to /ws that is refused: its status, headers and body. */
function refusedUpgrade(url: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws`, SUBPROTOCOL, { headers });
    ws.on('open', () => reject(new Error('the upgrade was accepted')));
    ws.on('error', () => undefined);
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
  });
}

test('metrics after real traffic: counters moved, gauges and limits shown, no canary in the metrics or the JSON logs', async () => {
  const lines: string[] = [];
  const memory = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(
        ...chunk
          .toString()
          .split('\n')
          .filter((l) => l !== ''),
      );
      done();
    },
  });
  const user = `canaryuser${randomBytes(4).toString('hex')}`;
  const password = `canary password ${randomBytes(8).toString('hex')}`;
  const api = await relayWithAccounts(
    {},
    undefined,
    {},
    { log: pinoLogger({ level: 'debug', destination: memory }), metrics: { port: 0 } },
  );
  const { relay } = api;
  const locatorBytes = randomBytes(32);
  const room = new Uint8Array(locatorBytes) as RoomLocator;
  const path = `/canary-path-${randomBytes(4).toString('hex')}`;
  try {
    const a = await connect(relay.url);
    const b = await connect(relay.url);
    a.send(encodeFrame({ type: 'JOIN', reqId: rq(1), room }));
    await a.next('JOINED');
    b.send(encodeFrame({ type: 'JOIN', reqId: rq(1), room }));
    await b.next('JOINED');
    a.send(encodeFrame({ type: 'CREATE', reqId: rq(2), room, groupInfo: randomBytes(64) }));
    await a.next('ACK');
    for (let i = 0; i < 5; i++) a.send(encodeFrame({ type: 'APP', reqId: rq(10 + i), room, epoch: asEpoch(0), data: randomBytes(100) }));
    for (let i = 0; i < 5; i++) await b.next('DELIVER');
    // Refused frames: a second JOIN (ALREADY_IN_ROOM), an APP at a wrong epoch (STALE_EPOCH), bytes that are no frame (MALFORMED).
    a.send(encodeFrame({ type: 'JOIN', reqId: rq(20), room }));
    assert.equal((await a.next('ERROR')).code, 11);
    a.send(encodeFrame({ type: 'APP', reqId: rq(21), room, epoch: asEpoch(7), data: randomBytes(10) }));
    await a.next('ERROR');
    const bad = await connect(relay.url);
    bad.send(Uint8Array.of(0xff, 1, 2));
    await bad.closed;
    assert.equal((await fetch(`${relay.url}${path}`)).status, 404);
    assert.equal((await refusedUpgrade(relay.url, { origin: 'https://elsewhere.example' })).status, 403);
    // An account journey: registration, a device, the account channel.
    const { auth, device, d, token } = await withDevice(api, user, password);
    const channel = await openChannel(relay.url, auth, device, (m) => d.sign(m));
    assert.equal((await api.post('/api/login/start', { name: user, request: 'not opaque' })).status, 400);

    const scrape = await fetch(relay.metricsUrl!);
    assert.equal(scrape.status, 200);
    assert.match(scrape.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await scrape.text();
    assert.equal(sample(text, 'nullroom_deliveries_total'), 5);
    assert.ok(sample(text, 'nullroom_delivery_bytes_total')! > 500);
    assert.equal(sample(text, 'nullroom_relay_errors_total', 'code="ALREADY_IN_ROOM"'), 1);
    assert.equal(sample(text, 'nullroom_relay_errors_total', 'code="STALE_EPOCH"'), 1);
    assert.equal(sample(text, 'nullroom_relay_errors_total', 'code="NOT_CREATOR"'), 0, 'every code is shown, at 0 too');
    assert.equal(sample(text, 'nullroom_room_connections_closed_by_relay_total', 'reason="MALFORMED"'), 1);
    assert.equal(sample(text, 'nullroom_http_refused_total', 'area="http",reason="not_found",status="404"'), 1);
    assert.equal(sample(text, 'nullroom_http_refused_total', 'area="api",reason="BAD_REQUEST",status="400"'), 1);
    assert.equal(sample(text, 'nullroom_upgrade_refused_total', 'reason="forbidden_origin",status="403"'), 1);
    assert.equal(sample(text, 'nullroom_connections', 'kind="room"'), 2);
    assert.equal(sample(text, 'nullroom_connections', 'kind="account"'), 1);
    assert.equal(sample(text, 'nullroom_rooms'), 1);
    assert.equal(sample(text, 'nullroom_room_connections_opened_total'), 3);
    assert.ok(sample(text, 'nullroom_frames_received_total', 'channel="room"')! >= 10);
    assert.ok(sample(text, 'nullroom_frames_received_total', 'channel="account"')! >= 1);
    assert.ok(sample(text, 'nullroom_frames_sent_total', 'channel="account"')! >= 2);
    assert.ok(sample(text, 'nullroom_http_requests_total')! >= 5);
    assert.ok(sample(text, 'nullroom_group_info_bytes')! > 0);
    assert.equal(sample(text, 'nullroom_group_info_limit_bytes'), 256 * 1024 * 1024);
    assert.equal(sample(text, 'nullroom_output_backlog_limit_bytes'), 256 * 1024 * 1024);
    assert.ok(sample(text, 'nullroom_room_log_bytes')! > 0);
    assert.equal(sample(text, 'nullroom_blobs'), 0);
    assert.equal(sample(text, 'nullroom_blob_limit_bytes'), 16 * 1024 ** 3);
    assert.equal(sample(text, 'nullroom_draining'), 0);
    assert.ok(sample(text, 'process_cpu_user_seconds_total') !== undefined, 'process metrics');
    assert.equal(await relay.metricsText().then((t) => sample(t, 'nullroom_deliveries_total')), 5);

    const logs = lines.join('\n');
    for (const l of lines) {
      const o = JSON.parse(l) as { level: string; msg: string };
      assert.ok(['debug', 'info', 'warn', 'error'].includes(o.level) && typeof o.msg === 'string', l);
    }
    assert.ok(
      lines.some((l) => l.includes('"msg":"connection open"')),
      'debug lines are there',
    );
    assert.ok(lines.some((l) => l.includes('"msg":"relay listening"')));
    const canaries = {
      'locator hex': locatorBytes.toString('hex'),
      'locator base64url': locatorBytes.toString('base64url'),
      'locator base64': locatorBytes.toString('base64'),
      path: path.slice(1),
      user,
      password,
      token,
      device,
    };
    for (const [what, c] of Object.entries(canaries)) {
      assert.ok(!text.includes(c), `the ${what} is in the metrics`);
      assert.ok(!logs.includes(c), `the ${what} is in the logs`);
    }
    for (const p of [a, b]) p.ws.close();
    channel.ws.close();
  } finally {
    await relay.close();
  }
});

test('who may read /metrics: its own listener, a bearer token when set; off the public port; a wide listener needs a token and TLS', async () => {
  const token = randomBytes(16).toString('hex');
  const relay = await startRelay({ port: 0, blobs: false, metrics: { port: 0, token } });
  try {
    assert.equal((await fetch(`${relay.url}/metrics`)).status, 404, 'not on the public port');
    const url = relay.metricsUrl!;
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    assert.equal((await fetch(url)).status, 401);
    assert.equal((await fetch(url, { headers: { authorization: `Bearer ${token}x` } })).status, 401);
    const ok = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(ok.status, 200);
    assert.match(await ok.text(), /nullroom_connections\{kind="room"\} 0/);
    assert.equal((await fetch(url.replace('/metrics', '/'), { headers: { authorization: `Bearer ${token}` } })).status, 404);
  } finally {
    await relay.close();
  }
  await assert.rejects(startRelay({ port: 0, blobs: false, metrics: { port: 0, host: '0.0.0.0' } }), (e: Error) => {
    assert.ok(e instanceof RelayConfigError);
    assert.match(e.message, /without a token/);
    return true;
  });
  await assert.rejects(startRelay({ port: 0, blobs: false, metrics: { port: 0, host: '0.0.0.0', token } }), (e: Error) => {
    assert.ok(e instanceof RelayConfigError);
    assert.match(e.message, /plain HTTP/);
    assert.ok(!e.message.includes(token), 'the token is not echoed');
    return true;
  });
  await assert.rejects(startRelay({ port: 0, blobs: false, metrics: { port: 0, token: 'short' } }), /at least 16/);
});

test('/readyz: ready, then 503 while draining (new WebSockets refused, open ones go on); a failing check and an unreachable store are named', async () => {
  let redis = true;
  const api = await relayWithAccounts({}, undefined, false, { ready: [{ name: 'redis', ready: () => redis }] });
  const { relay } = api;
  try {
    const ready = await fetch(`${relay.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal(await ready.text(), 'ready\n');
    redis = false;
    const notRedis = await fetch(`${relay.url}/readyz`);
    assert.equal(notRedis.status, 503);
    assert.equal(await notRedis.text(), 'not ready: redis\n');
    redis = true;
    relay.addReadyCheck({ name: 'slow', ready: () => new Promise<boolean>(() => undefined) });
    relay.addReadyCheck({ name: 'throws', ready: () => Promise.reject(new Error('no')) });
    const bounded = await fetch(`${relay.url}/readyz`);
    assert.equal(bounded.status, 503, 'a check that never answers fails after its time');
    assert.equal(await bounded.text(), 'not ready: slow, throws\n');

    const open = await connect(relay.url);
    assert.equal(relay.draining, false);
    relay.drain();
    assert.equal(relay.draining, true);
    const draining = await fetch(`${relay.url}/readyz`);
    assert.equal(draining.status, 503);
    assert.match(await draining.text(), /^not ready: draining/);
    assert.equal((await fetch(`${relay.url}/healthz`)).status, 200, 'alive while draining');
    const refused = await refusedUpgrade(relay.url);
    assert.equal(refused.status, 503);
    assert.equal(refused.headers['retry-after'], '5');
    assert.match(refused.body, /^draining/);
    open.send(encodeFrame({ type: 'JOIN', reqId: rq(1), room: new Uint8Array(randomBytes(32)) as RoomLocator }));
    await open.next('JOINED');
    const m = await relay.metricsText();
    assert.equal(sample(m, 'nullroom_draining'), 1);
    assert.equal(sample(m, 'nullroom_upgrade_refused_total', 'reason="draining",status="503"'), 1);
    open.ws.close();
  } finally {
    await relay.close();
  }
});

test('/readyz names the account store when it stops answering', async () => {
  const api = await relayWithAccounts();
  try {
    assert.equal((await fetch(`${api.relay.url}/readyz`)).status, 200);
    await api.store.close();
    const r = await fetch(`${api.relay.url}/readyz`);
    assert.equal(r.status, 503);
    assert.equal(await r.text(), 'not ready: account-store\n');
  } finally {
    await api.relay.close();
  }
});
