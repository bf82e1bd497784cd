// PushContext.mergedGateway(): Gateways selecting a router, merged per port; host conflicts resolved oldest-first (MAISTRA-158).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyFile, applyYaml, BOOKINFO_NAMESPACE, bookinfoMesh, proxy, pushOf, tickingStore } from '../helpers/bookinfo-mesh.js';

const ingress = (labels: Record<string, string> = { istio: 'ingressgateway', app: 'istio-ingressgateway' }) => proxy('istio-system', labels, { type: 'router' });

interface Server {
  port: number;
  hosts: string[];
  protocol?: string;
  name?: string;
}

function gateway(name: string, ns: string, selector: Record<string, string> | undefined, servers: Server[], ts = ''): string {
  const body = {
    apiVersion: 'networking.istio.io/v1beta1',
    kind: 'Gateway',
    metadata: { name, namespace: ns, ...(ts ? { creationTimestamp: ts } : {}) },
    spec: {
      ...(selector ? { selector } : {}),
      servers: servers.map((s, i) => {
        const protocol = s.protocol ?? 'HTTP';
        return {
          port: { number: s.port, name: s.name ?? `${protocol.toLowerCase()}-${s.port}-${i}`, protocol },
          hosts: s.hosts,
          ...(protocol === 'HTTPS' ? { tls: { mode: 'SIMPLE', credentialName: `${name}-cert` } } : protocol === 'TLS' ? { tls: { mode: 'PASSTHROUGH' } } : {}),
        };
      }),
    },
  };
  return JSON.stringify(body);
}

test('Bookinfo: the ingress gateway proxy gets bookinfo-gateway (any namespace); sidecars and other routers get none', () => {
  const { store } = bookinfoMesh();
  applyFile(store, 'examples/bookinfo/networking/bookinfo-gateway.yaml', BOOKINFO_NAMESPACE);
  const push = pushOf(store);
  const merged = push.mergedGateway(ingress());
  assert.ok(merged);
  assert.deepEqual(merged.gateways, ['bookinfo/bookinfo-gateway']);
  assert.deepEqual([...merged.serversByPort.keys()], [80]);
  const [s] = merged.serversByPort.get(80)!;
  assert.equal(s!.gateway.name, 'bookinfo-gateway');
  assert.equal(s!.index, 0);
  assert.deepEqual(s!.server.hosts, ['*']);
  assert.deepEqual(merged.conflicts, []);
  assert.equal(push.mergedGateway(ingress({ istio: 'egressgateway' })), undefined);
  assert.equal(push.mergedGateway(proxy('istio-system', { istio: 'ingressgateway' })), undefined, 'a sidecar is not a gateway');
});

test('servers of several Gateways group by port; namespace prefixes are normalised as Istio does', () => {
  const store = tickingStore();
  applyYaml(
    store,
    [
      gateway('web', 'shop', { istio: 'ingressgateway' }, [
        { port: 80, hosts: ['./shop.example.com', '*/www.example.com'] },
        { port: 443, hosts: ['shop/shop.example.com'], protocol: 'HTTPS' },
      ]),
      gateway('api', 'api', { istio: 'ingressgateway' }, [
        { port: 80, hosts: ['api.example.com'] },
        { port: 443, hosts: ['api.example.com'], protocol: 'HTTPS' },
        { port: 8443, hosts: ['*/*'], protocol: 'TLS' },
      ]),
      gateway('no-selector', 'edge', undefined, [{ port: 9000, hosts: ['edge.example.com'], protocol: 'TCP' }]),
    ].join('\n---\n'),
  );
  const merged = pushOf(store).mergedGateway(ingress())!;
  assert.deepEqual(merged.gateways, ['shop/web', 'api/api', 'edge/no-selector'], 'oldest first');
  assert.deepEqual([...merged.serversByPort.keys()], [80, 443, 8443, 9000]);
  assert.deepEqual(
    merged.serversByPort.get(80)!.map((s) => [s.gateway.name, s.server.hosts]),
    [
      ['web', ['shop/shop.example.com', 'www.example.com']],
      ['api', ['api.example.com']],
    ],
  );
  assert.deepEqual(
    merged.serversByPort.get(443)!.map((s) => [s.gateway.name, s.index]),
    [
      ['web', 1],
      ['api', 1],
    ],
  );
  assert.deepEqual(merged.serversByPort.get(8443)![0]!.server.hosts, ['*']);
  assert.deepEqual(merged.conflicts, []);
});

test('two Gateways claiming one host on one port: the older keeps it, the newer loses only that host (MAISTRA-158)', () => {
  const store = tickingStore();
  applyYaml(
    store,
    [
      gateway('team-b', 'b', { istio: 'ingressgateway' }, [{ port: 443, hosts: ['shop.example.com', 'b.example.com'], protocol: 'HTTPS' }, { port: 80, hosts: ['b.example.com'] }], '2024-02-01T00:00:00Z'),
      gateway('team-a', 'a', { istio: 'ingressgateway' }, [{ port: 443, hosts: ['a/shop.example.com'], protocol: 'HTTPS' }], '2024-01-01T00:00:00Z'),
    ].join('\n---\n'),
  );
  const push = pushOf(store);
  const merged = push.mergedGateway(ingress())!;
  assert.deepEqual(
    merged.serversByPort.get(443)!.map((s) => [`${s.gateway.namespace}/${s.gateway.name}`, s.server.hosts]),
    [
      ['a/team-a', ['a/shop.example.com']],
      ['b/team-b', ['b.example.com']],
    ],
  );
  assert.deepEqual(
    merged.serversByPort.get(80)!.map((s) => s.gateway.name),
    ['team-b'],
    'the rest of the newer Gateway still works',
  );
  assert.equal(merged.conflicts.length, 1);
  const c = merged.conflicts[0]!;
  assert.deepEqual([c.port, c.host, c.winner.name, c.loser.name], [443, 'shop.example.com', 'team-a', 'team-b']);
  assert.equal(push.messages.length, 1);
  assert.match(push.messages[0]!.resource, /Gateway b\/team-b/);
  assert.match(push.messages[0]!.message, /shop\.example\.com.*443.*a\/team-a/);
});

