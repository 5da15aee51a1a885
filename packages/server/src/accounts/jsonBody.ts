/**
 * A JSON request body, read under a byte cap and checked against a zod schema: the only way the
 * accounts API reads what a client sent. Every failure is an AccountHttpError (415, 413, 400).
 */
import type { IncomingMessage } from 'node:http';
import type { z } from 'zod';
import { AccountHttpError } from './accountErrors.js';

export const MAX_JSON_BYTES = 16 * 1024;

/** The body as text: application/json only, at most `max` bytes, declared or counted. */
async function readText(req: IncomingMessage, max: number): Promise<string> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') throw new AccountHttpError('UNSUPPORTED_TYPE');
  const declared = req.headers['content-length'];
  if (declared !== undefined && (!/^[0-9]{1,9}$/.test(declared) || Number(declared) > max)) throw new AccountHttpError('TOO_LARGE');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > max) throw new AccountHttpError('TOO_LARGE');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

/** The body parsed and checked; the schema's output. */
export async function readJson<S extends z.ZodType>(req: IncomingMessage, schema: S, max = MAX_JSON_BYTES): Promise<z.output<S>> {
  const text = await readText(req, max);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new AccountHttpError('BAD_REQUEST');
  }
  const r = schema.safeParse(value);
  if (!r.success) throw new AccountHttpError('BAD_REQUEST');
  return r.data;
}
