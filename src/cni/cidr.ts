// CIDR blocks as iptables prints them: parsed, host bits cleared, and written in the canonical text `iptables-save` uses.

/** A parsed CIDR block; `text` is its canonical form (`10.0.0.0/8`, `2001:db8::/32`). */
export interface Cidr {
  family: 4 | 6;
  text: string;
  /** The network address is a loopback address (127.x.y.z or ::1), as Go's `IP.IsLoopback` says. */
  loopback: boolean;
}

/**
 * Parses `a.b.c.d/n` or an IPv6 `x:y::z/n` (a prefix length is required, as Go's `net.ParseCIDR`
 * requires it) and returns the block in canonical form; returns a sentence saying what is wrong
 * otherwise. Host bits are cleared (`10.1.2.3/8` is `10.0.0.0/8`), because that is what the kernel
 * stores and what `iptables-save` prints back, and CHECK compares against that text.
 */
export function parseCidr(value: string): Cidr | string {
  const slash = value.indexOf('/');
  if (slash < 0) return `"${value}" is not a CIDR block (it needs a prefix length, like 10.0.0.0/8 or 2001:db8::/32)`;
  const address = value.slice(0, slash);
  const bitsText = value.slice(slash + 1);
  const bytes = address.includes(':') ? parseIPv6(address) : parseIPv4(address);
  if (!bytes) return `"${value}" is not a CIDR block ("${address}" is not an IPv4 or IPv6 address)`;
  const max = bytes.length * 8;
  if (!/^[0-9]{1,3}$/.test(bitsText) || Number(bitsText) > max) return `"${value}" is not a CIDR block (the prefix length must be 0..${max})`;
  const bits = Number(bitsText);
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    bytes[i]! &= (0xff << (8 - keep)) & 0xff;
  }
  if (bytes.length === 4) return { family: 4, text: `${bytes.join('.')}/${bits}`, loopback: bytes[0] === 127 };
  const loopback = bytes.every((b, i) => b === (i === 15 ? 1 : 0));
  return { family: 6, text: `${formatIPv6(bytes)}/${bits}`, loopback };
}

function parseIPv4(text: string): number[] | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out: number[] = [];
  for (const p of parts) {
    // No leading zeros: Go rejects them, and some C parsers read them as octal.
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255) return undefined;
    out.push(Number(p));
  }
  return out;
}

function parseIPv6(text: string): number[] | undefined {
  if (text.includes('%')) return undefined; // zone indices name an interface, not a network
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (s: string): number[] | undefined => {
    if (s === '') return [];
    const out: number[] = [];
    const parts = s.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = parseIPv4(p);
        if (!v4) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return undefined;
        out.push(parseInt(p, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  let words: number[];
  if (halves.length === 2) {
    if (head.length + tail.length > 7) return undefined;
    words = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    if (head.length !== 8) return undefined;
    words = head;
  }
  return words.flatMap((w) => [w >> 8, w & 0xff]);
}

/**
 * Writes 16 bytes as glibc's `inet_ntop` does (iptables prints addresses with it): lowercase, no
 * leading zeros, the longest run of two or more zero groups (the first, on a tie) as `::`, and
 * IPv4-mapped / IPv4-compatible addresses with a dotted tail.
 */
function formatIPv6(bytes: number[]): string {
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((bytes[i]! << 8) | bytes[i + 1]!);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) bestStart = -1;
  const dotted = bestStart === 0 && (bestLen === 6 || (bestLen === 5 && words[5] === 0xffff));
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      out += '::';
      i += bestLen - 1;
      continue;
    }
    if (dotted && i === 6) {
      if (!out.endsWith(':')) out += ':';
      out += `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
      break;
    }
    if (out !== '' && !out.endsWith(':')) out += ':';
    out += words[i]!.toString(16);
  }
  return out;
}
