/** axe-core in the page (the context needs `bypassCSP: true` so that it can be injected). */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** The violations axe-core finds in the page as it is, one line each ("id (impact): targets"). */
export async function axeViolations(page: Page): Promise<string[]> {
  const result = (await page.evaluate(`(async () => { ${axeSource}; return axe.run(document, { resultTypes: ['violations'] }); })()`)) as {
    violations: { id: string; impact: string; nodes: { target: string[] }[] }[];
  };
  return result.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

export async function assertAxeClean(page: Page, where: string): Promise<void> {
  assert.deepEqual(await axeViolations(page), [], `axe-core on ${where}`);
}
