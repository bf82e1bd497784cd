// Kubernetes Secrets by namespace and name, their values decoded once per push (base64 `data`, `stringData` over it), for the gateway credentials served over SDS.
import type { Resource } from '../../api/kind.js';
import type { SecretConfig } from '../push-context.js';

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!v || typeof v !== 'object' || Array.isArray(v)) return out;
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) if (typeof x === 'string') out[k] = x;
  return out;
}

/**
 * The core/v1 Secrets of one push. Values are decoded on first lookup and kept for the push (and
 * the endpoint-only pushes that share its config), so a gateway credential is decoded once however
 * many gateways ask for it. Decoded values are UTF-8 text: the only Secrets read are PEM credentials.
 */
export class SecretIndex {
  private readonly byKey = new Map<string, Resource>();
  private readonly decoded = new Map<string, SecretConfig>();

  constructor(secrets: readonly Resource[]) {
    for (const s of secrets) {
      if (s.apiVersion !== 'v1' || s.kind !== 'Secret') continue;
      this.byKey.set(`${s.metadata.namespace ?? ''}/${s.metadata.name ?? ''}`, s);
    }
  }

  /** The Secret `name` of `namespace`, decoded and frozen; undefined when there is none. */
  get(namespace: string, name: string): SecretConfig | undefined {
    const key = `${namespace}/${name}`;
    const hit = this.decoded.get(key);
    if (hit) return hit;
    const r = this.byKey.get(key);
    if (!r) return undefined;
    const raw = r as Resource & { type?: unknown; data?: unknown; stringData?: unknown };
    const data: Record<string, string> = {};
    for (const [k, v] of Object.entries(stringMap(raw.data))) data[k] = Buffer.from(v, 'base64').toString('utf8');
    // As the API server does on write: stringData wins over data for the same key.
    Object.assign(data, stringMap(raw.stringData));
    const out: SecretConfig = Object.freeze({
      namespace,
      name,
      creationTimestamp: r.metadata.creationTimestamp ?? '',
      type: typeof raw.type === 'string' && raw.type !== '' ? raw.type : 'Opaque',
      data: Object.freeze(data),
    });
    this.decoded.set(key, out);
    return out;
  }
}
