/**
 * TLS trust for the Node adapters (WebSocket and blob store alike): a CA file, or a pinned
 * certificate fingerprint (`sha256:HEX` of the DER certificate, as `nullroom serve --self-signed` prints).
 */
import { createHash } from 'node:crypto';
import tls from 'node:tls';
import { ClientError } from '../errors.js';

export interface NodeTlsOptions {
  /** PEM CA certificate(s) to trust instead of the system store. */
  ca?: string | Buffer;
  /** `sha256:` + 64 hex digits: accept exactly this certificate, whoever signed it. */
  pin?: string;
  /** Headers of the upgrade request (the account channel's `Authorization: Bearer`). */
  headers?: Record<string, string>;
}

export function parsePin(pin: string): string {
  const m = /^sha256:([0-9a-fA-F:]{64,95})$/.exec(pin.trim());
  const hex = m?.[1]?.replace(/:/g, '').toLowerCase();
  if (hex === undefined || hex.length !== 64) throw new TypeError('a pin must look like sha256:<64 hex digits>');
  return hex;
}

export function certificateFingerprint(der: Buffer): string {
  return `sha256:${createHash('sha256').update(der).digest('hex')}`;
}

/**
 * A TLS connection that accepts exactly the certificate with this fingerprint (hex), whoever signed
 * it. The check runs on the raw socket, registered before any HTTP client's own listeners, so a
 * mismatch destroys the connection before a single byte of the request is written.
 */
export function pinnedTlsConnect(options: tls.ConnectionOptions, pin: string): tls.TLSSocket {
  const socket = tls.connect({ ...options, rejectUnauthorized: false });
  socket.once('secureConnect', () => {
    const der = socket.getPeerCertificate().raw;
    if (der === undefined || certificateFingerprint(der) !== `sha256:${pin}`) {
      socket.destroy(new ClientError('TLS_PIN_MISMATCH', "the relay's certificate does not match the pinned fingerprint"));
    }
  });
  return socket;
}
