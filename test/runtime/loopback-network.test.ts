// Loopback mode's pod addresses are the host's: two meshes never get the same pod number, and a crashed mesh's claims are taken over.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoopbackNetworks } from '../../src/runtime/loopback-network.js';

test('two loopback meshes on one host get different pod addresses; released and dead claims are reused; close releases everything', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'meltemi-loopback-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const a = new LoopbackNetworks(dir);
  const b = new LoopbackNetworks(dir);
  await a.prepare();
  await b.prepare();
  assert.equal((await a.add({ uid: 'a1' })).ip, '127.77.0.1');
  assert.equal((await b.add({ uid: 'b1' })).ip, '127.77.0.2', 'the first mesh holds 1');
  assert.equal((await a.add({ uid: 'a2' })).ip, '127.77.0.3');
  await a.remove({ uid: 'a1' });
  assert.equal((await b.add({ uid: 'b2' })).ip, '127.77.0.1', 'a released number is free again');
  // A claim left by a process that no longer runs (a crashed mesh) is taken over; a live one is not.
  writeFileSync(join(dir, '4'), '999999999\n');
  writeFileSync(join(dir, '5'), `${process.ppid}\n`);
  assert.equal((await a.add({ uid: 'a3' })).ip, '127.77.0.4');
  assert.equal((await a.add({ uid: 'a4' })).ip, '127.77.0.6', 'number 5 belongs to a live process');
  await a.close();
  await b.close();
  assert.deepEqual(readdirSync(dir).sort(), ['5'], 'only the foreign live claim is left');
  assert.equal(existsSync(join(dir, '1')), false);
});
