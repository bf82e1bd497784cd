// HPACK header compression (RFC 7541) for HTTP/2: the static table, a strict decoder with a header-list size limit, and an encoder that mirrors the peer's dynamic table.
import { huffmanDecodeBound, huffmanDecodedLength, huffmanDecodeInto } from './huffman.js';

/** A malformed header block (RFC 9113: a connection error of type COMPRESSION_ERROR). */
export class HpackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HpackError';
  }
}

/**
 * Node's Buffer has `latin1Slice` / `latin1Write` (what `toString('latin1')` and `write(…, 'latin1')`
 * call after their argument checks); @types/node does not declare them. Header octets map to
 * chars one to one, which is what HTTP/1 serialization on the other side expects.
 */
interface Latin1Buffer extends Buffer {
  latin1Slice(start: number, end: number): string;
  latin1Write(s: string, offset: number, length: number): number;
}

/** The static table (RFC 7541 Appendix A), entries 1..61. */
const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];

/** Number of static entries; dynamic entries start at index 62. */
const STATIC_TABLE_LENGTH = 61;
const FIRST_DYNAMIC_INDEX = STATIC_TABLE_LENGTH + 1;

/** Names, values and sizes by static index (slot 0 unused): the decoder hands out these very strings. */
const STATIC_NAMES: readonly string[] = ['', ...STATIC_TABLE.map((e) => e[0])];
const STATIC_VALUES: readonly string[] = ['', ...STATIC_TABLE.map((e) => e[1])];
const STATIC_SIZES: Uint16Array = Uint16Array.from([0, ...STATIC_TABLE.map((e) => e[0].length + e[1].length + 32)]);

/** RFC 7541 §4.1: an entry's size is its name and value lengths in octets plus 32. */
const ENTRY_OVERHEAD = 32;

/** The SETTINGS_HEADER_TABLE_SIZE both sides start with (RFC 9113 §6.5.2). */
export const DEFAULT_HEADER_TABLE_SIZE = 4096;

/**
 * Integers above this are refused (RFC 7541 §5.1 leaves the limit to the implementation). Every
 * legitimate integer — an index, a string length, a table size — is far below it; without a
 * limit, a run of continuation octets builds numbers past 2^53 that silently lose precision.
 */
const MAX_INTEGER = 0x7fffffff;

/**
 * One direction's HPACK decoding context. Create one per connection; feed it every header block
 * the peer sends, in order — skipping one desynchronizes the dynamic table for good.
 */
export class HpackDecoder {
  /** Our SETTINGS_HEADER_TABLE_SIZE in octets: the most a size update may ask for. */
  private readonly maxTableSize: number;
  /** The table's current maximum size in octets, as last set by the peer (RFC 7541 §4.2). */
  private capacity: number;
  /** Octets in use (sum of entry sizes). */
  private size = 0;
  /** Ring of entries; `head` is the newest one's slot, `length` how many are live. */
  private names: string[] = new Array<string>(16).fill('');
  private values: string[] = new Array<string>(16).fill('');
  private mask = 15;
  private head = 0;
  private length = 0;
  /** Where the last helper (integer or string read) stopped: lets helpers return a value and a position without allocating. */
  private pos = 0;
  /** Output of Huffman decoding, grown to the largest string seen. */
  private scratch: Latin1Buffer = Buffer.allocUnsafe(256) as Latin1Buffer;
  /** Set by `readStringData`: whether the string was Huffman-coded (then its octets are in `scratch`), and where its encoded form ends. */
  private stringHuffman = false;
  private stringEnd = 0;

  /**
   * `maxTableSize`: our SETTINGS_HEADER_TABLE_SIZE (default 4096). The table starts at that size
   * (RFC 7541 C.5 decodes with a 256-octet table and no size update); a dynamic table size update
   * above it is an error.
   */
  constructor(maxTableSize: number = DEFAULT_HEADER_TABLE_SIZE) {
    if (!Number.isInteger(maxTableSize) || maxTableSize < 0 || maxTableSize > MAX_INTEGER) throw new RangeError(`invalid header table size ${maxTableSize}`);
    this.maxTableSize = maxTableSize;
    this.capacity = maxTableSize;
  }

  /** Octets the dynamic table holds now (RFC 7541 §4.1 sizes). For tests and diagnostics. */
  get tableSize(): number {
    return this.size;
  }

