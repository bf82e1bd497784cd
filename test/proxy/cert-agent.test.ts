// WorkloadCertAgent against a real CaServer (and a scripted fake CA for bad answers), stepped with a manual clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { generateRootCa, type CaBundle } from '../../src/ca/ca-bundle.js';
import { CaServer, caServerCredentials } from '../../src/ca/ca-server.js';
import { istioCaServiceDefinition, type IstioCertificateRequest, type IstioCertificateResponse } from '../../src/ca/ca-service.js';
import { LocalTokenAuthenticator, newTokenKey } from '../../src/ca/caller-auth.js';
import { x509 } from '../../src/ca/pki.js';
import { MAX_WORKLOAD_TTL_MS, signServerCsr, signWorkloadCsr } from '../../src/ca/sign.js';
import { WorkloadCertAgent, type AgentTimers, type WorkloadCertAgentOptions } from '../../src/proxy/security/cert-agent.js';
import { ROOT_BUNDLE, SecretStore, WORKLOAD_CERTIFICATE } from '../../src/proxy/security/secret-store.js';
import type { Logger } from '../../src/shared/logger.js';
import { workloadCsr } from '../ca/csr.js';

const trustDomain = 'cluster.local';
const SERVER_NAME = 'istiod.istio-system.svc';
const foo = { namespace: 'foo', serviceAccount: 'a' };
const FOO_ID = 'spiffe://cluster.local/ns/foo/sa/a';
const HOUR = 3600_000;
const DAY = 24 * HOUR;

const rootA = generateRootCa({ trustDomain, keyType: 'ecP256' });
const rootB = generateRootCa({ trustDomain, keyType: 'ecP256' });
const tokens = new LocalTokenAuthenticator({ key: newTokenKey(), trustDomain });
const strangers = new LocalTokenAuthenticator({ key: newTokenKey(), trustDomain });

interface PendingTimer {
  ms: number;
  fire(): void;
}

/** The agent's timers, fired by the test. The agent holds at most one at a time. */
class ManualTimers implements AgentTimers {
  private readonly pending = new Map<number, PendingTimer>();
  private waiters: ((t: PendingTimer) => void)[] = [];
  private nextId = 1;

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    const timer: PendingTimer = {
      ms,
      fire: () => {
        assert.ok(this.pending.delete(id), 'fired a timer that is no longer pending');
        fn();
      },
    };
    this.pending.set(id, timer);
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w(timer);
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }

  get size(): number {
    return this.pending.size;
  }

  /** The pending timer, as soon as there is one (an attempt has ended when the agent sets its next timer). */
  next(): Promise<PendingTimer> {
    assert.ok(this.pending.size <= 1, 'the agent holds one timer at a time');
    const [t] = this.pending.values();
    return t !== undefined ? Promise.resolve(t) : new Promise((resolve) => this.waiters.push(resolve));
  }
}

interface LogLine {
  level: 'info' | 'warn' | 'error';
  message: string;
  fields: Record<string, unknown>;
}

function captureLogger(): { logger: Logger; lines: LogLine[]; text: () => string } {
  const lines: LogLine[] = [];
  const add = (level: LogLine['level']) => (message: string, fields: Record<string, unknown> = {}) => void lines.push({ level, message, fields });
  return { logger: { info: add('info'), warn: add('warn'), error: add('error') }, lines, text: () => lines.map((l) => `${l.level} ${l.message} ${JSON.stringify(l.fields)}`).join('\n') };
}

interface Rig {
  port: number;
  bundle: CaBundle;
  store: SecretStore;
  timers: ManualTimers;
  log: ReturnType<typeof captureLogger>;
  /** An agent for the rig's CA; closed when the test body ends. */
  agent(overrides?: Partial<WorkloadCertAgentOptions>): WorkloadCertAgent;
}

/** Runs `body` with a real CaServer over TLS on 127.0.0.1 (root A, maximum TTL 90 days); everything is closed afterwards. */
async function withCa(body: (rig: Rig) => Promise<void>): Promise<void> {
  const bundle = await rootA;
  const server = new CaServer({ bundle, authenticator: tokens, trustDomain, maxTtlMs: MAX_WORKLOAD_TTL_MS, logger: captureLogger().logger });
  const agents: WorkloadCertAgent[] = [];
  try {
    const port = await server.start('127.0.0.1:0', await caServerCredentials(bundle, [SERVER_NAME]));
    await body(rigFor(port, bundle, agents));
  } finally {
    await Promise.all(agents.map((a) => a.close()));
    await server.close();
  }
}

