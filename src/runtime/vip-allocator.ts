// Service virtual IPs for the local runtime (Kubernetes' ClusterIP allocation): from a /16, stable per service for the life of the mesh.
import { isIP } from 'node:net';
import { MeshError } from '../shared/errors.js';

/**
 * Hands out addresses from `base`/16 (default 10.96.0.0, Kubernetes' service range), skipping .0.0
 * and .0.1, one per `namespace/name`; a manifest's own `spec.clusterIP` is kept and reserved.
 */
export class VipAllocator {
  private readonly byService = new Map<string, string>();
  private readonly taken = new Set<string>();
  private next = 2;
  private readonly prefix: string;

  constructor(base = '10.96.0.0') {
    const parts = base.split('.');
    if (isIP(base) !== 4 || parts[2] !== '0' || parts[3] !== '0') throw new MeshError('MESH_USAGE', `the service range must be an IPv4 /16 like 10.96.0.0, got ${base}`);
    this.prefix = `${parts[0]}.${parts[1]}`;
  }

  /** The service's address: the one it asked for (when free), the one it had, or a new one. */
  assign(service: string, requested?: string): string {
    if (requested && requested !== 'None') {
      const holder = [...this.byService].find(([, ip]) => ip === requested)?.[0];
      if (holder && holder !== service) throw new MeshError('MESH_USAGE', `Service ${service}: clusterIP ${requested} is already used by ${holder}`);
      this.release(service);
      this.byService.set(service, requested);
      this.taken.add(requested);
      return requested;
    }
    const had = this.byService.get(service);
    if (had) return had;
    while (this.next < 65536) {
      const n = this.next++;
      const ip = `${this.prefix}.${n >> 8}.${n & 255}`;
      if (this.taken.has(ip)) continue;
      this.byService.set(service, ip);
      this.taken.add(ip);
      return ip;
    }
    throw new MeshError('MESH_USAGE', 'the service range is exhausted');
  }

  release(service: string): void {
    const ip = this.byService.get(service);
    if (ip) this.taken.delete(ip);
    this.byService.delete(service);
  }
}