  /** Entries in the dynamic table now. For tests and diagnostics. */
  get tableLength(): number {
    return this.length;
  }

  /**
   * Decodes one complete header block (bytes of HEADERS + CONTINUATION payloads, padding and
   * priority already removed). Calls `onField(name, value, sensitive)` for each field in order
   * while the running decoded size — name.length + value.length + 32 per field, RFC 9113 §6.5.2's
   * header list size — is within `maxListSize`. `sensitive` is true for a never-indexed literal
   * (RFC 7541 §6.2.3): an intermediary must forward such a field never-indexed too (§7.1.3).
   *
   * Once the size exceeds the limit, `onField` is no longer called and strings that are not needed
   * are not built (indexed fields only add their size; literals without indexing are validated and
   * skipped), but decoding goes on so the dynamic table stays in step with the peer's encoder: a
   * literal with incremental indexing is still inserted. This is what keeps a small block of
   * references to one large entry (an amplification attack) cheap. Returns the total decoded size;
   * the caller rejects the block when it is above `maxListSize`.
   *
   * Throws HpackError on malformed input; afterwards the decoder's state is undefined and the
   * connection must end with COMPRESSION_ERROR.
   */
  decode(block: Buffer, maxListSize: number, onField: (name: string, value: string, sensitive: boolean) => void): number {
    const end = block.length;
    let pos = 0;
    let total = 0;
    let fieldSeen = false;
    while (pos < end) {
      const first = block[pos++]!;

      if (first >= 0x80) {
        // §6.1 Indexed header field. The hot path: no allocation, the stored strings go out as they are.
        let index = first & 0x7f;
        if (index === 0x7f) {
          index = this.readIntegerTail(block, pos, index);
          pos = this.pos;
        }
        fieldSeen = true;
        if (index <= STATIC_TABLE_LENGTH) {
          if (index === 0) throw new HpackError('indexed header field with index 0');
          total += STATIC_SIZES[index]!;
          if (total <= maxListSize) onField(STATIC_NAMES[index]!, STATIC_VALUES[index]!, false);
        } else {
          const age = index - FIRST_DYNAMIC_INDEX;
          if (age >= this.length) throw new HpackError(`header field index ${index} is beyond the table`);
          const slot = (this.head - age) & this.mask;
          const name = this.names[slot]!;
          const value = this.values[slot]!;
          total += name.length + value.length + ENTRY_OVERHEAD;
          if (total <= maxListSize) onField(name, value, false);
        }
        continue;
      }

      if (first >= 0x40) {
        // §6.2.1 Literal with incremental indexing: the strings are needed for the table whatever the limit says.
        let index = first & 0x3f;
        if (index === 0x3f) {
          index = this.readIntegerTail(block, pos, index);
          pos = this.pos;
        }
        // The name is read before inserting: the insertion may evict the very entry it names (§4.4).
        let name: string;
        if (index === 0) {
          name = this.readString(block, pos);
          pos = this.pos;
        } else {
          name = this.nameAt(index);
        }
        const value = this.readString(block, pos);
        pos = this.pos;
        fieldSeen = true;
        total += name.length + value.length + ENTRY_OVERHEAD;
        if (total <= maxListSize) onField(name, value, false);
        this.insert(name, value);
        continue;
      }

      if (first >= 0x20) {
        // §6.3 Dynamic table size update: only before the block's first field (RFC 7541 §4.2).
        let newSize = first & 0x1f;
        if (newSize === 0x1f) {
          newSize = this.readIntegerTail(block, pos, newSize);
          pos = this.pos;
        }
        if (fieldSeen) throw new HpackError('dynamic table size update after a header field');
        if (newSize > this.maxTableSize) throw new HpackError(`dynamic table size update to ${newSize} exceeds SETTINGS_HEADER_TABLE_SIZE ${this.maxTableSize}`);
        this.capacity = newSize;
        this.evictTo(newSize);
        continue;
      }

      // §6.2.2 Literal without indexing (0000xxxx) and §6.2.3 never indexed (0001xxxx).
      const sensitive = first >= 0x10;
      let index = first & 0x0f;
      if (index === 0x0f) {
        index = this.readIntegerTail(block, pos, index);
        pos = this.pos;
      }
      fieldSeen = true;
      if (total > maxListSize) {
        // Over the limit already: validate and measure, build nothing.
        let nameLength: number;
        if (index === 0) {
          nameLength = this.skipString(block, pos);
          pos = this.pos;
        } else {
          nameLength = this.nameAt(index).length;
        }
        total += nameLength + this.skipString(block, pos) + ENTRY_OVERHEAD;
        pos = this.pos;
        continue;
      }
      let name: string;
      if (index === 0) {
        name = this.readString(block, pos);
        pos = this.pos;
      } else {
        name = this.nameAt(index);
      }
      // The value's length is known before its string is built, so a field that crosses the
      // limit costs no allocation either.
      const valueLength = this.readStringData(block, pos);
      const valueStart = this.pos;
      pos = this.stringEnd;
      total += name.length + valueLength + ENTRY_OVERHEAD;
      if (total <= maxListSize) {
        const value = this.stringHuffman ? this.scratch.latin1Slice(0, valueLength) : (block as Latin1Buffer).latin1Slice(valueStart, valueStart + valueLength);
        onField(name, value, sensitive);
      }
    }
    return total;
  }

