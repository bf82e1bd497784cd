// MLT0107: two ServiceEntries of one namespace declaring the same host; the newer one is not served.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyze } from '../../../src/model/analysis/index.js';
import { serviceEntry, summary } from '../../helpers/resources.js';

function created(r: ReturnType<typeof serviceEntry>, ts: string): ReturnType<typeof serviceEntry> {
  return { ...r, metadata: { ...r.metadata, creationTimestamp: ts } };
}

test('service-entry-hosts: the newer of two ServiceEntries of one namespace for one host is reported on that host', () => {
  const msgs = analyze([
    created(serviceEntry('api-b', 'team', ['www.example.com', 'api.example.com'], [443]), '2026-01-02T00:00:00Z'),
    created(serviceEntry('api-a', 'team', ['api.example.com'], [443]), '2026-01-01T00:00:00Z'),
  ]);
  assert.deepEqual(summary(msgs), ['MLT0107 ServiceEntry team/api-b @ spec.hosts[1]']);
  assert.equal(msgs[0]!.level, 'Warning');
  assert.match(msgs[0]!.message, /host "api\.example\.com" is already declared by ServiceEntry team\/api-a/);
});

test('service-entry-hosts: entries of different namespaces are separate services and are quiet', () => {
  assert.deepEqual(
    summary(
      analyze([
        created(serviceEntry('api', 'team-b', ['api.example.com'], [443], { exportTo: ['.'] }), '2026-01-02T00:00:00Z'),
        created(serviceEntry('api', 'team-a', ['api.example.com'], [443], { exportTo: ['.'] }), '2026-01-01T00:00:00Z'),
      ]),
    ),
    [],
  );
});

test('service-entry-hosts: without timestamps the name decides, as the registry does; wildcards count; distinct hosts are quiet', () => {
  assert.deepEqual(summary(analyze([serviceEntry('b', 'ns', ['x.example.com']), serviceEntry('a', 'ns', ['x.example.com'])])), ['MLT0107 ServiceEntry ns/b @ spec.hosts[0]']);
  assert.deepEqual(summary(analyze([serviceEntry('w2', 'ns', ['*.example.com']), serviceEntry('w1', 'ns', ['*.example.com'])])), ['MLT0107 ServiceEntry ns/w2 @ spec.hosts[0]']);
  assert.deepEqual(summary(analyze([serviceEntry('a', 'ns', ['x.example.com']), serviceEntry('b', 'ns', ['y.example.com']), serviceEntry('w1', 'ns', ['*.example.com']), serviceEntry('w2', 'other', ['*.example.com'])])), []);
});