function rigFor(port: number, bundle: CaBundle, agents: WorkloadCertAgent[]): Rig {
  const store = new SecretStore();
  const timers = new ManualTimers();
  const log = captureLogger();
  return {
    port,
    bundle,
    store,
    timers,
    log,
    agent: (overrides = {}) => {
      const agent = new WorkloadCertAgent({
        caAddress: `127.0.0.1:${port}`,
        caRoots: () => Promise.resolve(bundle.rootCertPem),
        token: () => Promise.resolve(tokens.issueToken(foo, 60_000)),
        store,
        timers,
        random: () => 0.5,
        logger: log.logger,
        ...overrides,
      });
      agents.push(agent);
      return agent;
    },
  };
}

function leafOf(store: SecretStore): X509Certificate {
  const secret = store.certificate(WORKLOAD_CERTIFICATE);
  assert.ok(secret, 'default is stored');
  return new X509Certificate(secret.certificateChain);
}

function certsIn(pem: string): X509Certificate[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((b) => new X509Certificate(b));
}

test('the first certificate carries the token identity with our key; ROOTCA holds the root; renewal is due at half life less jitter', { timeout: 30_000 }, async () => {
  await withCa(async ({ store, timers, bundle, agent }) => {
    const clock = Date.now();
    const a = agent({ requestedTtlMs: HOUR, now: () => clock });
    assert.equal(store.has(WORKLOAD_CERTIFICATE, ROOT_BUNDLE), false);
    await a.start();
    assert.equal(store.has(WORKLOAD_CERTIFICATE, ROOT_BUNDLE), true);

    const secret = store.certificate(WORKLOAD_CERTIFICATE)!;
    const chain = certsIn(secret.certificateChain);
    assert.equal(chain.length, 1, 'leaf only: the self-signed root is not presented');
    const leaf = chain[0]!;
    assert.equal(leaf.subjectAltName, `URI:${FOO_ID}`);
    assert.equal(leaf.checkPrivateKey(createPrivateKey(secret.privateKey)), true);
    assert.match(secret.privateKey, /^-----BEGIN PRIVATE KEY-----\n/, 'PKCS#8');
    assert.equal(createPrivateKey(secret.privateKey).asymmetricKeyDetails?.namedCurve, 'prime256v1');

    const trusted = certsIn(store.validation(ROOT_BUNDLE)!.trustedCa);
    assert.deepEqual(trusted.map((c) => c.fingerprint256), [new X509Certificate(bundle.rootCertPem).fingerprint256]);

    const notBefore = Date.parse(leaf.validFrom);
    const notAfter = Date.parse(leaf.validTo);
    const lifetime = notAfter - notBefore;
    assert.ok(lifetime > HOUR, 'the requested TTL reached the CA (plus its clock-skew backdating)');
    assert.ok(lifetime < HOUR + 10 * 60_000);
    assert.equal(a.identity, FOO_ID);
    assert.equal(a.expiresAt, notAfter);
    assert.equal(a.issued, 1);
    assert.equal(a.failures, 0);

    // Half the lifetime counted from arrival (not from the backdated notBefore), less jitter.
    const fromArrival = notAfter - clock;
    const renewAt = Math.floor(clock + 0.5 * fromArrival - 0.5 * 0.1 * fromArrival);
    assert.equal(a.nextRenewalAt, renewAt);
    const timer = await timers.next();
    assert.equal(timer.ms, renewAt - clock);
  });
});

test('renewal installs a new key and serial under default; ROOTCA is left alone when unchanged', { timeout: 30_000 }, async () => {
  await withCa(async ({ store, timers, agent }) => {
    const a = agent({ requestedTtlMs: HOUR });
    await a.start();
    const first = store.certificate(WORKLOAD_CERTIFICATE)!;
    const firstSerial = leafOf(store).serialNumber;
    const version = store.version;
    const changed: string[] = [];
    store.watch((name) => changed.push(name));

    (await timers.next()).fire();
    const renewal = await timers.next();
    assert.ok(renewal.ms > 20 * 60_000, 'the next timer is a renewal, not a retry');
    const second = store.certificate(WORKLOAD_CERTIFICATE)!;
    assert.notEqual(leafOf(store).serialNumber, firstSerial);
    assert.notEqual(second.privateKey, first.privateKey, 'a fresh key for each certificate');
    assert.equal(leafOf(store).checkPrivateKey(createPrivateKey(second.privateKey)), true);
    assert.deepEqual(changed, [WORKLOAD_CERTIFICATE]);
    assert.equal(store.version, version + 1);
    assert.equal(a.issued, 2);
    assert.equal(a.identity, FOO_ID);
  });
});