  /** The name of static or dynamic entry `index` (≥ 1), for a literal with an indexed name. */
  private nameAt(index: number): string {
    if (index <= STATIC_TABLE_LENGTH) return STATIC_NAMES[index]!;
    const age = index - FIRST_DYNAMIC_INDEX;
    if (age >= this.length) throw new HpackError(`header name index ${index} is beyond the table`);
    return this.names[(this.head - age) & this.mask]!;
  }

  /**
   * Reads the continuation octets of an integer whose N-bit prefix was all ones (`prefix` =
   * 2^N − 1) starting at `pos` (RFC 7541 §5.1). Returns the value; `this.pos` is left after it.
   */
  private readIntegerTail(block: Buffer, pos: number, prefix: number): number {
    let value = prefix;
    let scale = 1;
    for (;;) {
      if (pos >= block.length) throw new HpackError('header block ends inside an integer');
      const b = block[pos++]!;
      value += (b & 0x7f) * scale;
      if (b < 0x80) break;
      scale *= 128;
      // Five continuation octets carry 35 bits: more than any accepted value needs.
      if (scale > 2 ** 28) throw new HpackError('integer has too many continuation octets');
    }
    if (value > MAX_INTEGER) throw new HpackError('integer overflows');
    this.pos = pos;
    return value;
  }

  /**
   * Reads a string literal's header at `pos` (RFC 7541 §5.2) and makes its octets available
   * without building a string: raw octets stay in `block` at `this.pos`, Huffman-coded ones are
   * decoded into `scratch` from 0. Returns the decoded length; `this.stringEnd` is where the
   * literal ends.
   */
  private readStringData(block: Buffer, pos: number): number {
    const huffman = this.literalBounds(block, pos);
    const start = this.pos;
    const end = this.stringEnd;
    this.stringHuffman = huffman;
    if (!huffman) return end - start;
    const bound = huffmanDecodeBound(end - start);
    if (this.scratch.length < bound) this.scratch = Buffer.allocUnsafe(Math.max(bound, this.scratch.length * 2)) as Latin1Buffer;
    const decoded = huffmanDecodeInto(block, start, end, this.scratch);
    if (decoded < 0) throw new HpackError('malformed Huffman-coded string');
    return decoded;
  }

  /** Reads a string literal's header at `pos`: `this.pos` is then its first octet, `this.stringEnd` the end; returns whether it is Huffman-coded. */
  private literalBounds(block: Buffer, pos: number): boolean {
    if (pos >= block.length) throw new HpackError('header block ends before a string literal');
    const first = block[pos++]!;
    let length = first & 0x7f;
    if (length === 0x7f) {
      length = this.readIntegerTail(block, pos, length);
      pos = this.pos;
    }
    const end = pos + length;
    if (end > block.length) throw new HpackError('string literal runs past the end of the header block');
    this.pos = pos;
    this.stringEnd = end;
    return first >= 0x80;
  }

  /** Reads a string literal at `pos` into a string; `this.pos` is left after it. */
  private readString(block: Buffer, pos: number): string {
    const length = this.readStringData(block, pos);
    const start = this.pos;
    this.pos = this.stringEnd;
    if (this.stringHuffman) return this.scratch.latin1Slice(0, length);
    return length === 0 ? '' : (block as Latin1Buffer).latin1Slice(start, start + length);
  }

