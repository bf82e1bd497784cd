// MLT0105 / MLT0106: ServiceMeshMemberRoll membership conflicts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyze } from '../../../src/model/analysis/index.js';
import { created, memberRoll, summary } from '../../helpers/resources.js';

test('member-rolls: reports a namespace listed by two member rolls on the newer roll', () => {
  const msgs = analyze([created(memberRoll('mesh-b', ['shared', 'team-b']), '2021-02-01T00:00:00Z'), created(memberRoll('mesh-a', ['team-a', 'shared']), '2021-01-01T00:00:00Z')]);
  assert.deepEqual(summary(msgs), ['MLT0105 ServiceMeshMemberRoll mesh-b/default @ spec.members[0]']);
  assert.equal(msgs[0]!.level, 'Error');
  assert.match(msgs[0]!.message, /"shared" is already a member of ServiceMeshMemberRoll mesh-a\/default/);
});

test('member-rolls: warns about a member roll listing its own control-plane namespace', () => {
  const msgs = analyze([memberRoll('istio-system', ['bookinfo', 'istio-system'])]);
  assert.deepEqual(summary(msgs), ['MLT0106 ServiceMeshMemberRoll istio-system/default @ spec.members[1]']);
  assert.equal(msgs[0]!.level, 'Warning');
});

test('member-rolls: disjoint member rolls are quiet', () => {
  assert.deepEqual(summary(analyze([memberRoll('mesh-a', ['team-a']), memberRoll('mesh-b', ['team-b'])])), []);
});
