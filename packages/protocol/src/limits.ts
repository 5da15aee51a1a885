/** Size limits every decoder enforces before it allocates. Relay operators may lower or raise them. */
export interface CodecLimits {
  /** Largest whole frame, in bytes. */
  maxFrameBytes: number;
  /** Largest opaque payload (MLS message or encrypted GroupInfo), in bytes. */
  maxPayloadBytes: number;
}

export const defaultCodecLimits: Readonly<CodecLimits> = Object.freeze({
  maxFrameBytes: 2 * 1024 * 1024,
  maxPayloadBytes: 2 * 1024 * 1024 - 128,
});

/** Size of a room locator (HKDF output, §3 of docs/PROTOCOL.md). */
export const LOCATOR_BYTES = 32;

/** Size of a blob upload ticket (TICKET_GRANT, docs/PROTOCOL.md §9.1): 256 random bits. */
export const TICKET_BYTES = 32;

/** Size of a resume token (JOINED.resume, RESUME.token; docs/PROTOCOL.md §4.5): 256 random bits. */
export const RESUME_TOKEN_BYTES = 32;

/** The WebSocket subprotocol that names this wire format. */
export const SUBPROTOCOL = 'nullroom.v1';