  /** Validates and measures a string literal at `pos` without decoding it anywhere; `this.pos` is left after it. */
  private skipString(block: Buffer, pos: number): number {
    const huffman = this.literalBounds(block, pos);
    const start = this.pos;
    const end = this.stringEnd;
    this.pos = end;
    if (!huffman) return end - start;
    const decoded = huffmanDecodedLength(block, start, end);
    if (decoded < 0) throw new HpackError('malformed Huffman-coded string');
    return decoded;
  }

  /** Adds an entry, evicting the oldest ones to make room; an entry larger than the table empties it (RFC 7541 §4.4). */
  private insert(name: string, value: string): void {
    const entrySize = name.length + value.length + ENTRY_OVERHEAD;
    if (entrySize > this.capacity) {
      this.evictTo(0);
      return;
    }
    this.evictTo(this.capacity - entrySize);
    if (this.length === this.names.length) this.grow();
    this.head = (this.head + 1) & this.mask;
    this.names[this.head] = name;
    this.values[this.head] = value;
    this.length++;
    this.size += entrySize;
  }

  /** Evicts oldest entries until the table holds at most `limit` octets. */
  private evictTo(limit: number): void {
    while (this.size > limit) {
      const slot = (this.head - this.length + 1) & this.mask;
      this.size -= this.names[slot]!.length + this.values[slot]!.length + ENTRY_OVERHEAD;
      // Drop the references so evicted strings can be collected.
      this.names[slot] = '';
      this.values[slot] = '';
      this.length--;
    }
  }

  /** Doubles the ring, oldest entry first in the new one. The ring only grows as far as the peer fills it (at most capacity / 32 entries). */
  private grow(): void {
    const size = this.names.length * 2;
    const names = new Array<string>(size).fill('');
    const values = new Array<string>(size).fill('');
    for (let age = this.length - 1, i = 0; age >= 0; age--, i++) {
      const slot = (this.head - age) & this.mask;
      names[i] = this.names[slot]!;
      values[i] = this.values[slot]!;
    }
    this.names = names;
    this.values = values;
    this.mask = size - 1;
    this.head = this.length - 1;
  }
}

/** How the encoder represents a field it cannot send as an index. */
const INCREMENTAL = 0;
const WITHOUT_INDEXING = 1;
const NEVER_INDEXED = 2;

/**
 * Fields whose values differ from message to message: indexing them would only evict entries
 * that do repeat. Everything not listed here (and not in `NEVER_INDEX`) is indexed.
 */
const CHANGES_PER_MESSAGE = [
  ':path',
  'content-length',
  'date',
  'x-envoy-upstream-service-time',
  'x-request-id',
  'etag',
  'last-modified',
  'age',
  'expires',
  'content-range',
  'location',
  'grpc-message',
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-parentspanid',
  'traceparent',
];

/**
 * Credentials are sent never-indexed (RFC 7541 §7.1.3): kept out of both sides' tables, and
 * marked so intermediaries do not index them either. Indexing a secret lets an attacker who
 * shares the connection guess it octet by octet from the block sizes (CRIME-style).
 */
const NEVER_INDEX = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie'];

/** What the encoder knows about a name before looking at the dynamic table. */
interface StaticName {
  /** Lowest static index with this name, or 0. */
  index: number;
  /** Static index of each (name, value) pair in the static table. */
  values: Map<string, number> | undefined;
  policy: number;
}

const NAME_INFO: ReadonlyMap<string, StaticName> = (() => {
  const info = new Map<string, StaticName>();
  const entry = (name: string): StaticName => {
    let e = info.get(name);
    if (e === undefined) info.set(name, (e = { index: 0, values: undefined, policy: INCREMENTAL }));
    return e;
  };
  for (let i = 1; i <= STATIC_TABLE_LENGTH; i++) {
    const e = entry(STATIC_NAMES[i]!);
    if (e.index === 0) e.index = i;
    (e.values ??= new Map()).set(STATIC_VALUES[i]!, i);
  }
  for (const name of CHANGES_PER_MESSAGE) entry(name).policy = WITHOUT_INDEXING;
  for (const name of NEVER_INDEX) entry(name).policy = NEVER_INDEXED;
  return info;
})();

/** The `:status` static entries (8..14), the encoder's most common field. */
function statusIndex(value: string): number {
  switch (value) {
    case '200':
      return 8;
    case '204':
      return 9;
    case '206':
      return 10;
    case '304':
      return 11;
    case '400':
      return 12;
    case '404':
      return 13;
    case '500':
      return 14;
    default:
      return 0;
  }
}

