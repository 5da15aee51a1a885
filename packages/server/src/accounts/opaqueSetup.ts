/**
 * The relay's OPAQUE server setup (docs/SECURITY.md §13.2): its long-term OPRF seed and key pair.
 * With it, the registration records in the account store let the relay check logins; without it,
 * a copy of the store cannot be used to test a single password offline. So it is never in the
 * store: it comes from `NULLROOM_OPAQUE_SETUP` (every node of a cluster gets the same value), or
 * from a file (`opaque-setup` in the data directory, created 0600 on first start).
 */
import * as opaque from '@serenity-kit/opaque';
import { closeSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { RelayConfigError } from '../configError.js';

export const OPAQUE_SETUP_ENV = 'NULLROOM_OPAQUE_SETUP';

/** The setup, checked (it must parse as one); a RelayConfigError naming the source otherwise. */
export async function checkedSetup(setup: string, source: string): Promise<string> {
  await opaque.ready;
  const s = setup.trim();
  try {
    opaque.server.getPublicKey(s);
  } catch {
    throw new RelayConfigError(`${source} is not an OPAQUE server setup`);
  }
  return s;
}

/** The setup from the environment, else from `file` (made on first use). */
export async function loadOpaqueSetup(file: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const fromEnv = env[OPAQUE_SETUP_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return checkedSetup(fromEnv, OPAQUE_SETUP_ENV);
  try {
    return await checkedSetup(readFileSync(file, 'utf8'), file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      if (e instanceof RelayConfigError) throw e;
      throw new RelayConfigError(`${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  // No file yet (the read failed before the library was waited for): make one.
  await opaque.ready;
  const setup = opaque.server.createSetup();
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const fd = openSync(file, 'wx', 0o600);
    try {
      writeSync(fd, `${setup}\n`);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    // Another process made it first: theirs is the one.
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return checkedSetup(readFileSync(file, 'utf8'), file);
    throw new RelayConfigError(`${file} cannot be written (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return setup;
}
