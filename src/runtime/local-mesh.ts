// The whole local mesh behind `meltemi up`: the manifests in a store, discovery and the CA, every Deployment's pods as processes in their own network namespaces (with a sidecar when injected), and the ingress gateway.
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Resource } from '../api/kind.js';
import type { CaBundle } from '../ca/ca-bundle.js';
import { followCaDirectory, openCaDirectory } from '../ca/ca-directory.js';
import { CaServer, SERVING_CERT_REISSUE_MS, caServerCredentials } from '../ca/ca-server.js';
import { LocalTokenAuthenticator } from '../ca/caller-auth.js';
import { formatFinding, validateLoaded } from '../config/findings.js';
import { loadPaths, type LoadedObject } from '../config/manifest.js';
import { MemoryStore } from '../config/memory-store.js';
import { keyOf } from '../config/store.js';
import { MeshError } from '../shared/errors.js';
import { Discovery, meshConfigOf } from '../xds/discovery.js';
import { nodeTlsOptions, type MeshConfig } from '../model/mesh-config.js';
import { applyProfiles } from '../api/smcp-profiles.js';
import type { SmcpV2Spec } from '../api/kinds/service-mesh-control-plane.js';
import type { InjectionContext, NamespaceObject, Pod } from '../injector/context.js';
import { injectionSettingsFromControlPlane } from '../injector/context.js';
import { injectIfRequired, interceptionOf } from '../injector/inject.js';
import type { PodNetwork, PodNetworkSpec, ServiceAddress } from './pod-network.js';
import { SupervisedContainer, type ContainerStatus } from './supervisor.js';
import { VipAllocator } from './vip-allocator.js';
import { containerArgv, containerEnv, livenessOf, podsOf, readinessOf, type ContainerManifest, type PodFacts, type PodPlan } from './workloads.js';
import { PROXY_NODE_OPTIONS } from '../shared/node-flags.js';

/** Makes and removes pod networks (netns mode: `PodNetworks`, the real CNI chain). */
export interface PodNetworkProvider {
  /** The host's address on the pod network: discovery, the CA and the gateway's upstreams are reached through it. */
  readonly gateway: string;
  /** Makes the pod network itself (the bridge), so the host address exists before any pod. */
  prepare(): Promise<void>;
  add(pod: PodNetworkSpec): Promise<PodNetwork>;
  remove(pod: { uid: string }): Promise<void>;
  /** Writes the names the pod's processes resolve (services' virtual IPs). */
  writeHosts(netns: string, namespace: string, services: readonly ServiceAddress[]): void;
  close(): Promise<void>;
  /** iptables captures the pod's traffic (netns mode); else the sidecar is reached explicitly. */
  readonly capture: boolean;
  /** Flags the pod's sidecar needs beyond the injected ones (where to listen without capture). */
  sidecarArgs(pod: PodNetwork): string[];
  /** Environment the pod's app containers need (where to listen, the HTTP proxy without capture). */
  appEnv(pod: PodNetwork, injected: boolean): Record<string, string>;
}

export interface LocalMeshOptions {
  /** The manifests: a directory (recursive) or files. */
  paths: string[];
  runDir: string;
  /** The ingress gateway's HTTP port on 127.0.0.1 (Gateway port 80 is published here). */
  ingressPort: number;
  network: PodNetworkProvider;
  /** How to run `meltemi` (e.g. [process.execPath, '<repo>/bin/meltemi.js']); the sidecars run it too. */
  meltemi: readonly string[];
  /** Environment for every process (PATH with node_modules/.bin…). */
  env: Readonly<Record<string, string>>;
  /** Mesh settings the mode needs (loopback: the HTTP proxy port apps reach services through). */
  mesh?: Partial<MeshConfig>;
  /** Host ports on 127.0.0.1: discovery's debug API and the gateway's admin, readiness and metrics (Istio's by default). */
  hostPorts?: Partial<HostPorts>;
  log: (line: string) => void;
}