/** The encoder's table never exceeds this many octets, whatever the peer allows: 4 KiB per connection is enough to index a typical response. */
const ENCODER_MAX_TABLE_SIZE = 4096;
/** Ring slots: each entry is at least 32 octets, so 4096 octets hold at most 128 entries. */
const ENCODER_RING = ENCODER_MAX_TABLE_SIZE / ENTRY_OVERHEAD;
/** Shorter strings are copied by a JS loop, longer ones by `latin1Write` (measured crossover ≈ 30 chars: the native call costs ~70 ns). */
const SHORT_STRING = 32;
/** Blocks up to this many octets are copied out by a JS loop rather than `Buffer.copy`. */
const SHORT_BLOCK = 128;

/**
 * One direction's HPACK encoding context: create one per connection and encode every header
 * block sent on it, in order. Literals are written raw (no Huffman): CPU matters more than the
 * octets. The dynamic table mirrors exactly what the peer's decoder will hold.
 */
export class HpackEncoder {
  /** The table's maximum size in octets as the peer's decoder knows it. */
  private maxSize = ENCODER_MAX_TABLE_SIZE;
  /** Size updates to announce at the start of the next block: the smallest size set since the last block, and the latest; -1 when none. */
  private pendingMinimum = -1;
  private pendingFinal = -1;
  private size = 0;
  /** Ring of entries by absolute insertion number (`abs & (ENCODER_RING - 1)`). */
  private readonly names: string[] = new Array<string>(ENCODER_RING).fill('');
  private readonly values: string[] = new Array<string>(ENCODER_RING).fill('');
  /** Entries ever inserted; the newest live entry is number `inserted - 1`, at index 62. */
  private inserted = 0;
  private length = 0;
  /** name → value → absolute insertion number, for the live entries only. */
  private readonly byName = new Map<string, Map<string, number>>();
  private out: Latin1Buffer = Buffer.allocUnsafe(1024) as Latin1Buffer;

