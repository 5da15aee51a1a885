/**
 * What travels inside an MLS application message (docs/PROTOCOL.md §5). UTF-8 JSON, parsed through
 * one schema: anything else is BAD_PAYLOAD. `n` counts a sender's messages so that a relay that
 * drops or reorders them is noticed; `id` lets receivers drop the copy a sender re-sends after a
 * reconnect.
 */
import { z } from 'zod';

export const MAX_TEXT_CHARS = 16 * 1024;

const textPayload = z.strictObject({
  v: z.literal(1),
  type: z.literal('text'),
  id: z.string().regex(/^[0-9a-f]{32}$/),
  n: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  ts: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  text: z.string().min(1).max(MAX_TEXT_CHARS),
});
export type TextPayload = z.infer<typeof textPayload>;
export type Payload = TextPayload;

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

export function encodePayload(p: Payload): Uint8Array {
  return enc.encode(JSON.stringify(p));
}

/** The one entry point for untrusted decrypted bytes. Undefined when they are not a valid payload. */
export function parsePayload(bytes: Uint8Array): Payload | undefined {
  let json: unknown;
  try {
    json = JSON.parse(dec.decode(bytes));
  } catch {
    return undefined;
  }
  const r = textPayload.safeParse(json);
  return r.success ? r.data : undefined;
}
