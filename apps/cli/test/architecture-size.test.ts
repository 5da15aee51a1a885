/**
 * The size targets of the code base, held by a test so they cannot rot: no source file under
 * packages/ * /src or apps/ * /src over 400 lines unless its header comment says why its size is
 * deserved (a line `Size: <reason>`), and no function of the SDK (packages/client/src) or the relay
 * (packages/server/src) whose body spans more than 80 lines. Measured with the TypeScript parser,
 * so every kind of function counts: declarations, methods, accessors, constructors, arrows and
 * function expressions.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const MAX_FILE_LINES = 400;
const MAX_FUNCTION_LINES = 80;

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : /\.tsx?$/.test(n) && !n.endsWith('.d.ts') ? [p] : [];
  });
}
const sourceDirs = ['packages', 'apps'].flatMap((top) =>
  readdirSync(join(root, top))
    .map((name) => join(top, name, 'src'))
    .filter((dir) => statSync(join(root, dir), { throwIfNoEntry: false })?.isDirectory()),
);
const parse = (file: string) =>
  ts.createSourceFile(
    file,
    readFileSync(file, 'utf8'),
    ts.ScriptTarget.Latest,
    true,
    file.endsWith('.tsx') ? ts.ScriptKind.TSX : ts.ScriptKind.TS,
  );
const lineCount = (text: string) => text.split('\n').length - (text.endsWith('\n') ? 1 : 0);

/** The comments before the first statement: where a file says what it is (and why it is long). */
function header(sf: ts.SourceFile): string {
  const ranges = ts.getLeadingCommentRanges(sf.text, 0) ?? [];
  return ranges.map((r) => sf.text.slice(r.pos, r.end)).join('\n');
}

test(`no source file is over ${MAX_FILE_LINES} lines unless its header says why (Size:)`, () => {
  assert.ok(sourceDirs.length >= 6, `found only ${sourceDirs.join(', ')}`);
  const over: string[] = [];
  for (const dir of sourceDirs) {
    for (const file of sources(join(root, dir))) {
      const name = file.slice(root.length);
      const sf = parse(file);
      const lines = lineCount(sf.text);
      if (lines <= MAX_FILE_LINES) continue;
      if (/^\s*\*?\s*Size: \S/m.test(header(sf))) continue;
      over.push(`${name}: ${lines} lines`);
    }
  }
  assert.deepEqual(over, []);
});

/** Every function-like node with a body, as "file:line name" and its body's line span. */
function functions(file: string): { where: string; lines: number }[] {
  const sf = parse(file);
  const out: { where: string; lines: number }[] = [];
  const visit = (n: ts.Node) => {
    if (ts.isFunctionLike(n) && 'body' in n && n.body !== undefined) {
      const body = n.body as ts.Node;
      const first = sf.getLineAndCharacterOfPosition(body.getStart(sf)).line;
      const last = sf.getLineAndCharacterOfPosition(body.getEnd()).line;
      const name = n.name !== undefined ? n.name.getText(sf) : '(anonymous)';
      out.push({ where: `${file.slice(root.length)}:${first + 1} ${name}`, lines: last - first + 1 });
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

test(`no function of the SDK or the relay spans more than ${MAX_FUNCTION_LINES} lines`, () => {
  const over: string[] = [];
  for (const dir of ['packages/client/src', 'packages/server/src']) {
    for (const file of sources(join(root, dir))) {
      for (const f of functions(file)) if (f.lines > MAX_FUNCTION_LINES) over.push(`${f.where}: ${f.lines} lines`);
    }
  }
  assert.deepEqual(over, []);
});

test('the measure sees every kind of function', () => {
  const file = join(root, 'packages/client/src/files.ts');
  const kinds = new Set<ts.SyntaxKind>();
  const visit = (n: ts.Node) => {
    if (ts.isFunctionLike(n)) kinds.add(n.kind);
    ts.forEachChild(n, visit);
  };
  visit(parse(file));
  for (const k of [ts.SyntaxKind.MethodDeclaration, ts.SyntaxKind.ArrowFunction, ts.SyntaxKind.Constructor])
    assert.ok(kinds.has(k), ts.SyntaxKind[k]);
  assert.ok(functions(file).length > 10);
});
