// Just enough protobuf wire-format reading for the simulated proxies: a resource's top-level name and type, without decoding its body.

/** Top-level string field 1 (`name` of Cluster and Listener) and varint field 2 (Cluster `type`), by scanning tags. */
export interface Head {
  name: string;
  /** Cluster.type (DiscoveryType) when present; absent means the default, STATIC (0). */
  type: number;
}

/** Cluster.DiscoveryType EDS (envoy/config/cluster/v3/cluster.proto). */
export const CLUSTER_TYPE_EDS = 3;

function varint(buf: Uint8Array, pos: number): [value: number, next: number] {
  let value = 0;
  let shift = 0;
  for (;;) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const b = buf[pos++]!;
    // Past 2^53 precision is lost, but lengths and enums never get there.
    value += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return [value, pos];
    shift += 7;
    if (shift > 63) throw new Error('varint too long');
  }
}

const decoder = new TextDecoder();

/**
 * Reads fields 1 and 2 of a message's top level. Fields are not in number order on the wire
 * (protobufjs writes them in declaration order, and Cluster declares field 43 first), so every
 * top-level tag is visited; length-delimited payloads are skipped, never parsed.
 */
export function readHead(buf: Uint8Array): Head {
  let pos = 0;
  let name = '';
  let type = 0;
  let seen = 0;
  while (pos < buf.length && seen < 2) {
    const [tag, p] = varint(buf, pos);
    pos = p;
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 0) {
      const [v, q] = varint(buf, pos);
      pos = q;
      if (field === 2) {
        type = v;
        seen++;
      }
    } else if (wire === 2) {
      const [len, q] = varint(buf, pos);
      pos = q + len;
      if (field === 1) {
        name = decoder.decode(buf.subarray(q, q + len));
        seen++;
      }
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
  return { name, type };
}
