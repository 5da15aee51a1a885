#!/usr/bin/env node
// The container's health check (Dockerfile HEALTHCHECK; deploy/compose.yaml points it at /readyz):
// `node healthcheck.mjs [URL]` exits 0 when URL answers 200 within 4 s, else 1. URL defaults to
// NULLROOM_HEALTHCHECK_URL, else https://127.0.0.1:8443/healthz (the image's default `serve`).
// The relay checks itself over loopback with its own certificate, self-signed or not: the request
// carries nothing and trusts nothing it receives beyond the status, so the certificate is not checked.
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';

const url = new URL(process.argv[2] ?? process.env.NULLROOM_HEALTHCHECK_URL ?? 'https://127.0.0.1:8443/healthz');
const get = url.protocol === 'https:' ? httpsGet : httpGet;
const req = get(url, { rejectUnauthorized: false, timeout: 4000 }, (res) => {
  res.resume();
  process.exit(res.statusCode === 200 ? 0 : 1);
});
req.on('timeout', () => req.destroy(new Error('timeout')));
req.on('error', (e) => {
  process.stderr.write(`healthcheck: ${url.href}: ${e.message}\n`);
  process.exit(1);
});
