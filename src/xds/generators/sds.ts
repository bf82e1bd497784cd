// SDS over ADS: a gateway's `kubernetes://NAME` credentials (certificate and key, or the `-cacert` CA bundle) from Secrets of its own namespace, as Envoy Secret resources.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { Proxy } from '../../model/proxy.js';
import type { PushContext, SecretConfig } from '../../model/push-context.js';
import { TypeUrl, type Generator, type XdsResource } from '../types.js';
import { credentialCaSecretName, credentialSecretName } from './downstream-tls.js';
import type { Msg } from './envoy-values.js';
import { isPassthrough } from './gateway-servers.js';
import { pushMemo } from './push-memo.js';

const KUBERNETES_PREFIX = 'kubernetes://';
const CA_SUFFIX = '-cacert';

/** Istio's two layouts of a credential Secret: `kubernetes.io/tls` keys, then the generic ones. */
const CERT_KEYS = [
  ['tls.crt', 'tls.key'],
  ['cert', 'key'],
] as const;
const CA_KEYS = ['ca.crt', 'cacert'] as const;

/** The Secret resource of one SDS name, or why there is none (the reason names no key material). */
export type CredentialLookup = { resource: Msg } | { problem: string };

/**
 * `kubernetes://NAME` → NAME; `kubernetes://NS/NAME` → NAME when NS is the proxy's namespace;
 * anything else → why it is refused.
 */
function secretNameOf(proxy: Proxy, sdsName: string): string | { problem: string } {
  if (!sdsName.startsWith(KUBERNETES_PREFIX)) return { problem: `"${sdsName}" is not a kubernetes:// credential` };
  const rest = sdsName.slice(KUBERNETES_PREFIX.length);
  const slash = rest.indexOf('/');
  if (slash < 0) return rest === '' ? { problem: 'empty credential name' } : rest;
  // Istio's rule: a gateway reads Secrets of its own namespace only; naming another one must not
  // hand out that namespace's keys to whoever controls a Gateway's credentialName.
  const namespace = rest.slice(0, slash);
  const name = rest.slice(slash + 1);
  if (namespace !== proxy.namespace) return { problem: `credential "${sdsName}" is in namespace ${namespace}; a gateway only reads Secrets of its own namespace (${proxy.namespace})` };
  return name === '' || name.includes('/') ? { problem: `"${sdsName}" is not a valid credential name` } : name;
}

