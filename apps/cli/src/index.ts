export { chat, type ChatOptions } from './chat.js';
export { serve, type ServeOptions } from './serve.js';
export { Exit } from './exit.js';