const WORKLOAD_TOKEN_TTL_MS = 365 * 24 * 3600 * 1000;
/** The ConfigMap istiod publishes the mesh's roots in, in every mesh namespace. */
const ROOT_CERT_CONFIGMAP = 'istio-ca-root-cert';
/** How long a rollout waits for new pods to be ready before stopping the old ones anyway. */
const ROLLOUT_WAIT_MS = 120_000;

/** The ports the mesh takes on the host's loopback. */
export interface HostPorts {
  /** xDS and the CA, on the pod network's host address. */
  xds: number;
  ca: number;
  debug: number;
  gatewayAdmin: number;
  gatewayHealth: number;
  gatewayStats: number;
  gatewayMerged: number;
}

export const DEFAULT_HOST_PORTS: Readonly<HostPorts> = Object.freeze({ xds: 15010, ca: 15012, debug: 15014, gatewayAdmin: 15000, gatewayHealth: 15021, gatewayStats: 15090, gatewayMerged: 15020 });

/** One pod as it runs. */
export interface RunningPod {
  plan: PodPlan;
  /** The pod spec as run (with the sidecar when injected). */
  spec: Pod['spec'];
  address: PodNetwork | undefined;
  injected: boolean;
  injectionReason: string;
  containers: SupervisedContainer[];
  phase: 'Pending' | 'Running' | 'Failed' | 'Terminating';
  error?: string;
}

/** What `meltemi get pods` lists. */
export interface PodRow {
  namespace: string;
  name: string;
  ip: string;
  ready: string;
  status: string;
  restarts: number;
  sidecar: boolean;
  ports: string;
  reason: string;
}

/**
 * Runs a mesh from manifests. `start` validates everything first (a bad manifest stops the start
 * with every problem listed, file:line first); `apply` and `delete` change the running mesh (a
 * Deployment whose template changed gets new pods, then the old ones go); `stop` stops every
 * process and removes every network it made.
 */
export class LocalMesh {
  readonly store = new MemoryStore();
  private discovery: Discovery | undefined;
  private ca: CaServer | undefined;
  private caReissue: NodeJS.Timeout | undefined;
  private stopCaFollow: (() => void) | undefined;
  private tokens: LocalTokenAuthenticator | undefined;
  private readonly vips = new VipAllocator();
  private readonly pods = new Map<string, RunningPod>();
  private gateway: SupervisedContainer | undefined;
  /** Where each Deployment was read from (its containers' relative paths resolve there). */
  private readonly baseDirs = new Map<string, string>();
  private stopped = false;
  /** The mesh's roots (PEM), published to every mesh namespace. */
  private rootCertPem: string | undefined;

  private readonly ports: HostPorts;

  constructor(private readonly options: LocalMeshOptions) {
    this.ports = { ...DEFAULT_HOST_PORTS, ...options.hostPorts };
  }

  get ingressUrl(): string {
    return `http://127.0.0.1:${this.options.ingressPort}`;
  }

