/**
 * A cluster as it runs on separate hosts: each of Redis, three relay nodes, a load balancer
 * (HAProxy, terminating TLS and passing X-Forwarded-For) and two terminal clients has a network
 * namespace and an address of its own on one bridge (ip netns + veth), all made here and removed
 * after. Clients know only the balancer's URL. The node holding one client is killed with SIGKILL
 * while both send; it reconnects through the balancer to another node and resumes: every line
 * either sent is read by the other once, in order, and the nodes saw each client's own address.
 * Then a node stopped with SIGTERM hands its client on. Needs root, iproute2, haproxy and
 * redis-server (.ci/run installs haproxy); skipped with a notice otherwise.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type Proc, run, serveProc } from './_spawn.js';

const has = (cmd: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
const why =
  process.getuid?.() !== 0
    ? 'needs root (network namespaces)'
    : !has('ip') || !has('haproxy') || !has('redis-server')
      ? 'needs iproute2, haproxy and redis-server (.ci/run installs haproxy)'
      : undefined;
const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));
const sh = (...args: string[]) => execFileSync(args[0]!, args.slice(1), { stdio: 'pipe' });

/** A bridge with hosts on it, each in a namespace of its own; `close` removes everything. */
function lab() {
  const id = randomBytes(2).toString('hex');
  const net = `10.213.${100 + (randomBytes(1)[0]! % 150)}`;
  const bridge = `nrb${id}`;
  const spaces: string[] = [];
  const children: ChildProcess[] = [];
  sh('ip', 'link', 'add', bridge, 'type', 'bridge');
  sh('ip', 'addr', 'add', `${net}.1/24`, 'dev', bridge);
  sh('ip', 'link', 'set', bridge, 'up');
  return {
    net,
    /** A host at `${net}.${last}`; the prefix that runs a command on it. */
    host(last: number): string[] {
      const ns = `nr${id}h${last}`;
      const [a, b] = [`nv${id}${last}`, `np${id}${last}`];
      sh('ip', 'netns', 'add', ns);
      spaces.push(ns);
      sh('ip', 'link', 'add', a, 'type', 'veth', 'peer', 'name', b);
      sh('ip', 'link', 'set', b, 'netns', ns);
      sh('ip', 'link', 'set', a, 'master', bridge, 'up');
      sh('ip', 'netns', 'exec', ns, 'ip', 'addr', 'add', `${net}.${last}/24`, 'dev', b);
      sh('ip', 'netns', 'exec', ns, 'ip', 'link', 'set', b, 'up');
      sh('ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');
      return ['ip', 'netns', 'exec', ns];
    },
    spawn(via: string[], cmd: string[]): ChildProcess {
      const c = spawn(via[0]!, [...via.slice(1), ...cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
      c.stdout?.resume();
      c.stderr?.resume();
      children.push(c);
      return c;
    },
    close(): void {
      for (const c of children) c.kill('SIGKILL');
      for (const ns of spaces) {
        try {
          sh('ip', 'netns', 'del', ns);
        } catch {
          /* already gone */
        }
      }
      try {
        sh('ip', 'link', 'del', bridge);
      } catch {
        /* already gone */
      }
    },
  };
}

/** Resolves once something accepts TCP connections at host:port. */
async function listening(host: string, port: number, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((res) => {
      const s = tcpConnect({ host, port }, () => res(s.destroy() === s));
      s.once('error', () => res(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`nothing listens on ${host}:${port}`);
    await sleep(50);
  }
}

test('a cluster on separate hosts behind a load balancer: a node killed, another stopped, the clients go on', { skip: why }, async (t) => {
  const l = lab();
  const procs: Proc[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'nullroom-netns-'));
  t.after(() => {
    for (const p of procs) p.child.kill('SIGKILL');
    l.close();
    rmSync(dir, { recursive: true, force: true });
  });
  // One certificate for the balancer and the nodes (made by a relay on loopback, as --self-signed does).
  const first = await serveProc(['--self-signed', '--no-accounts', '--data', join(dir, 'cert')]);
  first.proc.child.kill('SIGTERM');
  await first.proc.exited;
  const [cert, key] = ['crt', 'key'].map((e) => join(dir, 'cert', 'tls', `self-signed.${e}`)) as [string, string];
  writeFileSync(join(dir, 'lb.pem'), `${readFileSync(cert, 'utf8').trim()}\n${readFileSync(key, 'utf8').trim()}\n`);

  const redisHost = l.host(5);
  l.spawn(redisHost, [
    'redis-server',
    '--port',
    '6379',
    '--bind',
    `${l.net}.5`,
    '--save',
    '',
    '--appendonly',
    'no',
    '--protected-mode',
    'no',
  ]);
  await listening(`${l.net}.5`, 6379);

  const nodes: { proc: Proc; last: number; via: string[] }[] = [];
  for (const last of [11, 12, 13]) {
    const data = join(dir, `n${last}`);
    mkdirSync(data);
    const args = ['serve', '--host', `${l.net}.${last}`, '--port', '8443', '--cert', cert, '--key', key, '--no-accounts', '--data', data];
    const cluster = ['--redis-url', `redis://${l.net}.5:6379`, '--trust-proxy', '--allow-origin', `https://${l.net}.2:8443`, '-v'];
    const via = l.host(last);
    const proc = run([...args, ...cluster], {}, via);
    procs.push(proc);
    await proc.waitLine((x) => x.startsWith('nullroom listening on '), `node .${last} listens`);
    nodes.push({ proc, last, via });
  }

  const servers = nodes.map((n) => `  server n${n.last} ${l.net}.${n.last}:8443 ssl verify none check inter 300 fall 2 rise 2`);
  const cfg = [
    'global',
    '  maxconn 2048',
    'defaults',
    '  mode http',
    '  option forwardfor',
    '  timeout connect 2s',
    '  timeout client 1h',
    '  timeout server 1h',
    '  timeout tunnel 1h',
    'frontend front',
    `  bind ${l.net}.2:8443 ssl crt ${join(dir, 'lb.pem')}`,
    '  default_backend nodes',
    'backend nodes',
    '  balance roundrobin',
    '  option httpchk GET /healthz',
    ...servers,
    '',
  ].join('\n');
  writeFileSync(join(dir, 'haproxy.cfg'), cfg);
  const lb = l.spawn(l.host(2), ['haproxy', '-db', '-f', join(dir, 'haproxy.cfg')]);
  const lbSaid: string[] = [];
  lb.stderr?.on('data', (b: Buffer) => lbSaid.push(b.toString()));
  await listening(`${l.net}.2`, 8443).catch((e: unknown) => {
    throw new Error(`${e instanceof Error ? e.message : String(e)}; haproxy: ${lbSaid.join('').slice(-500)}`);
  });
  await sleep(800); // the balancer's first health checks

  const url = `https://${l.net}.2:8443`;
  const env = { NULLROOM_PASSWORD: 'netns-password' };
  const chat = (nick: string, last: number) => {
    const p = run(['chat', url, '--room', 'netns-room', '--nick', nick, '--json', '--pin', first.fingerprint!], env, l.host(last));
    procs.push(p);
    return p;
  };
  const alice = chat('alice', 21);
  await alice.waitFor((e) => e['event'] === 'joined', 'alice joined');
  const bob = chat('bob', 22);
  await bob.waitFor((e) => e['event'] === 'joined', 'bob joined');
  await alice.waitFor((e) => e['event'] === 'member-joined' && e['nick'] === 'bob', 'alice sees bob');

  // The nodes saw each client's own address (X-Forwarded-For from the balancer, --trust-proxy).
  const nodeOf = (last: number) =>
    nodes.find((n) => n.proc.lines.some((x) => x.includes('connection open') && x.includes(`"addressKey":"${l.net}.${last}"`)));
  const aliceNode = nodeOf(21);
  assert.ok(aliceNode !== undefined && nodeOf(22) !== undefined, 'each client is seen from its own address');

  const sent = { alice: [] as string[], bob: [] as string[] };
  for (let i = 0; i < 20; i++) {
    for (const [nick, p] of [
      ['alice', alice],
      ['bob', bob],
    ] as const) {
      const text = `${nick} line ${i}`;
      p.child.stdin.write(`${text}\n`);
      sent[nick].push(text);
    }
    if (i === 5) aliceNode!.proc.child.kill('SIGKILL');
    await sleep(40);
  }
  const read = (p: Proc, from: string) => p.events.filter((e) => e['event'] === 'message' && e['from'] === from).map((e) => e['text']);
  await bob.waitFor(() => read(bob, 'alice').length >= 20, 'bob reads all of alice', 30_000);
  await alice.waitFor(() => read(alice, 'bob').length >= 20, 'alice reads all of bob', 30_000);
  assert.deepEqual(read(bob, 'alice'), sent.alice, 'bob reads each of alice once, in order');
  assert.deepEqual(read(alice, 'bob'), sent.bob, 'alice reads each of bob once, in order');
  const acked = (p: Proc) => p.events.filter((e) => e['event'] === 'sent').length;
  for (const p of [alice, bob]) {
    // A sender learns of a line the killed node took from the relay's replay after its RESUME, which
    // it may read after its peer already read the line (seen under load: a few hundred ms later).
    await p.waitFor(() => acked(p) >= 20, 'every line acknowledged', 30_000);
    assert.equal(acked(p), 20, 'each line acknowledged once');
    assert.equal(p.events.filter((e) => e['event'] === 'member-left').length, 0, 'nobody seen leaving');
  }

  // SIGTERM: a live node drains, its clients move through the balancer, and the room goes on.
  const live = nodes.filter((n) => n !== aliceNode);
  for (const n of live) n.proc.child.kill('SIGTERM');
  for (const n of live) assert.equal(await n.proc.exited, 0, 'a stopped node exits 0');
  const data = join(dir, 'n99');
  mkdirSync(data);
  const restarted = run(
    [
      'serve',
      '--host',
      `${l.net}.${aliceNode!.last}`,
      '--port',
      '8443',
      '--cert',
      cert,
      '--key',
      key,
      '--no-accounts',
      '--data',
      data,
      '--redis-url',
      `redis://${l.net}.5:6379`,
      '--trust-proxy',
    ],
    {},
    aliceNode!.via,
  );
  procs.push(restarted);
  await restarted.waitLine((x) => x.startsWith('nullroom listening on '), 'the first node is back');
  alice.child.stdin.write('after the drain\n');
  await bob.waitFor((e) => e['event'] === 'message' && e['text'] === 'after the drain', 'bob reads alice after the drain', 30_000);
  assert.equal(bob.events.filter((e) => e['event'] === 'member-left').length, 0, 'nobody seen leaving');
});
