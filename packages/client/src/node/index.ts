export { type NodeTlsOptions, nodeWebSocket, parsePin, certificateFingerprint } from './transport.js';
export { fileSource, folderSink, safeFileName, nodeBlobTransport, nodeSha256, nodeAesGcm } from './files.js';
export { type NodePipeOptions, nodeFileOptions } from './pipe.js';
export { type FileKeyStoreOptions, FileKeyStore, KEY_STORE_FILE, MAX_KEY_STORE_BYTES, defaultKeyStoreDir } from './fileKeyStore.js';
export { FileSessions, MAX_SESSION_BYTES, SESSIONS_FOLDER } from './fileSessions.js';
export { type StoredKey, loadStoredIdentity, newIdentity } from './keyStoreFile.js';
export { FileMessengerStore } from './fileMessengerStore.js';
export { FileHistoryRecords, MAX_HISTORY_RECORD_BYTES } from './fileHistory.js';