  /**
   * The peer's SETTINGS_HEADER_TABLE_SIZE; the encoder uses min(it, 4096) and announces a change
   * with a dynamic table size update at the start of the next block (RFC 7541 §4.2, §6.3). Call
   * it when the peer's SETTINGS arrive.
   */
  setMaxTableSize(n: number): void {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`invalid header table size ${n}`);
    const size = Math.min(n, ENCODER_MAX_TABLE_SIZE);
    if (this.pendingFinal < 0) {
      if (size === this.maxSize) return;
      this.pendingMinimum = size;
    } else {
      // Shrunk and grown again between two blocks: the peer needs to see the smallest size
      // first, or its decoder keeps entries ours has dropped (§4.2).
      this.pendingMinimum = Math.min(this.pendingMinimum, size);
    }
    this.pendingFinal = size;
  }

  /**
   * Encodes one header block from parallel arrays, fields [0, count): names already lower-case,
   * pseudo-headers first (the caller guarantees both). Returns a fresh Buffer the caller may keep.
   */
  encode(names: readonly string[], values: readonly string[], count: number = names.length): Buffer {
    let pos = 0;
    if (this.pendingFinal >= 0) pos = this.writeSizeUpdates();
    for (let i = 0; i < count; i++) {
      const name = names[i]!;
      const value = values[i]!;
      // Room for three integers of up to 6 octets and both strings.
      if (pos + name.length + value.length + 18 > this.out.length) this.growOut(pos + name.length + value.length + 18);
      const out = this.out;

      if (name === ':status') {
        const index = statusIndex(value);
        if (index !== 0) {
          out[pos++] = 0x80 | index;
        } else {
          // Any other status: literal without indexing, name from static entry 8.
          out[pos++] = 0x08;
          pos = this.writeString(value, pos);
        }
        continue;
      }

      const known = NAME_INFO.get(name);
      if (known !== undefined && known.values !== undefined) {
        const index = known.values.get(value);
        if (index !== undefined) {
          out[pos++] = 0x80 | index;
          continue;
        }
      }
      const dynamic = this.byName.get(name);
      if (dynamic !== undefined) {
        const abs = dynamic.get(value);
        if (abs !== undefined) {
          pos = this.writeInteger(0x80, 7, FIRST_DYNAMIC_INDEX + this.inserted - 1 - abs, pos);
          continue;
        }
      }

      const nameIndex = known === undefined ? 0 : known.index;
      const policy = known === undefined ? INCREMENTAL : known.policy;
      const entrySize = name.length + value.length + ENTRY_OVERHEAD;
      // An entry over half the table would evict most of what is there for one field.
      if (policy === INCREMENTAL && entrySize * 2 <= this.maxSize) {
        pos = this.writeInteger(0x40, 6, nameIndex, pos);
        this.insert(name, value, entrySize);
      } else {
        pos = this.writeInteger(policy === NEVER_INDEXED ? 0x10 : 0x00, 4, nameIndex, pos);
      }
      if (nameIndex === 0) pos = this.writeString(name, pos);
      pos = this.writeString(value, pos);
    }
    const block = Buffer.allocUnsafe(pos);
    const out = this.out;
    // Optimization: a JS loop beats the native copy's call overhead for the usual small block.
    if (pos <= SHORT_BLOCK) for (let i = 0; i < pos; i++) block[i] = out[i]!;
    else out.copy(block, 0, 0, pos);
    return block;
  }

  /** Writes the pending size updates at offset 0 and applies them to the table; returns the offset after them. */
  private writeSizeUpdates(): number {
    let pos = 0;
    if (this.pendingMinimum < this.pendingFinal) {
      this.evictTo(this.pendingMinimum);
      pos = this.writeInteger(0x20, 5, this.pendingMinimum, pos);
    }
    this.evictTo(this.pendingFinal);
    this.maxSize = this.pendingFinal;
    pos = this.writeInteger(0x20, 5, this.pendingFinal, pos);
    this.pendingMinimum = -1;
    this.pendingFinal = -1;
    return pos;
  }

  /** Writes `value` with an N-bit prefix (RFC 7541 §5.1) into the first octet, whose other bits are `flags`; returns the offset after it. */
  private writeInteger(flags: number, prefixBits: number, value: number, pos: number): number {
    const out = this.out;
    const max = (1 << prefixBits) - 1;
    if (value < max) {
      out[pos++] = flags | value;
      return pos;
    }
    out[pos++] = flags | max;
    value -= max;
    while (value >= 0x80) {
      out[pos++] = (value & 0x7f) | 0x80;
      value = Math.floor(value / 128);
    }
    out[pos++] = value;
    return pos;
  }

  /** Writes a raw string literal (H = 0) at `pos`; returns the offset after it. */
  private writeString(s: string, pos: number): number {
    const length = s.length;
    pos = this.writeInteger(0x00, 7, length, pos);
    const out = this.out;
    if (length < SHORT_STRING) {
      for (let i = 0; i < length; i++) out[pos + i] = s.charCodeAt(i);
    } else {
      out.latin1Write(s, pos, length);
    }
    return pos + length;
  }

  private growOut(needed: number): void {
    const out = Buffer.allocUnsafe(Math.max(needed, this.out.length * 2)) as Latin1Buffer;
    this.out.copy(out);
    this.out = out;
  }

  /** Adds an entry the peer's decoder is adding too (`entrySize` ≤ `maxSize`). */
  private insert(name: string, value: string, entrySize: number): void {
    this.evictTo(this.maxSize - entrySize);
    const abs = this.inserted++;
    const slot = abs & (ENCODER_RING - 1);
    this.names[slot] = name;
    this.values[slot] = value;
    this.length++;
    this.size += entrySize;
    let byValue = this.byName.get(name);
    if (byValue === undefined) this.byName.set(name, (byValue = new Map()));
    byValue.set(value, abs);
  }

  /** Evicts the oldest entries, exactly as the peer's decoder does, until at most `limit` octets remain. */
  private evictTo(limit: number): void {
    while (this.size > limit) {
      const abs = this.inserted - this.length;
      const slot = abs & (ENCODER_RING - 1);
      const name = this.names[slot]!;
      const value = this.values[slot]!;
      this.size -= name.length + value.length + ENTRY_OVERHEAD;
      this.length--;
      this.names[slot] = '';
      this.values[slot] = '';
      const byValue = this.byName.get(name);
      if (byValue !== undefined && byValue.get(value) === abs) {
        byValue.delete(value);
        // Names seen once must not accumulate over a long connection.
        if (byValue.size === 0) this.byName.delete(name);
      }
    }
  }
}
