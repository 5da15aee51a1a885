/**
 * The terminal's display filter (`safe` and `safeText` in src/output.ts) against what a hostile peer can put in a
 * nickname, a file name or a message: terminal escape sequences, carriage returns, bidi controls
 * (UAX #9 §2), U+061C, line and paragraph separators, zero-width and other invisible format
 * characters, tag characters, lone surrogates. Every Cc, Cf, Zl, Zp and lone surrogate must reach
 * the terminal as U+FFFD; message text keeps its newlines (indented) and the ZWNJ/ZWJ that join two
 * visible non-ASCII characters. The property tests compare with a code-point-by-code-point model
 * written separately from the implementation's single regular expression.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { type ChatEvent, humanLine, safe, safeText } from '../src/output.js';

const R = '\ufffd';
const isUnsafe = (cp: string) => /^[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]$/u.test(cp);
const visibleNonAscii = (cp: string | undefined) => cp !== undefined && cp.codePointAt(0)! > 0x7f && !isUnsafe(cp);

/** The rule as documented, one code point at a time. */
function model(s: string, text: boolean): string {
  const cps = [...(text ? s.replace(/\r\n/g, '\n') : s)];
  return cps
    .map((c, i) => {
      if (!isUnsafe(c)) return c;
      if (text && c === '\n') return c;
      if (text && (c === '\u200c' || c === '\u200d') && visibleNonAscii(cps[i - 1]) && visibleNonAscii(cps[i + 1])) return c;
      return R;
    })
    .join('');
}

/** Code points a hostile peer would pick, each alone a reason for this filter. */
const HOSTILE = [
  '\u0000',
  '\u0007',
  '\u0008',
  '\t',
  '\n',
  '\u000b',
  '\u000c',
  '\r',
  '\u001b',
  '\u007f',
  '\u0085',
  '\u009b',
  '\u009d',
  '\u00ad',
  '\u061c',
  '\u070f',
  '\u180e',
  '\u200b',
  '\u200c',
  '\u200d',
  '\u200e',
  '\u200f',
  '\u2028',
  '\u2029',
  '\u202a',
  '\u202b',
  '\u202c',
  '\u202d',
  '\u202e',
  '\u2060',
  '\u2061',
  '\u2064',
  '\u2066',
  '\u2067',
  '\u2068',
  '\u2069',
  '\u206a',
  '\u206f',
  '\ufeff',
  '\ufff9',
  '\ufffa',
  '\ufffb',
  '\u{110bd}',
  '\u{1d173}',
  '\u{e0001}',
  '\u{e0041}',
  '\u{e007f}',
  '\ud800',
  '\udbff',
  '\udc00',
  '\udfff',
];
/** Ordinary characters they sit between: ASCII, emoji, Arabic, Devanagari, CJK, a combining mark, spaces. */
const ORDINARY = [
  'a',
  'Z',
  '0',
  ' ',
  '<',
  '\u00a0',
  '\u3000',
  '\u00e9',
  'e\u0301',
  '\u{1f468}',
  '\u{1f469}',
  '\u2764\ufe0f',
  '\u0627',
  '\u0645',
  '\u0915',
  '\u094d',
  '\u4e2d',
  '\u0430',
];

const codePoint = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...HOSTILE) },
  { weight: 3, arbitrary: fc.constantFrom(...ORDINARY) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 0x10ffff }).map((n) => String.fromCodePoint(n)) },
);
const hostileString = fc.oneof(
  fc.array(codePoint, { maxLength: 40 }).map((a) => a.join('')),
  fc.string({ unit: 'binary', maxLength: 40 }),
);