  async start(): Promise<void> {
    const o = this.options;
    mkdirSync(o.runDir, { recursive: true, mode: 0o755 });
    const objects = await this.load(o.paths);
    for (const ns of ['default', 'istio-system']) this.ensureNamespace(ns);
    for (const { object, source } of objects) this.put(object as Resource, dirname(resolve(source.file)));
    await o.network.prepare();
    const host = o.network.gateway;
    const mesh = meshConfigOf(this.store);
    this.discovery = await new Discovery({
      store: this.store,
      xdsHost: host,
      xdsPort: this.ports.xds,
      allowRemoteXds: true,
      ...(o.mesh ? { mesh: o.mesh } : {}),
      debugPort: this.ports.debug,
      logger: { info: () => undefined, warn: (m) => o.log(`warn\tdiscovery: ${m}`), error: (m) => o.log(`error\tdiscovery: ${m}`) },
    }).start();
    const caDir = await openCaDirectory(join(o.runDir, 'ca'), mesh.trustDomain);
    this.tokens = new LocalTokenAuthenticator({ key: caDir.tokenKey, trustDomain: mesh.trustDomain });
    this.ca = new CaServer({ bundle: caDir.bundle, authenticator: this.tokens, trustDomain: mesh.trustDomain });
    // SMCP security.controlPlane.tls governs the CA's port too.
    const caCredentials = (bundle: CaBundle) => caServerCredentials(bundle, [`istiod.${mesh.rootNamespace}.svc`, host], { tls: nodeTlsOptions(mesh.meshTls) });
    await this.ca.start(`${host}:${this.ports.ca}`, await caCredentials(caDir.bundle));
    // The serving certificate lives 24 h: a mesh left running gets a fresh one at half its life.
    this.caReissue = setInterval(() => {
      caCredentials(this.ca!.currentBundle)
        .then((c) => this.ca?.rotate(this.ca.currentBundle, c))
        .catch((e: unknown) => o.log(`error\tCA serving certificate not reissued: ${e instanceof Error ? e.message : String(e)}`));
    }, SERVING_CERT_REISSUE_MS);
    this.caReissue.unref();
    this.publishRoots(caDir.bundle.trustBundlePem);
    // A plugged-in CA replaced, or a root rotated, in RUN_DIR/ca: as `meltemi discovery --ca-dir` does.
    this.stopCaFollow = followCaDirectory(join(o.runDir, 'ca'), {
      onBundle: async (bundle) => {
        await this.ca?.rotate(bundle, await caCredentials(bundle));
        this.publishRoots(bundle.trustBundlePem);
        o.log(`info\tCA reloaded from ${join(o.runDir, 'ca')}`);
      },
      onError: (e) => o.log(`error\tCA directory not used, the previous CA keeps signing: ${e instanceof Error ? e.message : String(e)}`),
    });
    o.log(`discovery: xDS on ${this.discovery.xdsAddress}, CA on ${host}:${this.ports.ca}, debug API on http://${this.discovery.debugAddress}`);
    await this.startGateway();
    await this.reconcile();
  }

  private load(paths: string[]): Promise<LoadedObject[]> {
    return loadMeshManifests(paths);
  }

  private ensureNamespace(name: string): void {
    if (!this.store.get({ group: '', kind: 'Namespace', namespace: '', name })) this.store.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  }

  /** Stores one object: a Service gets its virtual IP, a Deployment remembers its directory. */
  private put(r: Resource, baseDir: string): void {
    if (r.kind === 'Namespace' && r.apiVersion === 'v1') {
      this.store.apply(r);
      return;
    }
    if (r.metadata.namespace === undefined && !CLUSTER_SCOPED.has(r.kind)) r = { ...r, metadata: { ...r.metadata, namespace: 'default' } };
    if (r.metadata.namespace) this.ensureNamespace(r.metadata.namespace);
    if (r.kind === 'Service' && r.apiVersion === 'v1') {
      const spec = (r.spec ?? {}) as { clusterIP?: string };
      if (spec.clusterIP !== 'None') r = { ...r, spec: { ...spec, clusterIP: this.vips.assign(`${r.metadata.namespace}/${r.metadata.name}`, spec.clusterIP) } };
    }
    if (r.kind === 'Deployment') this.baseDirs.set(`${r.metadata.namespace}/${r.metadata.name}`, baseDir);
    this.store.apply(r);
  }

  /**
   * Istio's `istio-ca-root-cert` ConfigMap (key `root-cert.pem`) in every namespace of the mesh (the
   * member roll's, or every namespace without one), as istiod publishes it, so workloads and tools
   * can read the roots; a namespace that joins later gets it when it is applied.
   */
  /**
   * The mesh's roots everywhere a workload reads them: RUN_DIR/root-cert.pem (the gateway's), each
   * sidecar's copy in its pod directory (proxies re-read it every 5 s), and the ConfigMaps.
   */
  private publishRoots(pem: string): void {
    const o = this.options;
    writeFileSync(join(o.runDir, 'root-cert.pem'), pem, { mode: 0o644 });
    for (const p of this.pods.values()) {
      const copy = join(o.runDir, 'pods', p.plan.name, 'root-cert.pem');
      if (p.injected && existsSync(copy)) writeFileSync(copy, pem, { mode: 0o644 });
    }
    this.rootCertPem = pem;
    this.publishRootCert();
  }