test('rsa2048 keys are RSA 2048 and the CA signs them', { timeout: 30_000 }, async () => {
  await withCa(async ({ store, agent }) => {
    await agent({ keyType: 'rsa2048' }).start();
    const key = createPrivateKey(store.certificate(WORKLOAD_CERTIFICATE)!.privateKey);
    assert.equal(key.asymmetricKeyType, 'rsa');
    assert.equal(key.asymmetricKeyDetails?.modulusLength, 2048);
    assert.equal(leafOf(store).checkPrivateKey(key), true);
  });
});

test('a refused token is retried with growing backoff and logged, nothing stored; a good token then works and the backoff resets', { timeout: 30_000 }, async () => {
  await withCa(async ({ store, timers, log, agent }) => {
    let good = false;
    let reads = 0;
    const badToken = strangers.issueToken(foo, 60_000);
    const a = agent({
      random: () => 0.99,
      token: () => {
        reads++;
        return Promise.resolve(good ? tokens.issueToken(foo, 60_000) : `${badToken}\n`);
      },
    });
    let started = false;
    const starting = a.start().then(() => (started = true));

    const delays: number[] = [];
    for (let i = 1; i <= 3; i++) {
      const retry = await timers.next();
      delays.push(retry.ms);
      assert.equal(a.failures, i);
      assert.equal(store.version, 0, 'nothing stored');
      assert.equal(started, false);
      if (i < 3) retry.fire();
    }
    assert.deepEqual(delays, [990, 1980, 3960], 'full jitter under a ceiling doubling from 1 s');
    assert.equal(reads, 3, 'the token is read again for each request');
    assert.match(log.text(), /warn workload certificate request failed .*UNAUTHENTICATED/);
    assert.equal(log.text().includes(badToken), false, 'the token is never logged');

    good = true;
    (await timers.next()).fire();
    await starting;
    assert.equal(a.issued, 1);
    assert.equal(a.failures, 3);
    const version = store.version;

    // A failed renewal keeps the certificate in place and starts the backoff from its base again.
    good = false;
    (await timers.next()).fire();
    const retry = await timers.next();
    assert.equal(retry.ms, 990);
    assert.equal(a.failures, 4);
    assert.equal(store.version, version, 'the last good certificate stays');
  });
});

test('close() before the first certificate rejects start() and stops retrying; close() mid-request stores nothing', { timeout: 30_000 }, async () => {
  await withCa(async ({ store, timers, agent }) => {
    let reads = 0;
    const a = agent({ token: () => (reads++, Promise.resolve(strangers.issueToken(foo, 60_000))) });
    const refused = assert.rejects(a.start(), /closed before a certificate was issued/);
    await timers.next();
    await a.close();
    await refused;
    assert.equal(timers.size, 0, 'no retry pending');
    assert.equal(reads, 1);
    await assert.rejects(a.start(), /closed/);

    // Closed while the token is being read: the request is never sent and nothing is stored.
    let releaseToken!: (t: string) => void;
    const b = agent({ token: () => new Promise((resolve) => (releaseToken = resolve)) });
    const refusedB = assert.rejects(b.start(), /closed/); // the token is requested at once
    const closing = b.close();
    releaseToken(tokens.issueToken(foo, 60_000));
    await closing;
    await refusedB;
    assert.equal(b.issued, 0);
    assert.equal(b.failures, 0, 'a cancelled attempt is not a failure');
    assert.equal(store.version, 0);
    assert.equal(timers.size, 0);
  });
});

test('close() after the first certificate clears the renewal timer and keeps the secrets', { timeout: 30_000 }, async () => {
  await withCa(async ({ store, timers, agent }) => {
    const a = agent();
    await a.start();
    assert.equal(timers.size, 1);
    await a.close();
    assert.equal(timers.size, 0);
    assert.equal(a.nextRenewalAt, undefined);
    assert.equal(store.has(WORKLOAD_CERTIFICATE, ROOT_BUNDLE), true);
  });
});

