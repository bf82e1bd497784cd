// MLT0104: more than one ServiceMeshControlPlane in a namespace (OP-03).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyze } from '../../../src/model/analysis/index.js';
import { controlPlane, created, summary } from '../../helpers/resources.js';

test('control-planes: reports the newer of two control planes in one namespace', () => {
  const msgs = analyze([created(controlPlane('production', 'istio-system'), '2021-05-01T00:00:00Z'), created(controlPlane('basic', 'istio-system'), '2021-01-01T00:00:00Z')]);
  assert.deepEqual(summary(msgs), ['MLT0104 ServiceMeshControlPlane istio-system/production @ metadata.name']);
  assert.equal(msgs[0]!.level, 'Error');
  assert.match(msgs[0]!.message, /already has ServiceMeshControlPlane basic/);
});

test('control-planes: one control plane per namespace is quiet', () => {
  assert.deepEqual(summary(analyze([controlPlane('basic', 'istio-system'), controlPlane('basic', 'mesh-b')])), []);
});