function firstValue(secret: SecretConfig, keys: readonly string[]): string | undefined {
  for (const k of keys) {
    const v = secret.data[k];
    if (v !== undefined && v.trim() !== '') return v;
  }
  return undefined;
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** A certificate and key Secret resource, or why the Secret cannot be one. */
function certificateResource(sdsName: string, secret: SecretConfig): CredentialLookup {
  const where = `Secret ${secret.namespace}/${secret.name}`;
  const pair = CERT_KEYS.find(([c, k]) => firstValue(secret, [c]) !== undefined && firstValue(secret, [k]) !== undefined);
  if (!pair) return { problem: `${where} has neither tls.crt and tls.key nor cert and key` };
  const chain = secret.data[pair[0]]!;
  const key = secret.data[pair[1]]!;
  // Checked here so that a broken Secret is reported and never sent: Envoy would reject the whole
  // SDS response, and a proxy that accepted it could not build a TLS context from it anyway.
  try {
    const cert = new X509Certificate(chain);
    if (!cert.checkPrivateKey(createPrivateKey(key))) return { problem: `${where}: ${pair[1]} is not the key of the certificate in ${pair[0]}` };
  } catch (e) {
    return { problem: `${where}: ${pair[0]} and ${pair[1]} must be a PEM certificate and its PEM private key (${errorMessage(e)})` };
  }
  return {
    resource: {
      name: sdsName,
      tlsCertificate: { certificateChain: { inlineBytes: Buffer.from(chain).toString('base64') }, privateKey: { inlineBytes: Buffer.from(key).toString('base64') } },
    },
  };
}

/** A CA bundle Secret resource from `ca.crt` or `cacert`, or undefined when the Secret has neither. */
function caResource(sdsName: string, secret: SecretConfig): CredentialLookup | undefined {
  const ca = firstValue(secret, CA_KEYS);
  if (ca === undefined) return undefined;
  try {
    new X509Certificate(ca);
  } catch (e) {
    return { problem: `Secret ${secret.namespace}/${secret.name}: the CA bundle must be PEM certificates (${errorMessage(e)})` };
  }
  return { resource: { name: sdsName, validationContext: { trustedCa: { inlineBytes: Buffer.from(ca).toString('base64') } } } };
}

/**
 * The Envoy Secret a gateway gets for one SDS name (Istio's gateway SDS):
 * - `kubernetes://NAME`: Secret NAME of the proxy's namespace, `tls.crt` + `tls.key`
 *   (kubernetes.io/tls) or `cert` + `key` (generic), as a `tls_certificate`;
 * - `kubernetes://NAME-cacert`: `ca.crt` or `cacert` of Secret NAME-cacert, else of Secret NAME
 *   itself (Istio accepts both), as a `validation_context`.
 * Sidecars get none (only gateways terminate TLS with Kubernetes credentials), nor does any name
 * that points at another namespace. Memoized per push, namespace and name.
 */
export function credentialSecret(proxy: Proxy, push: PushContext, sdsName: string): CredentialLookup {
  if (proxy.type !== 'router') return { problem: 'only gateways are served Kubernetes credentials' };
  const name = secretNameOf(proxy, sdsName);
  if (typeof name !== 'string') return name;
  return pushMemo(push, `sds|${proxy.namespace}|${sdsName}`, (): CredentialLookup => {
    if (name.endsWith(CA_SUFFIX) && name.length > CA_SUFFIX.length) {
      const own = push.secret(proxy.namespace, name);
      const fromOwn = own && caResource(sdsName, own);
      if (fromOwn) return fromOwn;
      const base = push.secret(proxy.namespace, name.slice(0, -CA_SUFFIX.length));
      const fromBase = base && caResource(sdsName, base);
      if (fromBase) return fromBase;
      if (!own && !base) return { problem: `no Secret ${name} or ${name.slice(0, -CA_SUFFIX.length)} in namespace ${proxy.namespace}` };
      return { problem: `neither Secret ${name} nor ${name.slice(0, -CA_SUFFIX.length)} in namespace ${proxy.namespace} has ca.crt or cacert` };
    }
    const secret = push.secret(proxy.namespace, name);
    if (!secret) return { problem: `no Secret ${name} in namespace ${proxy.namespace}` };
    return certificateResource(sdsName, secret);
  });
}

/** Every SDS name the gateway's terminating servers use (what a wildcard request gets). */
export function gatewayCredentialNames(proxy: Proxy, push: PushContext): string[] {
  const names = new Set<string>();
  for (const servers of push.mergedGateway(proxy)?.serversByPort.values() ?? []) {
    for (const sc of servers) {
      const tls = sc.server.tls;
      if (!tls?.credentialName || isPassthrough(sc)) continue;
      if (tls.mode === 'SIMPLE' || tls.mode === 'MUTUAL') names.add(credentialSecretName(tls.credentialName));
      if (tls.mode === 'MUTUAL') names.add(credentialCaSecretName(tls.credentialName));
    }
  }
  return [...names].sort();
}

/**
 * The SDS generator: the requested names (all the gateway's credentials for a wildcard request)
 * that resolve to a usable Secret. A name that does not is left out, as Istio leaves it out: the
 * listener that needs it keeps refusing connections until the Secret appears (the ADS server
 * reports it; see `credentialSecret` for why).
 */
export const generateSecrets: Generator = (proxy, push, names): XdsResource[] => {
  if (proxy.type !== 'router') return [];
  const out: XdsResource[] = [];
  for (const name of names ?? gatewayCredentialNames(proxy, push)) {
    const found = credentialSecret(proxy, push, name);
    if ('resource' in found) out.push({ name, typeUrl: TypeUrl.Secret, resource: found.resource });
  }
  return out;
};
