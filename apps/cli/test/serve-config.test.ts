/**
 * `nullroom serve --config FILE` (src/serveConfig.ts; docs/OPERATING.md "Configuration file") with
 * the real binary: the file sets the port, a limit, the log level and the metrics listener (seen in
 * the listening URL, in /metrics and in the JSON log lines); a flag overrides the file; NULLROOM_CONFIG
 * names the file too; an unknown key or a wrong type exits 2 (USAGE) naming the key, never the value.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, type Proc } from './_spawn.js';

const dir = mkdtempSync(join(tmpdir(), 'nullroom-serve-config-'));
let n = 0;
function configFile(settings: unknown): string {
  const f = join(dir, `config-${++n}.json`);
  writeFileSync(f, typeof settings === 'string' ? settings : JSON.stringify(settings));
  return f;
}

/** A port free right now on loopback. */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

async function listening(p: Proc): Promise<string> {
  const line = await p.waitLine((l) => l.startsWith('nullroom listening on '), 'listening line');
  return line.slice('nullroom listening on '.length);
}

const sample = (text: string, name: string) =>
  Number(/^(\S+) (\S+)$/m.exec(text.split('\n').find((l) => l.startsWith(`${name} `)) ?? '')?.[2]);

test('the config file sets the port, a limit, the log level and metrics; a flag overrides it; NULLROOM_CONFIG names it', async () => {
  const [port, metricsPort] = [await freePort(), await freePort()];
  const file = configFile({ port, maxOutput: '64M', logLevel: 'debug', metricsPort, roomStore: false, accounts: false, maxConnsPerIp: 7 });
  const p = run(['serve', '--config', file, '--data', join(dir, 'd1')]);
  try {
    assert.equal(await listening(p), `http://127.0.0.1:${port}`);
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    assert.equal(sample(metrics, 'nullroom_output_backlog_limit_bytes'), 64 * 1024 * 1024);
    assert.equal((await fetch(`http://127.0.0.1:${port}/blobs/nothing`, { method: 'DELETE' })).status, 400);
    // A debug line only: proof that the file's logLevel applied.
    await p.waitLine((l) => l.startsWith('{') && JSON.parse(l).level === 'debug', 'a debug line');
  } finally {
    p.child.kill('SIGTERM');
    await p.exited;
  }
  const q = run(['serve', '--port', '0', '--max-output', '32M', '--log-level', 'warn', '--data', join(dir, 'd2')], {
    NULLROOM_CONFIG: file,
  });
  try {
    const url = await listening(q);
    assert.notEqual(url, `http://127.0.0.1:${port}`, 'the --port flag wins');
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    assert.equal(sample(metrics, 'nullroom_output_backlog_limit_bytes'), 32 * 1024 * 1024, 'the --max-output flag wins');
  } finally {
    q.child.kill('SIGTERM');
    assert.equal(await q.exited, 0);
  }
  assert.deepEqual(
    q.lines.filter((l) => l.startsWith('{')),
    [],
    '--log-level warn over the file’s debug',
  );
});

test('an unknown key or a wrong type is a usage error naming the key, never the value', async () => {
  const secret = 'postgres://admin:hunter2secret@db.example/x';
  const cases: [unknown, RegExp][] = [
    [{ port: 0, databaseUrll: secret }, /unknown key "databaseUrll"/],
    [{ port: true }, /"port" must be a number or a string/],
    [{ metricsToken: 1234567890123456 }, /"metricsToken" must be a string/],
    [{ allowOrigin: secret }, /"allowOrigin" must be a list of strings/],
    [{ trustProxy: 'yes' }, /"trustProxy" must be true or false/],
    [[secret], /one JSON object/],
    [`{"port": "${secret}`, /not valid JSON/],
    [{ logLevel: 'loud' }, /logLevel \(config file\) must be one of debug, info, warn, error/],
  ];
  for (const [settings, message] of cases) {
    const p = run(['serve', '--config', configFile(settings), '--data', join(dir, 'bad')]);
    assert.equal(await p.exited, 2, JSON.stringify(settings));
    const err = p.stderr.join('\n');
    assert.match(err, message);
    assert.ok(!err.includes('hunter2'), `the value was echoed: ${err}`);
  }
  const missing = run(['serve', '--config', join(dir, 'nope.json')]);
  assert.equal(await missing.exited, 2);
  assert.match(missing.stderr.join('\n'), /cannot read the config file/);
});
