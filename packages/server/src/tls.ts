/** TLS material for `serve --self-signed`: generated once, kept in the data directory. */
import { createHash, X509Certificate } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';

export interface TlsMaterial {
  cert: string;
  key: string;
  /** `sha256:` + lowercase hex of the DER certificate, what `nullroom chat --pin` takes. */
  fingerprint: string;
}

export function fingerprintOf(certPem: string): string {
  return `sha256:${createHash('sha256').update(new X509Certificate(certPem).raw).digest('hex')}`;
}

export async function createSelfSigned(dataDir: string): Promise<TlsMaterial> {
  const dir = join(dataDir, 'tls');
  const certFile = join(dir, 'self-signed.crt');
  const keyFile = join(dir, 'self-signed.key');
  const existing = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]).catch(() => undefined);
  if (existing !== undefined) {
    const [cert, key] = existing;
    return { cert, key, fingerprint: fingerprintOf(cert) };
  }
  // Loaded only here: the certificate library is large and a relay that never makes a certificate need not hold it.
  const { generate } = await import('selfsigned');
  const pems = await generate([{ name: 'commonName', value: 'nullroom relay' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    days: 365,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 2, value: hostname() },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  } as Parameters<typeof import('selfsigned').generate>[1]);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(keyFile, pems.private, { mode: 0o600 });
  await writeFile(certFile, pems.cert, { mode: 0o644 });
  return { cert: pems.cert, key: pems.private, fingerprint: fingerprintOf(pems.cert) };
}
