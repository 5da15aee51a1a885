export { chat, type ChatOptions } from './chat.js';
export { serve, type ServeOptions } from './serve.js';
export { CliErrorCodes, type CliErrorCode, Exit } from './errors.js';
