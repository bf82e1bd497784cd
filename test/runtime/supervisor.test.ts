// The container supervisor: readiness from the probe, restarts with backoff after an exit, logs appended to the container's file, stop by PID.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SupervisedContainer, type ContainerStatus } from '../../src/runtime/supervisor.js';
import { freePort, until } from '../proxy/http-mesh.js';


test('a container is ready when its HTTP probe passes, and stopping it ends the process', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'meltemi-sup-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const script = `require('http').createServer((q, s) => s.end(q.url)).listen(${port}, '127.0.0.1', () => console.log('listening'));`;
  const states: ContainerStatus['state'][] = [];
  const c = new SupervisedContainer(
    {
      id: 'default/web/app',
      argv: [process.execPath, '-e', script],
      env: {},
      cwd: dir,
      logFile: join(dir, 'app.log'),
      readiness: { kind: 'http', host: '127.0.0.1', port, path: '/health', periodMs: 50, timeoutMs: 500, initialDelayMs: 0, failureThreshold: 1, successThreshold: 1 },
    },
    (s) => states.push(s.state),
  );
  t.after(() => c.stop(500));
  c.start();
  assert.equal(c.current.state, 'running', 'not ready before the probe passes');
  await until('ready', () => c.current.state === 'ready');
  const pid = c.current.pid!;
  await c.stop(2000);
  assert.throws(() => process.kill(pid, 0), 'the process is gone');
  assert.equal(c.current.state, 'stopped');
  assert.deepEqual(states, ['running', 'ready', 'stopped']);
  assert.match(readFileSync(join(dir, 'app.log'), 'utf8'), /listening/);
});

test('a container that exits is started again, counting restarts, and keeps its log across runs', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'meltemi-sup-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const c = new SupervisedContainer({ id: 'default/crash/app', argv: [process.execPath, '-e', "console.log('run'); process.exit(3)"], env: {}, cwd: dir, logFile: join(dir, 'app.log') });
  t.after(() => c.stop(500));
  c.start();
  await until('a restart', () => c.current.restarts >= 1 && c.current.state !== 'backoff', 10_000);
  assert.equal(c.current.lastExit, 'exit 3');
  await until('two runs logged', () => readFileSync(join(dir, 'app.log'), 'utf8').split('run').length - 1 >= 2, 10_000);
});

test('a process that ignores SIGTERM is killed after the grace period', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'meltemi-sup-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const c = new SupervisedContainer({ id: 'default/stubborn/app', argv: [process.execPath, '-e', "process.on('SIGTERM', () => console.log('ignored')); setInterval(() => {}, 1000); console.log('up')"], env: {}, cwd: dir, logFile: join(dir, 'app.log') });
  c.start();
  await until('started', () => readFileSync(join(dir, 'app.log'), 'utf8').includes('up'));
  const pid = c.current.pid!;
  await c.stop(300);
  assert.throws(() => process.kill(pid, 0));
  assert.match(readFileSync(join(dir, 'app.log'), 'utf8'), /ignored/);
});

test('an exec probe runs its command as the container runs (directory, environment): ready while it exits 0, not ready once it fails or hangs past its timeout', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'meltemi-sup-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const flag = join(dir, 'ready');
  const c = new SupervisedContainer({
    id: 'default/worker/app',
    argv: [process.execPath, '-e', 'setInterval(() => {}, 1000)'],
    // Relative: found only when the probe runs in the container's directory with its environment.
    env: { PROBE_FLAG: './ready' },
    cwd: dir,
    logFile: join(dir, 'app.log'),
    // Passes while the file says ok; with "hang" in it, sleeps past the timeout.
    readiness: { kind: 'exec', command: ['sh', '-c', 'case "$(cat "$PROBE_FLAG" 2>/dev/null)" in ok) exit 0;; hang) sleep 5;; esac; exit 1'], periodMs: 50, timeoutMs: 300, initialDelayMs: 0, failureThreshold: 1, successThreshold: 1 },
  });
  t.after(() => c.stop(500));
  c.start();
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(c.current.state, 'running', 'not ready while the command fails');
  writeFileSync(flag, 'ok');
  await until('ready', () => c.current.state === 'ready');
  writeFileSync(flag, 'hang');
  await until('not ready after a timed-out probe', () => c.current.state === 'running');
  rmSync(flag);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(c.current.state, 'running');
});

test('a container failing its liveness probe failureThreshold times in a row is killed and started again; its readiness is unaffected by the liveness probe', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'meltemi-sup-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  // Healthy for its first 3 liveness checks, then /live answers 500 (a wedged app that still serves).
  const script = `let n = 0; require('http').createServer((q, s) => { if (q.url === '/live') { n++; s.statusCode = n > 3 ? 500 : 200; } s.end('x'); }).listen(${port}, '127.0.0.1', () => console.log('started'));`;
  const c = new SupervisedContainer({
    id: 'default/wedged/app',
    argv: [process.execPath, '-e', script],
    env: {},
    cwd: dir,
    logFile: join(dir, 'app.log'),
    readiness: { kind: 'http', host: '127.0.0.1', port, path: '/ready', periodMs: 50, timeoutMs: 500, initialDelayMs: 0, failureThreshold: 1, successThreshold: 1 },
    liveness: { kind: 'http', host: '127.0.0.1', port, path: '/live', periodMs: 50, timeoutMs: 500, initialDelayMs: 100, failureThreshold: 2, successThreshold: 1 },
  });
  t.after(() => c.stop(500));
  c.start();
  await until('ready', () => c.current.state === 'ready');
  const firstPid = c.current.pid!;
  await until('restarted after failing its liveness probe', () => c.current.restarts >= 1, 20_000);
  assert.equal(c.livenessKills >= 1, true);
  assert.match(c.current.lastExit ?? '', /^liveness probe failed \(signal SIGTERM\)$/);
  await until('ready again', () => c.current.state === 'ready' && c.current.pid !== firstPid, 20_000);
  assert.ok((readFileSync(join(dir, 'app.log'), 'utf8').match(/started/g)?.length ?? 0) >= 2, 'a second run logged to the same file');
});
