export * from './errors.js';
export * from './frame.js';
export * from './ids.js';
export * from './limits.js';
export * from './deviceList.js';
export * from './accountFrame.js';
