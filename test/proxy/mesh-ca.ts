// Test helper: a mesh of one mTLS workload, and the mesh CA as `meltemi discovery --ca-dir` runs it (a root, token-authenticated CreateCertificate over TLS as istiod.istio-system.svc), with the roots and token files a proxy's identity options point at.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateRootCa, type CaBundle } from '../../src/ca/ca-bundle.js';
import { CaServer, caServerCredentials } from '../../src/ca/ca-server.js';
import { LocalTokenAuthenticator, newTokenKey } from '../../src/ca/caller-auth.js';
import type { ProxyIdentityOptions } from '../../src/proxy/mesh-proxy.js';
import { webServiceEntry } from './http-mesh.js';

export const CA_NAMES = ['istiod.istio-system.svc'];

/**
 * The `web` service (test/proxy/http-mesh.ts) on `servicePort`, with one workload, web-1, at
 * 127.0.0.2 running as service account `web` with a sidecar (so clients use auto-mTLS), its app on
 * 127.0.0.1:`appPort`, and the namespace's PeerAuthentication `mode`; `extra` YAML is appended.
 */
export function mtlsWebYaml(servicePort: number, appPort: number, mode: 'STRICT' | 'PERMISSIVE', extra = ''): string {
  return `${webServiceEntry(servicePort)}---
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata: { name: web-1, namespace: default }
spec: { address: 127.0.0.2, ports: { http: ${appPort} }, serviceAccount: web, labels: { app: web, version: v1, security.istio.io/tlsMode: istio } }
---
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: { name: default, namespace: default }
spec: { mtls: { mode: ${mode} } }
${extra}`;
}

export interface MeshCa {
  bundle: CaBundle;
  server: CaServer;
  port: number;
  /** The roots file proxies read (`--ca-root`). */
  rootsFile: string;
  /** Writes a token for `serviceAccount` in `namespace` and returns identity options for a proxy running as it. */
  identity(serviceAccount: string, namespace?: string, extra?: Partial<ProxyIdentityOptions>): ProxyIdentityOptions;
  close(): Promise<void>;
}

/** Starts a CA on 127.0.0.1 (an EC P-256 root unless `bundle` is given); files go to `dir`. */
export async function startMeshCa(dir: string, bundle?: CaBundle): Promise<MeshCa> {
  const root = bundle ?? (await generateRootCa({ trustDomain: 'cluster.local', keyType: 'ecP256' }));
  const tokens = new LocalTokenAuthenticator({ key: newTokenKey(), trustDomain: 'cluster.local' });
  const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
  const server = new CaServer({ bundle: root, authenticator: tokens, trustDomain: 'cluster.local', logger: quiet });
  const port = await server.start('127.0.0.1:0', await caServerCredentials(root, CA_NAMES));
  const rootsFile = join(dir, 'root-cert.pem');
  writeFileSync(rootsFile, root.rootCertPem);
  return {
    bundle: root,
    server,
    port,
    rootsFile,
    identity: (serviceAccount, namespace = 'default', extra = {}) => {
      const tokenFile = join(dir, `${namespace}.${serviceAccount}.token`);
      writeFileSync(tokenFile, tokens.issueToken({ namespace, serviceAccount }, 3_600_000));
      return { caAddress: `127.0.0.1:${port}`, rootCertFile: rootsFile, tokenFile, ...extra };
    },
    close: () => server.close(),
  };
}