test('CA roots are read per connection: a wrong root fails TLS, the rotated file works; ROOTCA is the union, each root once', { timeout: 30_000 }, async () => {
  await withCa(async ({ store, timers, log, bundle, agent }) => {
    const other = await rootB;
    let roots = other.rootCertPem;
    const a = agent({ caRoots: () => Promise.resolve(roots) });
    const starting = a.start();
    await timers.next(); // the first attempt failed: the CA's certificate does not verify against root B
    assert.equal(a.failures, 1);
    assert.match(log.text(), /UNAVAILABLE/);
    roots = `${other.rootCertPem}${bundle.rootCertPem}\n${bundle.rootCertPem}`;
    (await timers.next()).fire();
    await starting;
    const trusted = certsIn(store.validation(ROOT_BUNDLE)!.trustedCa).map((c) => c.fingerprint256);
    const fp = (pem: string) => new X509Certificate(pem).fingerprint256;
    assert.deepEqual(trusted, [fp(other.rootCertPem), fp(bundle.rootCertPem)]);
  });
});

test('a renewal due beyond Node’s 24.8-day timer limit is reached in steps', { timeout: 30_000 }, async () => {
  await withCa(async ({ timers, agent }) => {
    const base = Date.now();
    let offset = 0;
    const a = agent({ requestedTtlMs: 60 * DAY, now: () => base + offset });
    await a.start();
    const renewAt = a.nextRenewalAt!;
    assert.ok(renewAt - base > 2 ** 31, 'renewal is about 27 days away');

    const first = await timers.next();
    assert.equal(first.ms, 2 ** 31 - 1);
    first.fire();
    const second = await timers.next();
    assert.equal(second.ms, 2 ** 31 - 1, 'still too far: another step, no request');
    assert.equal(a.issued, 1);

    offset = renewAt - base - 5000;
    second.fire();
    const last = await timers.next();
    assert.equal(last.ms, 5000);
    assert.equal(a.issued, 1);
    last.fire();
    await timers.next();
    assert.equal(a.issued, 2);
  });
});

/** A fake CA over TLS (root A's serving certificate) that answers CreateCertificate with `answer(csr)`. */
async function withFakeCa(body: (rig: Rig, answer: (fn: (csrPem: string) => Promise<string[]>) => void) => Promise<void>): Promise<void> {
  const bundle = await rootA;
  let respond: (csrPem: string) => Promise<string[]> = () => Promise.resolve([]);
  const server = new grpc.Server();
  server.addService(istioCaServiceDefinition(), {
    CreateCertificate: (call: grpc.ServerUnaryCall<IstioCertificateRequest, IstioCertificateResponse>, callback: grpc.sendUnaryData<IstioCertificateResponse>) => {
      respond(call.request.csr).then(
        (chain) => callback(null, { cert_chain: chain }),
        (e: unknown) => callback({ code: grpc.status.INTERNAL, details: String(e) }),
      );
    },
  });
  const agents: WorkloadCertAgent[] = [];
  try {
    const credentials = await caServerCredentials(bundle, [SERVER_NAME]);
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', credentials, (err, p) => (err ? reject(err) : resolve(p))));
    await body(rigFor(port, bundle, agents), (fn) => (respond = fn));
  } finally {
    await Promise.all(agents.map((a) => a.close()));
    server.forceShutdown();
  }
}

/** A certificate for the CSR's key signed by `ca`, with the given CA flag and SANs (for answers Meltemi's CA would never give). */
async function customLeaf(ca: CaBundle, csrPem: string, options: { isCa: boolean; names: x509.JsonGeneralName[] }): Promise<string> {
  const csr = new x509.Pkcs10CertificateRequest(csrPem);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '0102',
    subject: '',
    issuer: ca.caCert.subjectName,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + HOUR),
    publicKey: csr.publicKey,
    signingKey: ca.signer.key,
    signingAlgorithm: ca.signer.algorithm,
    extensions: [new x509.BasicConstraintsExtension(options.isCa, undefined, true), new x509.SubjectAlternativeNameExtension(options.names, true)],
  });
  return `${cert.toString('pem')}\n`;
}