test('a newer Gateway whose only TLS host conflicts contributes no server on that port', () => {
  const store = tickingStore();
  applyYaml(
    store,
    [gateway('first', 'x', { istio: 'ingressgateway' }, [{ port: 443, hosts: ['shop.example.com'], protocol: 'HTTPS' }], '2024-01-01T00:00:00Z'), gateway('second', 'y', { istio: 'ingressgateway' }, [{ port: 443, hosts: ['shop.example.com'], protocol: 'HTTPS' }], '2024-01-02T00:00:00Z')].join('\n---\n'),
  );
  const merged = pushOf(store).mergedGateway(ingress())!;
  assert.deepEqual(
    merged.serversByPort.get(443)!.map((s) => s.gateway.name),
    ['first'],
  );
  assert.deepEqual(merged.gateways, ['x/first', 'y/second']);
});

test('plaintext HTTP servers of two Gateways on one host and port merge, as Istio shares one route configuration', () => {
  const store = tickingStore();
  applyYaml(
    store,
    [gateway('bookinfo', 'x', { istio: 'ingressgateway' }, [{ port: 80, hosts: ['*'] }], '2024-01-01T00:00:00Z'), gateway('httpbin', 'y', { istio: 'ingressgateway' }, [{ port: 80, hosts: ['*'] }], '2024-01-02T00:00:00Z')].join('\n---\n'),
  );
  const merged = pushOf(store).mergedGateway(ingress())!;
  assert.deepEqual(merged.serversByPort.get(80)!.map((s) => s.gateway.name), ['bookinfo', 'httpbin']);
  assert.deepEqual(merged.conflicts, []);
});

test('equal creation times: name.namespace decides which Gateway is older', () => {
  const store = tickingStore();
  const ts = '2024-01-01T00:00:00Z';
  applyYaml(store, [gateway('zeta', 'a', { istio: 'ingressgateway' }, [{ port: 443, hosts: ['x.example.com'], protocol: 'HTTPS' }], ts), gateway('alpha', 'z', { istio: 'ingressgateway' }, [{ port: 443, hosts: ['x.example.com'], protocol: 'HTTPS' }], ts)].join('\n---\n'));
  const merged = pushOf(store).mergedGateway(ingress())!;
  assert.equal(merged.conflicts[0]!.winner.name, 'alpha');
});

test('no conflict across ports, or between Gateways that select different proxies', () => {
  const store = tickingStore();
  applyYaml(
    store,
    [
      gateway('in', 'x', { istio: 'ingressgateway' }, [{ port: 80, hosts: ['x.example.com'] }]),
      gateway('in-8080', 'x', { istio: 'ingressgateway' }, [{ port: 8080, hosts: ['x.example.com'] }]),
      gateway('eg', 'x', { istio: 'egressgateway' }, [{ port: 80, hosts: ['x.example.com'] }]),
    ].join('\n---\n'),
  );
  const push = pushOf(store);
  assert.deepEqual(push.mergedGateway(ingress())!.conflicts, []);
  assert.deepEqual(push.mergedGateway(ingress({ istio: 'egressgateway' }))!.gateways, ['x/eg']);
  assert.equal(push.messages.length, 0);
});

test('a server that cannot share its port (TCP after HTTP, plaintext after TLS) is skipped with a message', () => {
  const store = tickingStore();
  applyYaml(
    store,
    [
      gateway('web', 'x', { istio: 'ingressgateway' }, [{ port: 80, hosts: ['web.example.com'] }, { port: 443, hosts: ['web.example.com'], protocol: 'HTTPS' }]),
      gateway('raw', 'y', { istio: 'ingressgateway' }, [
        { port: 80, hosts: ['raw.example.com'], protocol: 'TCP' },
        { port: 443, hosts: ['raw.example.com'], protocol: 'HTTP' },
        { port: 80, hosts: ['h2.example.com'], protocol: 'HTTP2' },
      ]),
    ].join('\n---\n'),
  );
  const push = pushOf(store);
  const merged = push.mergedGateway(ingress())!;
  assert.deepEqual(
    merged.serversByPort.get(80)!.map((s) => [s.gateway.name, s.server.port?.protocol]),
    [
      ['web', 'HTTP'],
      ['raw', 'HTTP2'],
    ],
    'HTTP and HTTP2 share one HTTP listener',
  );
  assert.deepEqual(
    merged.serversByPort.get(443)!.map((s) => s.gateway.name),
    ['web'],
  );
  assert.equal(push.messages.length, 2);
  assert.ok(push.messages.every((m) => m.resource === 'Gateway y/raw'));
});

test('merged gateways are cached per label set and frozen', () => {
  const { store } = bookinfoMesh();
  applyFile(store, 'examples/bookinfo/networking/bookinfo-gateway.yaml', BOOKINFO_NAMESPACE);
  const push = pushOf(store);
  const a = push.mergedGateway(ingress())!;
  const b = push.mergedGateway(proxy('istio-system', { app: 'istio-ingressgateway', istio: 'ingressgateway' }, { type: 'router', ip: '10.0.0.2' }))!;
  assert.equal(a, b);
  assert.ok(Object.isFrozen(a) && Object.isFrozen(a.serversByPort.get(80)) && Object.isFrozen(a.serversByPort.get(80)![0]!.server));
});
