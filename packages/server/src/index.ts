export { type Relay, type RelayHooks, type RelayOptions, RelayConfigError, isLoopback, startRelay } from './relay.js';
export { type RelayLimits, defaultRelayLimits } from './limits.js';
export { type TlsMaterial, createSelfSigned, fingerprintOf } from './tls.js';
export { securityHeaders } from './http.js';