test('answers that are not a usable certificate for our key are refused, logged and retried; a good answer then installs', { timeout: 60_000 }, async () => {
  const longAgo = await generateRootCa({ trustDomain, keyType: 'ecP256', now: new Date(Date.now() - 3 * DAY) });
  await withFakeCa(async ({ store, timers, log, bundle, agent }, answer) => {
    const other = await rootB;
    const sign = (csr: string, ca: CaBundle = bundle) => signWorkloadCsr(ca, csr, { trustDomain, ...foo });
    const uri = (value: string): x509.JsonGeneralName => ({ type: 'url', value });
    const cases: [string, (csr: string) => Promise<string[]>, RegExp][] = [
      ['another key', async () => sign((await workloadCsr()).csrPem), /does not hold the public key of our request/],
      ['an empty chain', () => Promise.resolve([]), /chain is empty/],
      ['not PEM', () => Promise.resolve(['hello']), /element 1 holds 0 PEM certificates/],
      ['two certificates in one element', async (csr) => [(await sign(csr)).join('')], /element 1 holds 2 PEM certificates/],
      ['a DNS name instead of a SPIFFE ID', (csr) => signServerCsr(bundle, csr, ['x.foo.svc']), /exactly one SPIFFE ID/],
      ['two SPIFFE IDs', async (csr) => [await customLeaf(bundle, csr, { isCa: false, names: [uri(FOO_ID), uri('spiffe://cluster.local/ns/bar/sa/b')] }), bundle.rootCertPem], /exactly one SPIFFE ID/],
      ['a SPIFFE ID with a query', async (csr) => [await customLeaf(bundle, csr, { isCa: false, names: [uri(`${FOO_ID}?x=1`)] }), bundle.rootCertPem], /exactly one SPIFFE ID/],
      ['a CA leaf', async (csr) => [await customLeaf(bundle, csr, { isCa: true, names: [uri(FOO_ID)] }), bundle.rootCertPem], /leaf is a CA/],
      ['a chain ending at another root', async (csr) => [(await sign(csr))[0]!, other.rootCertPem], /certificate 1 is not issued and signed by certificate 2/],
      ['a lone leaf from another root', async (csr) => [(await sign(csr, other))[0]!], /neither ends in a self-signed root nor is signed by a configured CA root/],
      ['an expired leaf', (csr) => signWorkloadCsr(longAgo, csr, { trustDomain, ...foo }, { ttlMs: HOUR, now: new Date(Date.now() - 2 * DAY) }), /chain certificate 1 expired/],
    ];
    const a = agent();
    const starting = a.start();
    for (const [i, [name, respond, reason]] of cases.entries()) {
      answer(respond);
      if (i > 0) (await timers.next()).fire();
      await timers.next();
      assert.equal(a.failures, i + 1, name);
      assert.match(log.lines.at(-1)!.fields.error as string, reason, name);
      assert.equal(store.version, 0, `${name}: nothing stored`);
    }
    // A lone leaf signed by a configured root is fine: the chain is anchored, nothing new is trusted.
    answer(async (csr) => [(await sign(csr))[0]!]);
    (await timers.next()).fire();
    await starting;
    assert.equal(a.identity, FOO_ID);
    assert.equal(certsIn(store.validation(ROOT_BUNDLE)!.trustedCa).length, 1);
  });
});

test('close() while the CA has not answered cancels the call at once; nothing is stored', { timeout: 30_000 }, async () => {
  await withFakeCa(async ({ store, timers, agent }, answer) => {
    let received!: () => void;
    const requestReceived = new Promise<void>((resolve) => (received = resolve));
    answer(() => {
      received();
      return new Promise<string[]>(() => undefined); // never answers
    });
    // A deadline far beyond the test's own timeout: only cancellation can end the call in time.
    const a = agent({ requestTimeoutMs: 10 * 60_000 });
    const refused = assert.rejects(a.start(), /closed/);
    await requestReceived;
    await a.close();
    await refused;
    assert.equal(a.failures, 0);
    assert.equal(store.version, 0);
    assert.equal(timers.size, 0);
  });
});

test('importing the agent does not load @peculiar/x509 (and the check catches a module that does)', { timeout: 60_000 }, () => {
  // A resolve hook that throws on @peculiar or reflect-metadata makes any such import fail the child.
  const hook = `export async function resolve(specifier, context, next) {
    const r = await next(specifier, context);
    if (r.url.includes('/@peculiar/') || r.url.includes('/reflect-metadata/')) throw new Error('loaded ' + r.url + ' from ' + context.parentURL);
    return r;
  }`;
  const script = `import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}));
await import(process.env.TARGET);
console.log('imported');`;
  const run = (file: string) =>
    spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: new URL('../..', import.meta.url),
      env: { ...process.env, TARGET: pathToFileURL(new URL(`../../${file}`, import.meta.url).pathname).href },
      encoding: 'utf8',
      timeout: 50_000,
    });
  const agentRun = run('src/proxy/security/cert-agent.ts');
  assert.equal(agentRun.status, 0, agentRun.stderr);
  assert.match(agentRun.stdout, /imported/);
  const caRun = run('src/ca/ca-server.ts');
  assert.notEqual(caRun.status, 0);
  assert.match(caRun.stderr, /loaded file:.*(@peculiar|reflect-metadata)/);
});