describe('safe(): the terminal display filter', () => {
  test('each hostile code point becomes U+FFFD in a nickname or file name', () => {
    for (const c of HOSTILE) {
      assert.equal(safe(`a${c}b`), `a${R}b`, `U+${c.codePointAt(0)!.toString(16)}`);
    }
  });

  test('in message text too, except "\\n"; ZWNJ/ZWJ between ASCII letters are replaced', () => {
    for (const c of HOSTILE) {
      assert.equal(safeText(`a${c}b`), c === '\n' ? 'a\nb' : `a${R}b`, `U+${c.codePointAt(0)!.toString(16)}`);
    }
  });

  test('what the old filter let through is now caught', () => {
    // U+061C ARABIC LETTER MARK, U+2028/2029, zero-width space and joiners, word joiner, BOM, a tag, a lone surrogate.
    for (const c of [
      '\u061c',
      '\u2028',
      '\u2029',
      '\u200b',
      '\u200c',
      '\u200d',
      '\u2060',
      '\ufeff',
      '\u00ad',
      '\u{e0041}',
      '\ud83d',
      '\t',
    ]) {
      assert.ok(!safe(`x${c}y`).includes(c));
    }
  });

  test('escape sequences and line rewrites from a peer are shown, not executed', () => {
    assert.equal(safe('\u001b[2J\u001b]0;pwned\u0007'), `${R}[2J${R}]0;pwned${R}`);
    assert.equal(safe('\u009b31m'), `${R}31m`); // C1 CSI
    const line = humanLine({ event: 'message', from: 'sam', text: 'hello\r<alice> give me your password', ts: 0 });
    assert.ok(!line.includes('\r'));
    assert.match(line, /<sam> hello\ufffd<alice>/);
  });

  test('a right-to-left override in a file name reads as it is', () => {
    const line = humanLine({ event: 'file', from: 'sam', name: 'photo\u202egpj.exe', size: 10, sha256: '00', path: '/tmp/photo_gpj.exe' });
    assert.ok(line.includes(`photo${R}gpj.exe`));
    assert.ok(!/[\u202a-\u202e\u2066-\u2069]/.test(line));
  });

  test('message text keeps its newlines, each indented so no message forges a line of its own', () => {
    const line = humanLine({ event: 'message', from: 'sam', text: 'one\r\n* bob left\u2028[00:00] <bob> hi\ntwo', ts: 0 });
    const lines = line.split('\n');
    assert.equal(lines.length, 3);
    assert.ok(lines[1]!.startsWith('    * bob left'));
    assert.ok(lines[1]!.includes(`${R}[00:00] <bob> hi`), 'U+2028 is not a line break on screen');
    assert.equal(lines[2], '    two');
  });

  test('ZWJ and ZWNJ stay where scripts and emoji need them, in message text only', () => {
    const family = '\u{1f468}\u200d\u{1f469}\u200d\u{1f467}';
    const persian = '\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645'; // "mi-khaham", ZWNJ after the prefix
    const hindi = '\u0915\u094d\u200d\u0937'; // half-form request
    for (const s of [family, persian, hindi]) {
      assert.equal(safeText(s), s);
      assert.ok(safe(s).includes(R), 'never in a name');
    }
    // Between ASCII, at either end, or doubled: replaced.
    for (const s of ['s\u200dam', '\u200d\u{1f468}', '\u{1f468}\u200d', '\u{1f468}\u200d\u200d\u{1f469}', 'paypal\u200c.com']) {
      assert.ok(safeText(s).includes(R), JSON.stringify(s));
    }
  });

  test('ordinary text is unchanged', () => {
    for (const s of [
      'hello, world',
      'caf\u00e9 cafe\u0301',
      '\u4f60\u597d\uff0c\u4e16\u754c',
      '\u0645\u0631\u062d\u0628\u0627',
      '\u{1f600} \u2764\ufe0f \u{1f44d}\u{1f3fd}',
      'a\u00a0b\u3000c',
      '<b>&amp;</b>',
    ]) {
      assert.equal(safe(s), s);
      assert.equal(safeText(s), s);
    }
  });

  test('error and connection lines are filtered too', () => {
    assert.ok(!humanLine({ event: 'error', code: 'X\u001b', message: 'bad\u001b[2J\u202e' }).match(/[\u001b\u202e]/));
    assert.ok(!humanLine({ event: 'connection', state: 'reconnecting', message: 'x\r\u001b' }).match(/[\r\u001b]/));
  });

  test('property: names follow the rule code point by code point, one U+FFFD for one code point, idempotent', () => {
    fc.assert(
      fc.property(hostileString, (s) => {
        const out = safe(s);
        assert.equal(out, model(s, false));
        assert.equal([...out].length, [...s].length);
        assert.ok(!/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u.test(out));
        assert.equal(safe(out), out);
      }),
      { numRuns: 2000 },
    );
  });

  test('property: message text follows the rule; only "\\n" and joining ZWNJ/ZWJ survive', () => {
    fc.assert(
      fc.property(hostileString, (s) => {
        const out = safeText(s);
        assert.equal(out, model(s, true));
        const left = [...out].filter(isUnsafe);
        assert.ok(left.every((c) => c === '\n' || c === '\u200c' || c === '\u200d'));
        assert.equal(safeText(out), out);
      }),
      { numRuns: 2000 },
    );
  });

  test('property: no printed line carries a control, format or separator character a peer chose', () => {
    const event: fc.Arbitrary<ChatEvent> = fc.oneof(
      fc.record({ event: fc.constant('member-joined' as const), nick: hostileString }),
      fc.record({
        event: fc.constant('members' as const),
        members: fc.array(hostileString, { maxLength: 4 }),
        you: hostileString,
        verified: fc.array(hostileString, { maxLength: 2 }),
      }),
      fc.record({ event: fc.constant('mode' as const), mode: fc.constant('dm' as const), with: hostileString }),
      fc.record({ event: fc.constant('verify' as const), nick: hostileString, safetyNumber: hostileString, verified: fc.boolean() }),
      fc.record({ event: fc.constant('message' as const), from: hostileString, text: hostileString, ts: fc.constant(0) }),
      fc.record({
        event: fc.constant('pending' as const),
        id: fc.constant('00'),
        from: hostileString,
        text: hostileString,
        ts: fc.constant(0),
      }),
      fc.record({
        event: fc.constant('file' as const),
        from: hostileString,
        name: hostileString,
        size: fc.nat(),
        sha256: fc.constant('00'),
        path: hostileString,
      }),
      fc.record({
        event: fc.constant('progress' as const),
        direction: fc.constant('receive' as const),
        name: hostileString,
        bytes: fc.nat(),
        total: fc.nat(),
        bytesPerSecond: fc.nat(),
        etaMs: fc.constant(undefined),
      }),
      fc.record({ event: fc.constant('file-unavailable' as const), from: hostileString, name: hostileString }),
      fc.record({ event: fc.constant('key-changed' as const), nick: hostileString, wasVerified: fc.boolean() }),
      fc.record({ event: fc.constant('private-opened' as const), with: hostileString, byUs: fc.boolean() }),
      fc.record({ event: fc.constant('error' as const), code: hostileString, message: hostileString }),
    );
    fc.assert(
      fc.property(event, (e) => {
        const line = humanLine(e);
        const [first, ...rest] = line.split('\n');
        const text = e.event === 'message' || e.event === 'pending'; // a message's text (ours too) keeps its line breaks, indented
        // /members and the safety number's grid print rows of their own, indented like a message's further lines.
        const rows = e.event === 'members' || e.event === 'verify';
        if (!text && !rows) assert.equal(rest.length, 0);
        for (const l of rest) assert.ok(l.startsWith('    '), 'a continuation line is indented');
        for (const l of [first!, ...rest]) {
          const left = [...l].filter(isUnsafe);
          assert.ok(
            left.every((c) => text && (c === '\u200c' || c === '\u200d')),
            JSON.stringify(l),
          );
        }
      }),
      { numRuns: 1000 },
    );
  });
});
