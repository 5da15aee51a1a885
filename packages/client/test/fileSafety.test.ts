/**
 * A received file's name and type are a peer's choice (issue #11, point 9): the name must be safe
 * to save under and the type must never make the file active content. Hostile names and mislabelled
 * bytes, tables and properties, and the terminal's download folder: nothing outside it, nothing
 * hidden, nothing overwritten, nothing executable.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { MAX_FILE_NAME_BYTES, PREVIEW_TYPES, receivedType, safeFileName, sniffImage } from '../src/index.js';
import { folderSink } from '../src/node/index.js';

const bytes = (...parts: (string | number[])[]) =>
  new Uint8Array(parts.flatMap((p) => (typeof p === 'string' ? Array.from(Buffer.from(p, 'latin1')) : p)));
const PNG = bytes([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], [0, 0, 0, 13], 'IHDR');
const JPEG = bytes([0xff, 0xd8, 0xff, 0xe0, 0, 0x10], 'JFIF\0');
const GIF = bytes('GIF89a', [1, 0, 1, 0]);
const WEBP = bytes('RIFF', [0x24, 0, 0, 0], 'WEBPVP8 ');
const HTML = bytes('<!doctype html><script>alert(1)</script>');
const SVG = bytes('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>');

test('sniffImage knows the four allowlisted signatures and nothing else (WHATWG MIME Sniffing §6.1)', () => {
  assert.equal(sniffImage(PNG), 'image/png');
  assert.equal(sniffImage(JPEG), 'image/jpeg');
  assert.equal(sniffImage(GIF), 'image/gif');
  assert.equal(sniffImage(bytes('GIF87a')), 'image/gif');
  assert.equal(sniffImage(WEBP), 'image/webp');
  for (const other of [
    HTML,
    SVG,
    bytes(''),
    PNG.subarray(0, 7),
    bytes([0xff, 0xd8]),
    bytes('GIF88a'),
    bytes('RIFF', [0, 0, 0, 0], 'WAVEfmt '),
    bytes('RIFF', [0, 0, 0, 0], 'WEB'),
    bytes('BM'),
    bytes([0, 0, 0, 0x1c], 'ftypavif'),
    bytes('%PDF-1.7'),
  ]) {
    assert.equal(sniffImage(other), undefined);
  }
});

test('receivedType: an image only when the sender said so and the bytes agree; everything else is application/octet-stream', () => {
  assert.equal(receivedType('image/png', PNG), 'image/png');
  assert.equal(receivedType('image/jpeg', JPEG), 'image/jpeg');
  assert.equal(receivedType('image/gif', GIF), 'image/gif');
  assert.equal(receivedType('image/webp', WEBP), 'image/webp');
  assert.equal(receivedType('image/png', JPEG), 'image/jpeg', 'a renamed JPEG is shown as the JPEG it is');
  // A PNG label on an HTML page, an SVG, HTML, and an image whose sender did not call it one.
  assert.equal(receivedType('image/png', HTML), 'application/octet-stream');
  assert.equal(receivedType('image/svg+xml', SVG), 'application/octet-stream');
  assert.equal(receivedType('text/html', HTML), 'application/octet-stream');
  assert.equal(receivedType('text/html', PNG), 'application/octet-stream');
  assert.equal(receivedType('', PNG), 'application/octet-stream');
  assert.equal(receivedType('image/avif', bytes([0, 0, 0, 0x1c], 'ftypavif')), 'application/octet-stream');
  fc.assert(
    fc.property(fc.string(), fc.uint8Array({ maxLength: 16 }), (declared, head) => {
      const t = receivedType(declared, head);
      return t === 'application/octet-stream' || ((PREVIEW_TYPES as readonly string[]).includes(declared) && sniffImage(head) === t);
    }),
    { numRuns: 2000 },
  );
});

test('safeFileName: hostile names become one plain, visible, non-device name', () => {
  const cases: [string, string][] = [
    ['holiday.jpg', 'holiday.jpg'],
    ['../../.ssh/authorized_keys', 'authorized_keys'],
    ['..\\..\\AppData\\evil.exe', 'evil.exe'],
    ['C:\\Windows\\System32\\x.dll', 'x.dll'],
    ['/etc/passwd', 'passwd'],
    ['..', 'file'],
    ['.', 'file'],
    ['', 'file'],
    ['   ', 'file'],
    ['.bashrc', 'bashrc'],
    ['...hidden', 'hidden'],
    ['invoice.pdf.', 'invoice.pdf'],
    ['invoice.exe . ', 'invoice.exe'],
    ['photo\u202egpj.exe', 'photo_gpj.exe'],
    ['a\u2066b\u2069c\u200fd\u061ce', 'a_b_c_d_e'],
    ['zero\u200bwidth\ufeff', 'zero_width_'],
    ['line\nbreak\r\x1b[31mred', 'line_break__[31mred'],
    ['nul\u0000byte', 'nul_byte'],
    ['a\u2028b', 'a_b'],
    ['what?<>:"|*.txt', 'what_______.txt'],
    ['CON', '_CON'],
    ['con.txt', '_con.txt'],
    ['NUL .tar.gz', '_NUL .tar.gz'],
    ['com1', '_com1'],
    ['LPT9.log', '_LPT9.log'],
    ['conout$', '_conout$'],
    ['console.log', 'console.log'],
    ['com10', 'com10'],
    ['家庭照片.png', '家庭照片.png'],
    ['👨\u200d👩\u200d👧.gif', '👨\u200d👩\u200d👧.gif'],
    ['\ud800lone.txt', '_lone.txt'],
  ];
  for (const [input, want] of cases) assert.equal(safeFileName(input), want, JSON.stringify(input));
  // A long name is cut on a character boundary, in UTF-8 bytes (a file system's limit), keeping its extension.
  const long = safeFileName(`${'照'.repeat(300)}.png`);
  assert.ok(long.endsWith('.png') && Buffer.byteLength(long) <= MAX_FILE_NAME_BYTES, long);
  assert.equal(long, `${'照'.repeat(65)}.png`);
  assert.equal(safeFileName('x'.repeat(500)), 'x'.repeat(MAX_FILE_NAME_BYTES));
  assert.equal(safeFileName(`a.${'b'.repeat(300)}`), `a.${'b'.repeat(MAX_FILE_NAME_BYTES - 2)}`, 'an overlong "extension" is just name');
  // A device name that only appears once the name is cut (its tail was what made it not one).
  assert.equal(safeFileName(`con${' '.repeat(300)}x`), '_con');
  assert.equal(safeFileName(`con${' '.repeat(200)}.txt`), '_con.txt');
});

test('safeFileName: properties over arbitrary strings', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ maxLength: 400 }),
        fc.string({ unit: 'grapheme', maxLength: 300 }),
        fc.string({ unit: 'binary', maxLength: 300 }),
      ),
      (name) => {
        const n = safeFileName(name);
        assert.ok(n.length > 0);
        assert.ok(!/[/\\:*?"<>|]/.test(n), 'no separators or reserved characters');
        assert.ok(!/(?![\u200c\u200d])[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u.test(n), 'no control, format or lone surrogate characters');
        assert.ok(!/^[.\s]/.test(n) && !/[.\s]$/.test(n), 'no leading dot or space, no trailing dot or space');
        assert.ok(!/^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$|clock\$)\s*(\.|$)/i.test(n), 'no device name');
        assert.ok(Buffer.byteLength(n) <= MAX_FILE_NAME_BYTES);
        assert.equal(safeFileName(n), n, 'idempotent');
      },
    ),
    { numRuns: 3000 },
  );
});

async function save(dir: string, name: string, body: string): Promise<string> {
  const sink = await folderSink(dir, name);
  await sink.write(Buffer.from(body));
  const path = await sink.commit();
  assert.ok(typeof path === 'string');
  return path;
}

test('folderSink: a received file lands inside the folder, under a safe name, never over anything, never executable', {
  skip: process.platform === 'win32' && 'POSIX modes and symlinks',
}, async () => {
  const root = mkdtempSync(join(tmpdir(), 'nullroom-save-'));
  const dir = join(root, 'downloads');
  mkdirSync(dir);
  writeFileSync(join(root, 'outside.txt'), 'mine');

  const escaped = await save(dir, '../outside.txt', 'theirs');
  assert.equal(escaped, join(dir, 'outside.txt'), 'stays in the folder');
  assert.equal(readFileSync(join(root, 'outside.txt'), 'utf8'), 'mine');

  assert.equal(await save(dir, '.profile', 'x'), join(dir, 'profile'), 'not hidden');
  assert.equal(await save(dir, 'CON', 'x'), join(dir, '_CON'));

  // Never over an existing file: the second and third get " (1)", " (2)".
  writeFileSync(join(dir, 'notes.txt'), 'original');
  assert.equal(await save(dir, 'notes.txt', 'one'), join(dir, 'notes (1).txt'));
  assert.equal(await save(dir, 'notes.txt', 'two'), join(dir, 'notes (2).txt'));
  assert.equal(readFileSync(join(dir, 'notes.txt'), 'utf8'), 'original');

  // Nor through a symlink planted under the name (even a dangling one): it is left alone.
  symlinkSync(join(root, 'target-of-link'), join(dir, 'report.pdf'));
  assert.equal(await save(dir, 'report.pdf', 'pdf'), join(dir, 'report (1).pdf'));
  assert.ok(lstatSync(join(dir, 'report.pdf')).isSymbolicLink());
  assert.ok(!readdirSync(root).includes('target-of-link'), 'nothing written through the link');

  // A script is saved as data: owner read/write only, no execute bit for anyone.
  const script = await save(dir, 'run.sh', '#!/bin/sh\necho hi\n');
  assert.equal(statSync(script).mode & 0o777, 0o600);
  for (const f of readdirSync(dir)) {
    const st = lstatSync(join(dir, f));
    if (st.isFile()) assert.equal(st.mode & 0o111, 0, `${f} is not executable`);
  }
  assert.ok(!readdirSync(dir).some((f) => f.endsWith('.part')), 'no part file left behind');
});