  private publishRootCert(): void {
    if (!this.rootCertPem) return;
    const members = this.members();
    for (const ns of this.store.list({ kind: 'Namespace', group: '' })) {
      const name = ns.metadata.name ?? '';
      if (members !== 'all' && !members.has(name) && name !== meshConfigOf(this.store).rootNamespace) continue;
      const key = { group: '', kind: 'ConfigMap', namespace: name, name: ROOT_CERT_CONFIGMAP };
      const data = { 'root-cert.pem': this.rootCertPem };
      const existing = this.store.get(key) as { data?: Record<string, string> } | undefined;
      if (existing?.data?.['root-cert.pem'] === this.rootCertPem) continue;
      this.store.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: ROOT_CERT_CONFIGMAP, namespace: name, labels: { 'istio.io/config': 'true' } }, data });
    }
  }

  /** Applies objects to the running mesh (`meltemi apply`); returns one line per object. */
  async apply(objects: LoadedObject[]): Promise<string[]> {
    const findings = validateLoaded(objects).filter((f) => f.severity === 'error');
    if (findings.length > 0) throw new MeshError('MESH_INVALID_CONFIG', findings.map(formatFinding).join('\n'));
    const out: string[] = [];
    for (const { object, source } of objects) {
      const r = object as Resource;
      const before = this.store.get(keyOf({ ...r, metadata: { ...r.metadata, namespace: r.metadata.namespace ?? (CLUSTER_SCOPED.has(r.kind) ? undefined : 'default') } }));
      this.put(r, source.file === '<stdin>' ? process.cwd() : dirname(resolve(source.file)));
      out.push(`${r.kind.toLowerCase()}/${r.metadata.name} ${before ? 'configured' : 'created'}`);
    }
    this.publishRootCert();
    await this.reconcile();
    return out;
  }

  /** Deletes objects from the running mesh (`meltemi delete`); a Deployment's pods are stopped. */
  async delete(objects: LoadedObject[]): Promise<string[]> {
    const out: string[] = [];
    for (const { object } of objects) {
      const r = object as Resource;
      const namespace = r.metadata.namespace ?? (CLUSTER_SCOPED.has(r.kind) ? undefined : 'default');
      const key = keyOf({ ...r, metadata: { ...r.metadata, ...(namespace ? { namespace } : {}) } });
      if (!this.store.get(key)) {
        out.push(`${r.kind.toLowerCase()}/${r.metadata.name} not found`);
        continue;
      }
      this.store.delete(key);
      if (r.kind === 'Service') this.vips.release(`${namespace}/${r.metadata.name}`);
      out.push(`${r.kind.toLowerCase()}/${r.metadata.name} deleted`);
    }
    await this.reconcile();
    return out;
  }

  /**
   * Brings the pods in line with the Deployments: a Deployment without pods of its current
   * template gets them. Its pods of an older template are stopped once the new ones are ready (or
   * have failed, or after ROLLOUT_WAIT_MS), as a rolling update with surge does, so traffic keeps
   * flowing; with `strategy.type: Recreate` they are stopped first and the new ones start after,
   * so old and new never run together. Pods whose Deployment is gone are stopped now. Also
   * rewrites every pod's hosts file.
   */
  private async reconcile(): Promise<void> {
    if (this.stopped) return;
    const deployments = this.store.list({ kind: 'Deployment', group: 'apps' });
    const wanted = new Set<string>();
    const started = new Map<string, PodPlan[]>();
    const recreate = new Set<string>();
    for (const d of deployments) {
      const owner = `${d.metadata.namespace}/${d.metadata.name}`;
      if ((d.spec as { strategy?: { type?: string } } | undefined)?.strategy?.type === 'Recreate') recreate.add(owner);
      const plans = podsOf(d, this.baseDirs.get(owner) ?? process.cwd());
      const current = [...this.pods.values()].filter((p) => ownerOf(p.plan) === owner && p.plan.templateHash === plans[0]?.templateHash && p.phase !== 'Terminating');
      for (const p of current.slice(0, plans.length)) wanted.add(podKey(p.plan));
      const fresh = plans.slice(current.length);
      for (const plan of fresh) wanted.add(podKey(plan));
      if (fresh.length > 0) started.set(owner, fresh);
    }
    const stale = [...this.pods.values()].filter((p) => !wanted.has(podKey(p.plan)) && p.phase !== 'Terminating');
    const first = stale.filter((p) => recreate.has(ownerOf(p.plan)));
    for (const p of first) p.phase = 'Terminating';
    await Promise.all(first.map((p) => this.stopPod(p)));
    await Promise.all([...started.values()].flat().map((plan) => this.startPod(plan)));
    const rest = stale.filter((p) => !recreate.has(ownerOf(p.plan)));
    const now = rest.filter((p) => !started.has(ownerOf(p.plan)));
    const later = rest.filter((p) => started.has(ownerOf(p.plan)));
    for (const p of later) p.phase = 'Terminating';
    await Promise.all(now.map((p) => this.stopPod(p)));
    if (later.length > 0) void this.retireAfterRollout(later, [...started.values()].flat());
    this.writeHostsFiles();
  }

  /** Stops the old pods of a rollout once every new pod is ready or failed (bounded). */
  private async retireAfterRollout(old: RunningPod[], fresh: PodPlan[]): Promise<void> {
    const deadline = Date.now() + ROLLOUT_WAIT_MS;
    const settled = () =>
      fresh.every((plan) => {
        const p = this.pods.get(podKey(plan));
        return !p || p.phase === 'Failed' || (p.containers.length > 0 && p.containers.every((c) => c.current.state === 'ready'));
      });
    while (!this.stopped && !settled() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    if (!this.stopped) await Promise.all(old.map((p) => this.stopPod(p)));
  }

  private services(): { name: string; namespace: string; vip: string }[] {
    return this.store
      .list({ kind: 'Service', group: '' })
      .flatMap((s) => {
        const ip = (s.spec as { clusterIP?: string } | undefined)?.clusterIP;
        return ip && ip !== 'None' ? [{ name: s.metadata.name ?? '', namespace: s.metadata.namespace ?? 'default', vip: ip }] : [];
      });
  }

  private writeHostsFiles(): void {
    const services = this.services();
    for (const p of this.pods.values()) if (p.address) this.options.network.writeHosts(p.address.netns, p.plan.namespace, services);
  }

  private members(): ReadonlySet<string> | 'all' {
    const rolls = this.store.list({ kind: 'ServiceMeshMemberRoll', group: 'maistra.io' });
    if (rolls.length === 0) return 'all';
    const members = new Set<string>();
    for (const r of rolls) for (const m of ((r.spec as { members?: string[] } | undefined)?.members ?? [])) members.add(m);
    for (const m of this.store.list({ kind: 'ServiceMeshMember', group: 'maistra.io' })) members.add(m.metadata.namespace ?? '');
    return members;
  }

  /** The injection settings: the ServiceMeshControlPlane's (OP-13), the member roll, discovery's address, this pod's identity files. */
  private injectionContext(identity: { tokenFile: string; rootCertFile: string }): InjectionContext {
    const smcp = this.store.list({ kind: 'ServiceMeshControlPlane', group: 'maistra.io' }).find((r) => r.apiVersion === 'maistra.io/v2');
    const fromSmcp = smcp ? injectionSettingsFromControlPlane(smcp.metadata.namespace ?? 'istio-system', smcp.metadata.name ?? 'basic', applyProfiles((smcp.spec ?? {}) as SmcpV2Spec)) : {};
    return {
      ...fromSmcp,
      members: this.members(),
      discoveryAddress: this.discovery!.xdsAddress,
      identity: { caAddress: `${this.options.network.gateway}:${this.ports.ca}`, ...identity },
      cni: this.options.network.capture,
      proxyCommand: this.options.meltemi,
    };
  }

  private async startPod(plan: PodPlan): Promise<void> {
    const o = this.options;
    const running: RunningPod = { plan, spec: plan.spec as Pod['spec'], address: undefined, injected: false, injectionReason: '', containers: [], phase: 'Pending' };
    this.pods.set(podKey(plan), running);
    const where = `${plan.namespace}/${plan.name}`;
    try {
      const namespace = this.store.get({ group: '', kind: 'Namespace', namespace: '', name: plan.namespace }) as NamespaceObject | undefined;
      const podDir = join(o.runDir, 'pods', plan.name);
      mkdirSync(podDir, { recursive: true, mode: 0o755 });
      const tokenFile = join(podDir, 'istio-token');
      const rootCertFile = join(podDir, 'root-cert.pem');
      const pod: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: plan.name, namespace: plan.namespace, uid: plan.uid, labels: plan.labels, annotations: plan.annotations }, spec: plan.spec as Pod['spec'] };
      const result = injectIfRequired(pod, namespace, this.injectionContext({ tokenFile, rootCertFile }));
      running.injected = result.injected;
      running.injectionReason = result.reason;
      for (const w of result.warnings) o.log(`warn\tpod ${where}: ${w}`);
      const injected = result.pod;
      plan.labels = { ...(injected.metadata.labels ?? {}) };
      plan.annotations = { ...(injected.metadata.annotations ?? {}) };
      running.spec = injected.spec;
      const capture = o.network.capture;
      if (result.injected) {
        // The proxy (its UID) reads its token and the roots; nobody else but root can read the token.
        const proxyUser = userOf((injected.spec.containers ?? []).find((c) => c.name === 'istio-proxy') as ContainerManifest | undefined) ?? { uid: 1337, gid: 1337 };
        writeFileSync(tokenFile, `${this.tokens!.issueToken({ namespace: plan.namespace, serviceAccount: plan.serviceAccount }, WORKLOAD_TOKEN_TTL_MS)}\n`, { mode: 0o600 });
        if (capture) chownSync(tokenFile, proxyUser.uid, proxyUser.gid);
        copyFileSync(join(o.runDir, 'root-cert.pem'), rootCertFile);
        chmodSync(rootCertFile, 0o644);
      }
      running.address = await o.network.add({ name: plan.name, namespace: plan.namespace, uid: plan.uid, annotations: plan.annotations, intercept: interceptionOf(injected) });
      o.network.writeHosts(running.address.netns, plan.namespace, this.services());
      const facts: PodFacts = { name: plan.name, namespace: plan.namespace, ip: running.address.ip, serviceAccount: plan.serviceAccount, uid: plan.uid, labels: plan.labels };
      for (const c of (injected.spec.containers ?? []) as ContainerManifest[]) {
        const id = `${where}/${c.name}`;
        const probe = readinessOf(c, running.address.ip, `container ${id}`);
        const liveness = livenessOf(c, running.address.ip, `container ${id}`);
        const isSidecar = result.injected && c.name === 'istio-proxy';
        // Without capture, processes run as the invoking user: no UID is excluded from anything.
        const user = capture ? userOf(c) : undefined;
        const argv = [...containerArgv(c, `container ${id}`), ...(isSidecar ? o.network.sidecarArgs(running.address) : [])];
        const modeEnv = isSidecar ? {} : o.network.appEnv(running.address, result.injected);
        running.containers.push(
          new SupervisedContainer(
            {
              id,
              argv,
              env: { ...o.env, HOSTNAME: plan.name, ...modeEnv, ...containerEnv(c, facts, `container ${id}`) },
              cwd: c.workingDir ? resolve(plan.baseDir, c.workingDir) : plan.baseDir,
              ...(running.address.netns ? { netns: running.address.netns } : {}),
              ...(user ? { user } : {}),
              logFile: join(podDir, `${c.name}.log`),
              ...(probe ? { readiness: probe } : {}),
              ...(liveness ? { liveness } : {}),
            },
            () => this.writePod(running),
          ),
        );
      }
      running.phase = 'Running';
      this.writePod(running);
      for (const c of running.containers) c.start();
    } catch (e) {
      running.phase = 'Failed';
      running.error = e instanceof Error ? e.message : String(e);
      o.log(`error\tpod ${where} failed to start: ${running.error}`);
    }
  }

  /** Publishes the pod (address, readiness) to the store, which is what the registry reads. */
  private writePod(p: RunningPod): void {
    if (!p.address || this.stopped) return;
    const ready = p.phase === 'Running' && p.containers.length > 0 && p.containers.every((c) => c.current.state === 'ready');
    const pod: Resource = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: p.plan.name, namespace: p.plan.namespace, uid: p.plan.uid, labels: p.plan.labels, annotations: p.plan.annotations },
      spec: p.spec,
      status: { phase: 'Running', podIP: p.address.ip, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
    };
    this.store.apply(pod);
  }

  private async stopPod(p: RunningPod): Promise<void> {
    p.phase = 'Terminating';
    const key = { group: '', kind: 'Pod', namespace: p.plan.namespace, name: p.plan.name };
    if (this.store.get(key)) this.store.delete(key);
    await Promise.all(p.containers.map((c) => c.stop()));
    if (p.address) await this.options.network.remove({ uid: p.plan.uid }).catch((e: unknown) => this.options.log(`warn\tpod ${p.plan.name}: network not removed: ${e instanceof Error ? e.message : String(e)}`));
    this.pods.delete(podKey(p.plan));
  }

  /** The ingress gateway: a router proxy on the host, Gateway port 80 published on 127.0.0.1:ingressPort (443 on ingressPort+363). */
  private async startGateway(): Promise<void> {
    const o = this.options;
    const mesh = meshConfigOf(this.store);
    const ns = mesh.rootNamespace;
    const dir = join(o.runDir, 'pods', 'istio-ingressgateway');
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    const tokenFile = join(dir, 'istio-token');
    writeFileSync(tokenFile, `${this.tokens!.issueToken({ namespace: ns, serviceAccount: 'istio-ingressgateway-service-account' }, WORKLOAD_TOKEN_TTL_MS)}\n`, { mode: 0o600 });
    const labels = { app: 'istio-ingressgateway', istio: 'ingressgateway' };
    const argv = [
      ...o.meltemi, 'proxy', '--type', 'router',
      '--discovery', this.discovery!.xdsAddress,
      '--node-id', `router~127.0.0.1~istio-ingressgateway.${ns}~${ns}.svc.cluster.local`,
      '--labels', Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(','),
      '--service-account', 'istio-ingressgateway-service-account',
      '--gateway-address', '127.0.0.1',
      '--port-offset', String(o.ingressPort - 80),
      '--admin-port', String(this.ports.gatewayAdmin), '--health-port', String(this.ports.gatewayHealth),
      '--stats-port', String(this.ports.gatewayStats), '--merged-metrics-port', String(this.ports.gatewayMerged),
      '--ca-addr', `${o.network.gateway}:${this.ports.ca}`, '--ca-root', join(o.runDir, 'root-cert.pem'), '--token-file', tokenFile,
      '--drain-seconds', '1',
    ];
    this.gateway = new SupervisedContainer({
      id: `${ns}/istio-ingressgateway/istio-proxy`,
      argv,
      env: { ...o.env, NODE_OPTIONS: PROXY_NODE_OPTIONS },
      cwd: o.runDir,
      logFile: join(dir, 'istio-proxy.log'),
      readiness: { kind: 'http', host: '127.0.0.1', port: this.ports.gatewayHealth, path: '/healthz/ready', periodMs: 500, timeoutMs: 1000, initialDelayMs: 0, failureThreshold: 3, successThreshold: 1 },
    });
    this.gateway.start();
  }

  /** True once the gateway and every pod are ready. */
  get ready(): boolean {
    return this.gateway?.current.state === 'ready' && [...this.pods.values()].every((p) => p.phase === 'Running' && p.containers.every((c) => c.current.state === 'ready'));
  }

  /** Pods for `meltemi get pods`. */
  podRows(): PodRow[] {
    const rows: PodRow[] = [];
    for (const p of this.pods.values()) {
      const statuses: ContainerStatus[] = p.containers.map((c) => c.current);
      rows.push({
        namespace: p.plan.namespace,
        name: p.plan.name,
        ip: p.address?.ip ?? '',
        ready: `${statuses.filter((s) => s.state === 'ready').length}/${statuses.length}`,
        status: p.phase === 'Running' ? (statuses.some((s) => s.state === 'backoff') ? 'CrashLoopBackOff' : 'Running') : p.phase,
        restarts: statuses.reduce((n, s) => n + s.restarts, 0),
        sidecar: p.injected,
        ports: p.plan.spec.containers.flatMap((c) => (c.ports ?? []).map((port) => String(port.containerPort))).join(','),
        reason: p.error ?? p.injectionReason,
      });
    }
    return rows.sort((a, b) => (a.namespace + a.name).localeCompare(b.namespace + b.name));
  }

  /** The pods of a Deployment (tests and `meltemi get`). */
  podsOf(namespace: string, deployment: string): RunningPod[] {
    return [...this.pods.values()].filter((p) => p.plan.namespace === namespace && p.plan.owner === deployment);
  }

  /** Stops the gateway, every pod and its network, the CA and discovery. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.gateway?.stop(3000);
    await Promise.all([...this.pods.values()].map((p) => this.stopPod(p)));
    await this.options.network.close();
    clearInterval(this.caReissue);
    this.stopCaFollow?.();
    await this.ca?.close();
    await this.discovery?.close();
  }
}

/**
 * Reads and validates the manifests of a mesh; any error refuses the whole start (MESH_INVALID_CONFIG
 * listing every problem as FILE:LINE: …), so nothing runs on a half-valid folder.
 */
