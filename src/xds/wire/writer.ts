// Writing protobuf wire primitives into one growing Buffer, length-delimited sub-messages included.

/**
 * An append-only protobuf writer. A length-delimited value is written by `begin()` … `end(mark)`:
 * one byte is reserved for its length and the body is moved right when the length needs more, so
 * every length is a minimal varint (as protobuf's own serializers write it) without a second pass.
 */
export class WireWriter {
  private buf: Buffer;
  len = 0;

  constructor(initial = 256) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  /** An unsigned varint of at most 32 bits. */
  uint32(v: number): void {
    this.room(5);
    let n = v >>> 0;
    while (n > 127) {
      this.buf[this.len++] = (n & 127) | 128;
      n >>>= 7;
    }
    this.buf[this.len++] = n;
  }

  /** A varint of the 64-bit value hi:lo (a negative int32 is hi = 0xffffffff). */
  varint64(lo: number, hi: number): void {
    this.room(10);
    lo >>>= 0;
    hi >>>= 0;
    while (hi !== 0 || lo > 127) {
      this.buf[this.len++] = (lo & 127) | 128;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    this.buf[this.len++] = lo;
  }

  tag(fieldNumber: number, wire: number): void {
    this.uint32(((fieldNumber << 3) | wire) >>> 0);
  }

  fixed32(v: number): void {
    this.room(4);
    this.buf.writeUInt32LE(v >>> 0, this.len);
    this.len += 4;
  }

  fixed64(lo: number, hi: number): void {
    this.room(8);
    this.buf.writeUInt32LE(lo >>> 0, this.len);
    this.buf.writeUInt32LE(hi >>> 0, this.len + 4);
    this.len += 8;
  }

  double(v: number): void {
    this.room(8);
    this.buf.writeDoubleLE(v, this.len);
    this.len += 8;
  }

  float(v: number): void {
    this.room(4);
    this.buf.writeFloatLE(v, this.len);
    this.len += 4;
  }

  /** A length-prefixed UTF-8 string. */
  string(s: string): void {
    const n = Buffer.byteLength(s, 'utf8');
    this.uint32(n);
    this.room(n);
    this.len += this.buf.write(s, this.len, n, 'utf8');
  }

  /** Length-prefixed bytes. */
  bytes(b: Uint8Array): void {
    this.uint32(b.length);
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  /** Starts a length-delimited value; returns the mark to hand `end`. */
  begin(): number {
    this.room(1);
    return this.len++;
  }

  /** Ends the length-delimited value `begin` started: writes its length, minimal. */
  end(mark: number): void {
    const bodyStart = mark + 1;
    const n = this.len - bodyStart;
    if (n < 128) {
      this.buf[mark] = n;
      return;
    }
    let size = 1;
    for (let x = n >>> 7; x > 0; x >>>= 7) size++;
    this.room(size - 1);
    this.buf.copyWithin(mark + size, bodyStart, this.len);
    this.len += size - 1;
    let pos = mark;
    let x = n;
    while (x > 127) {
      this.buf[pos++] = (x & 127) | 128;
      x >>>= 7;
    }
    this.buf[pos] = x;
  }

  /** The bytes written, as a Buffer of their own. */
  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.len));
  }
}
