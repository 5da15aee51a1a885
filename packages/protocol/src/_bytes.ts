import { ProtocolError } from './errors.js';

/** A bounds-checked big-endian reader over one frame. Payloads come back as views, never copies. */
export class Reader {
  private off = 0;
  private readonly view: DataView;
  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  private need(n: number, field: string): void {
    if (this.buf.byteLength - this.off < n) throw new ProtocolError('TRUNCATED', field);
  }
  u8(field: string): number {
    this.need(1, field);
    return this.view.getUint8(this.off++);
  }
  u16(field: string): number {
    this.need(2, field);
    const v = this.view.getUint16(this.off);
    this.off += 2;
    return v;
  }
  u32(field: string): number {
    this.need(4, field);
    const v = this.view.getUint32(this.off);
    this.off += 4;
    return v;
  }
  /** A u64 that must fit in a JavaScript safe integer (2^53 - 1). */
  u64(field: string): number {
    this.need(8, field);
    const hi = this.view.getUint32(this.off);
    const lo = this.view.getUint32(this.off + 4);
    this.off += 8;
    if (hi > 0x1fffff) throw new ProtocolError('BAD_VALUE', field);
    return hi * 0x1_0000_0000 + lo;
  }
  fixed(n: number, field: string): Uint8Array {
    this.need(n, field);
    const v = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return v;
  }
  /** u32 length prefix, then that many bytes; the length is checked against `max` before use. */
  bytes(max: number, field: string): Uint8Array {
    const len = this.u32(field);
    if (len > max) throw new ProtocolError('FIELD_TOO_LARGE', field);
    return this.fixed(len, field);
  }
  end(): void {
    if (this.off !== this.buf.byteLength) throw new ProtocolError('TRAILING_BYTES');
  }
}

/**
 * A writer into a buffer sized exactly by the caller. Bytes are set one by one, with no DataView:
 * taking `.buffer` of a small typed array (a 13-byte ACK) makes V8 move it off the heap, which
 * costs more than the whole encoding.
 */
export class Writer {
  private off = 0;
  readonly buf: Uint8Array;
  constructor(size: number) {
    this.buf = new Uint8Array(size);
  }
  u8(v: number): this {
    this.buf[this.off++] = v;
    return this;
  }
  u16(v: number): this {
    const { buf } = this;
    buf[this.off] = v >>> 8;
    buf[this.off + 1] = v;
    this.off += 2;
    return this;
  }
  u32(v: number): this {
    const { buf } = this;
    const o = this.off;
    buf[o] = v >>> 24;
    buf[o + 1] = v >>> 16;
    buf[o + 2] = v >>> 8;
    buf[o + 3] = v;
    this.off = o + 4;
    return this;
  }
  u64(v: number, field = 'u64'): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new ProtocolError('BAD_VALUE', field);
    this.u32(Math.floor(v / 0x1_0000_0000));
    return this.u32(v >>> 0);
  }
  fixed(b: Uint8Array): this {
    this.buf.set(b, this.off);
    this.off += b.byteLength;
    return this;
  }
  bytes(b: Uint8Array): this {
    return this.u32(b.byteLength).fixed(b);
  }
  done(): Uint8Array {
    if (this.off !== this.buf.byteLength) throw new Error('writer size mismatch');
    return this.buf;
  }
}