export async function loadMeshManifests(paths: string[]): Promise<LoadedObject[]> {
  const loaded = await loadPaths(paths);
  const findings = validateLoaded(loaded.objects);
  const problems = [...loaded.problems.map((p) => `${p.file}:${p.line}: ${p.message}`), ...findings.filter((f) => f.severity === 'error').map(formatFinding)];
  if (problems.length > 0) throw new MeshError('MESH_INVALID_CONFIG', `the manifests are not valid; nothing was started:\n${problems.join('\n')}`);
  if (loaded.objects.length === 0) throw new MeshError('MESH_USAGE', `no manifests found in ${paths.join(', ')}`);
  return loaded.objects;
}

/** Kinds without a namespace. */
const CLUSTER_SCOPED = new Set(['Namespace', 'CustomResourceDefinition']);

/** The user a container asks to run as (securityContext.runAsUser / runAsGroup); undefined: root. */
function userOf(c: ContainerManifest | undefined): { uid: number; gid: number } | undefined {
  const uid = c?.securityContext?.runAsUser;
  if (uid === undefined) return undefined;
  return { uid, gid: c?.securityContext?.runAsGroup ?? uid };
}

function ownerOf(plan: PodPlan): string {
  return `${plan.namespace}/${plan.owner}`;
}

function podKey(p: { namespace: string; name: string }): string {
  return `${p.namespace}/${p.name}`;
}

