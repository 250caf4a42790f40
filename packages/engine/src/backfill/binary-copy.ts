// A reader of PostgreSQL's binary COPY format (COPY … TO STDOUT (FORMAT binary)): the stream's bytes in
// whatever chunks the socket gives, one callback per tuple with where each field is. Nothing is
// decoded here: fields stay bytes in the chunk, so a batch read costs no string per field.
//
// Format (PostgreSQL docs, "COPY", Binary Format): an 11-byte signature, an int32 of flags, an int32
// header-extension length and that many bytes; then per tuple an int16 field count and, per field, an
// int32 length (-1 for NULL) and that many bytes; then an int16 -1.

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

export class BinaryCopyError extends Error {
  override readonly name = 'BinaryCopyError';
}

/**
 * Called once per tuple. `fields[2i]` and `fields[2i+1]` are where field i starts and ends in `bytes`
 * (-1 and -1 for NULL). Both are only valid during the call.
 */
export type OnTuple = (bytes: Buffer, fields: Int32Array) => void;

export class BinaryCopyReader {
  private carry: Buffer | null = null;
  private headerRead = false;
  private ended = false;
  private fields: Int32Array;

  constructor(
    private readonly fieldCount: number,
    private readonly onTuple: OnTuple,
  ) {
    this.fields = new Int32Array(2 * fieldCount);
  }

  /** Feeds the next chunk of the stream. */
  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.carry) {
      buf = Buffer.concat([this.carry, chunk]);
      this.carry = null;
    }
    let at = 0;
    if (!this.headerRead) {
      at = this.header(buf);
      if (at < 0) {
        this.carry = buf;
        return;
      }
      this.headerRead = true;
    }
    while (at < buf.length) {
      if (this.ended) throw new BinaryCopyError('bytes after the end of the binary COPY stream');
      const next = this.tuple(buf, at);
      if (next < 0) break;
      at = next;
    }
    if (at < buf.length) this.carry = buf.subarray(at);
  }

  /** The stream ended: it must have ended where the format does. */
  finish(): void {
    if (!this.ended || this.carry) throw new BinaryCopyError('the binary COPY stream ended early');
  }

  /** Returns the offset after the header, or -1 if it is not all in `buf` yet. */
  private header(buf: Buffer): number {
    if (buf.length < SIGNATURE.length + 8) return -1;
    if (!buf.subarray(0, SIGNATURE.length).equals(SIGNATURE)) {
      throw new BinaryCopyError('not a binary COPY stream (signature)');
    }
    const extension = buf.readInt32BE(SIGNATURE.length + 4);
    const end = SIGNATURE.length + 8 + extension;
    return buf.length < end ? -1 : end;
  }

  /** Reads the tuple (or the trailer) at `at`: the offset after it, or -1 if it is not all in `buf`. */
  private tuple(buf: Buffer, at: number): number {
    if (at + 2 > buf.length) return -1;
    const count = buf.readInt16BE(at);
    if (count === -1) {
      this.ended = true;
      return at + 2;
    }
    if (count !== this.fieldCount) {
      throw new BinaryCopyError(`a tuple of ${count} fields where ${this.fieldCount} were expected`);
    }
    const fields = this.fields;
    let p = at + 2;
    for (let i = 0; i < count; i++) {
      if (p + 4 > buf.length) return -1;
      const length = buf.readInt32BE(p);
      p += 4;
      if (length < 0) {
        fields[2 * i] = -1;
        fields[2 * i + 1] = -1;
        continue;
      }
      if (p + length > buf.length) return -1;
      fields[2 * i] = p;
      fields[2 * i + 1] = p + length;
      p += length;
    }
    this.onTuple(buf, fields);
    return p;
  }
}
