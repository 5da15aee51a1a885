/**
 * `nullroom chat`'s first connection to the relay, made forgiving: the URL's scheme is checked
 * before anything else, a relay that is down at start gets a few retries (a relay started a moment
 * after the client, or restarting), and each failure a person can fix becomes a CliError that says
 * how (a plain-HTTP relay behind an `https://` URL, a self-signed certificate without `--pin`).
 * Messages name the relay's address at most: never a room, a nickname or a password.
 */
import { ClientError, type NullroomClient } from '@nullroom/client';
import { CliError, Exit } from './errors.js';
import type { ChatEvent } from './output.js';

/** Waits before each retry, in ms: 5 retries over 8 s after the first attempt. */
export const RETRY_DELAYS_MS: readonly number[] = [500, 1000, 1500, 2000, 3000];

/** The relay URL, if its scheme is one `chat` speaks (what `nullroom serve` prints: http or https). */
export function checkRelayUrl(url: string): URL {
  const hint = 'use the URL `nullroom serve` printed: http://HOST:PORT, or https://HOST:PORT for a relay with TLS';
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new CliError(`the relay URL has no scheme: ${hint}`, Exit.USAGE, 'BAD_URL');
  }
  if (u.protocol === 'http:' || u.protocol === 'https:') return u;
  // `localhost:8080` parses as the scheme `localhost:`: a host and a port without a scheme.
  const noScheme = /^[^/]*:\d+(\/.*)?$/.test(url) || !url.includes('://');
  const why = noScheme ? 'the relay URL has no scheme' : `the relay URL's scheme ${u.protocol.slice(0, 20)}// is not supported`;
  throw new CliError(`${why}: ${hint}`, Exit.USAGE, 'BAD_URL');
}

/** The Node error under an SDK connection failure: its code (ECONNREFUSED, EPROTO...) and message. */
function cause(e: unknown): { code?: string; message: string } {
  for (let c: unknown = e, depth = 0; c !== undefined && c !== null && depth < 4; c = (c as { cause?: unknown }).cause, depth++) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === 'string' && !(c instanceof ClientError)) return { code, message: c instanceof Error ? c.message : '' };
  }
  return { message: '' };
}

/** Nothing answered (or the network is not there yet): worth another try. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EAI_AGAIN']);
/** OpenSSL's words (in the code or, for EPROTO, the message) for a TLS ClientHello answered by plain HTTP. */
const PLAIN_HTTP = /wrong.version.number|packet.length.too.long|http.request|unknown.protocol/i;
const SELF_SIGNED = new Set(['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE']);

/** A first connection that failed, as a CliError that says what to do about it. */
export function connectError(e: unknown, u: URL, pinned: boolean): CliError {
  const { code, message } = cause(e);
  const where = u.host;
  if (u.protocol === 'https:' && code !== undefined && (PLAIN_HTTP.test(code) || (code === 'EPROTO' && PLAIN_HTTP.test(message))))
    return new CliError(
      `the relay at ${where} speaks plain HTTP, not TLS: use http://${where} (${code})`,
      Exit.CONNECTION,
      'RELAY_PLAIN_HTTP',
    );
  if (code !== undefined && SELF_SIGNED.has(code) && !pinned)
    return new CliError(
      `the relay at ${where} has a self-signed TLS certificate (${code}): pass --pin sha256:… with the fingerprint that \`nullroom serve --self-signed\` printed when it started (its line "fingerprint sha256:…"), or --ca FILE with its CA certificate`,
      Exit.CONNECTION,
      'RELAY_SELF_SIGNED',
    );
  // A TLS relay hangs up on a plain-HTTP request at once.
  if (code === 'ECONNRESET' && u.protocol === 'http:')
    return new CliError(
      `the relay at ${where} hung up at once (ECONNRESET): if it uses TLS (\`nullroom serve --self-signed\` or --cert), use https://${where}`,
      Exit.CONNECTION,
      'RELAY_UNREACHABLE',
    );
  if (code !== undefined && (UNREACHABLE.has(code) || code === 'ENOTFOUND'))
    return new CliError(
      `cannot reach the relay at ${where}${code === undefined ? '' : ` (${code})`}: is \`nullroom serve\` running there, and is the address right?`,
      Exit.CONNECTION,
      'RELAY_UNREACHABLE',
    );
  return new CliError(e instanceof ClientError ? e.message : 'cannot connect to the relay', Exit.CONNECTION);
}

const retryable = (e: unknown) => {
  const { code } = cause(e);
  return code !== undefined && UNREACHABLE.has(code);
};

/**
 * Connects a client made by `make` (a client whose first connection failed is closed for good, so
 * each attempt has its own), retrying while nothing answers: one `connection` event
 * `{state: "retrying", attempt, of}` before each retry. Throws connectError's CliError at the end.
 */
export async function connectWithRetry(
  make: () => NullroomClient,
  u: URL,
  pinned: boolean,
  report: (e: ChatEvent) => void,
  delays: readonly number[] = RETRY_DELAYS_MS,
): Promise<NullroomClient> {
  for (let attempt = 0; ; attempt++) {
    const client = make();
    try {
      await client.connect();
      return client;
    } catch (e) {
      if (!retryable(e) || attempt >= delays.length) throw connectError(e, u, pinned);
      report({ event: 'connection', state: 'retrying', attempt: attempt + 1, of: delays.length });
      await new Promise((resolve) => setTimeout(resolve, delays[attempt]));
    }
  }
}
