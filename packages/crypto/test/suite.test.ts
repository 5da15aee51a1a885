import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getCiphersuiteImpl } from 'ts-mls';
import { Suites, type SuiteName } from '../src/index.js';
import { suiteImpl } from '../src/suite.js';

test('the fast digest we give ts-mls is bit-identical to its own Web Crypto digest, for both suites', async () => {
  for (const name of Object.values(Suites) as SuiteName[]) {
    const ours = await suiteImpl(name);
    const stock = await getCiphersuiteImpl(name);
    for (const size of [0, 1, 55, 56, 64, 127, 128, 1000, 65_536]) {
      const data = globalThis.crypto.getRandomValues(new Uint8Array(size));
      assert.deepEqual(await ours.hash.digest(data), await stock.hash.digest(data), `${name} size ${size}`);
    }
  }
});
