// Mesh config derived from a ServiceMeshControlPlane, over Istio's defaults.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_MESH_CONFIG, meshConfigFromControlPlane } from '../../src/model/mesh-config.js';
import { applyProfiles } from '../../src/api/smcp-profiles.js';
import type { SmcpV2Spec } from '../../src/api/kinds/service-mesh-control-plane.js';

test('a basic control plane: its namespace is the root namespace, everything else Maistra defaults', () => {
  const mc = meshConfigFromControlPlane('basic-cp', applyProfiles({ version: 'v2.0' } as SmcpV2Spec));
  assert.equal(mc.rootNamespace, 'basic-cp');
  assert.equal(mc.trustDomain, 'cluster.local');
  assert.equal(mc.outboundTrafficPolicy, 'ALLOW_ANY');
  assert.equal(mc.enableAutoMtls, true);
  assert.equal(mc.connectTimeoutMs, DEFAULT_MESH_CONFIG.connectTimeoutMs);
});

test('trust domain, aliases, REGISTRY_ONLY, auto-mTLS off and connect timeout come from the spec', () => {
  const spec = {
    version: 'v2.0',
    security: { trust: { domain: 'example.org', additionalDomains: ['old.example.org'] }, dataPlane: { automtls: false } },
    proxy: { networking: { connectionTimeout: '2.5s', clusterDomain: 'corp.local', trafficControl: { outbound: { policy: 'REGISTRY_ONLY' } } } },
  };
  const mc = meshConfigFromControlPlane('istio-system', applyProfiles(spec as SmcpV2Spec));
  assert.equal(mc.trustDomain, 'example.org');
  assert.deepEqual(mc.trustDomainAliases, ['old.example.org']);
  assert.equal(mc.outboundTrafficPolicy, 'REGISTRY_ONLY');
  assert.equal(mc.enableAutoMtls, false);
  assert.equal(mc.connectTimeoutMs, 2500);
  assert.equal(mc.clusterDomain, 'corp.local');
});

test('security.controlPlane.tls sets the mesh mTLS parameters; techPreview.meshConfig.pathNormalization the path mode', () => {
  const spec = {
    version: 'v2.0',
    security: { controlPlane: { tls: { minProtocolVersion: 'TLSv1_3', cipherSuites: ['ECDHE-ECDSA-AES256-GCM-SHA384'], ecdhCurves: ['P-256'] } } },
    techPreview: { meshConfig: { pathNormalization: { normalization: 'DECODE_AND_MERGE_SLASHES' } } },
  };
  const mc = meshConfigFromControlPlane('istio-system', applyProfiles(spec as unknown as SmcpV2Spec));
  assert.deepEqual(mc.meshTls, { minProtocolVersion: 'TLSv1_3', cipherSuites: ['ECDHE-ECDSA-AES256-GCM-SHA384'], ecdhCurves: ['P-256'] });
  assert.equal(mc.pathNormalization, 'DECODE_AND_MERGE_SLASHES');
  const dflt = meshConfigFromControlPlane('istio-system', applyProfiles({ version: 'v2.0' } as SmcpV2Spec));
  assert.deepEqual(dflt.meshTls, {});
  assert.equal(dflt.pathNormalization, 'MERGE_SLASHES');
});

test('techPreview.meshConfig.proxyHttpPort sets the HTTP proxy port (a number or a numeric string); anything else leaves it off', () => {
  const withPort = (proxyHttpPort: unknown) => meshConfigFromControlPlane('istio-system', applyProfiles({ version: 'v2.0', techPreview: { meshConfig: { proxyHttpPort } } } as unknown as SmcpV2Spec)).proxyHttpPort;
  assert.equal(DEFAULT_MESH_CONFIG.proxyHttpPort, 0);
  assert.equal(meshConfigFromControlPlane('istio-system', applyProfiles({ version: 'v2.0' } as SmcpV2Spec)).proxyHttpPort, 0);
  assert.equal(withPort(15080), 15080);
  assert.equal(withPort('15080'), 15080);
  for (const bad of [70000, -1, 1.5, 'http', '', true]) assert.equal(withPort(bad), 0, JSON.stringify(bad));
});
