// Test helper: a `meltemi up` mesh in loopback mode (no root, nothing on the host changed) on free ports, stopped and its run directory removed after the test.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { startLocalMesh, type LaunchedMesh } from '../../src/runtime/launch.js';
import { freePort, until } from '../proxy/http-mesh.js';

/** Every host port a local mesh binds, each a free one. */
export async function freeHostPorts(): Promise<{ xds: number; ca: number; debug: number; gatewayAdmin: number; gatewayHealth: number; gatewayStats: number; gatewayMerged: number }> {
  return { xds: await freePort(), ca: await freePort(), debug: await freePort(), gatewayAdmin: await freePort(), gatewayHealth: await freePort(), gatewayStats: await freePort(), gatewayMerged: await freePort() };
}

/** A fresh run directory, removed after the test (after the mesh stops). */
export function runDirFor(t: TestContext, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Starts a loopback mesh from `paths` in `runDir` and waits until every pod is ready; it is stopped after the test. */
export async function loopbackMesh(t: TestContext, paths: string[], runDir: string, log: (line: string) => void = () => undefined): Promise<LaunchedMesh> {
  const mesh = await startLocalMesh({ paths, runDir, ingressPort: await freePort(), bridge: 'unused', subnet: '10.255.253.0/24', hostPorts: await freeHostPorts(), mode: 'loopback', log });
  t.after(() => mesh.stop().catch(() => undefined));
  await until('every pod ready', () => mesh.ready, 60_000);
  return mesh;
}
