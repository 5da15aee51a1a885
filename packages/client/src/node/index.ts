export { type NodeTlsOptions, nodeWebSocket, parsePin, certificateFingerprint } from './transport.js';
