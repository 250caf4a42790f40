// Buffer#write validates its arguments and looks its encoding up on every call; the encoder underneath
// (Buffer.prototype.utf8Write, in every Node release, undocumented) does not. On the hot paths (one or
// two calls per event id) the difference is measurable. The documented call is the fallback.

type Utf8Writer = { utf8Write?: (s: string, offset: number) => number };
const raw = (Buffer.prototype as Utf8Writer).utf8Write;

/** Writes the UTF-8 of `s` into `buf` at `offset` (the caller has made room); returns the bytes written. */
export const utf8Write: (buf: Buffer, s: string, offset: number) => number =
  typeof raw === 'function'
    ? (buf, s, offset) => raw.call(buf, s, offset)
    : (buf, s, offset) => buf.write(s, offset, 'utf8');
