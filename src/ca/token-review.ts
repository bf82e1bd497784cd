// The CA's caller check on Kubernetes: the workload's ServiceAccount token, reviewed by the API server (TokenReview), as istiod does.
import { readFileSync, statSync } from 'node:fs';
import * as https from 'node:https';
import type * as grpc from '@grpc/grpc-js';
import { MeshError } from '../shared/errors.js';
import type { CallerAuthenticator } from './caller-auth.js';
import type { WorkloadIdentity } from './sign.js';

/** Where the Kubernetes API server is and how the control plane authenticates to it. */
export interface KubernetesApiAccess {
  /** `https://HOST:PORT`. */
  server: string;
  /** The API server's CA bundle (PEM); without it the system roots are used. */
  caPem?: string;
  /** A file holding the control plane's own bearer token; re-read when it changes (projected tokens rotate). */
  tokenFile: string;
}

/** The in-cluster defaults every Kubernetes client uses: the service environment and the mounted ServiceAccount. */
export const IN_CLUSTER_SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * The API server as a pod sees it: `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`, the
 * token and CA mounted in IN_CLUSTER_SA_DIR. Throws MESH_INVALID_CONFIG naming what is missing.
 */
export function inClusterApiAccess(env: NodeJS.ProcessEnv = process.env, saDir = IN_CLUSTER_SA_DIR): KubernetesApiAccess {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host) throw new MeshError('MESH_INVALID_CONFIG', 'Kubernetes token review: KUBERNETES_SERVICE_HOST is not set (not running in a pod); pass --kube-api');
  let caPem: string;
  try {
    caPem = readFileSync(`${saDir}/ca.crt`, 'utf8');
  } catch (e) {
    throw new MeshError('MESH_INVALID_CONFIG', `Kubernetes token review: cannot read ${saDir}/ca.crt`, { cause: e });
  }
  return { server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`, caPem, tokenFile: `${saDir}/token` };
}

/** Istio's audience for tokens sent to its CA (third-party JWT policy). */
export const ISTIO_CA_AUDIENCE = 'istio-ca';
const REVIEW_PATH = '/apis/authentication.k8s.io/v1/tokenreviews';
const SA_USER_PREFIX = 'system:serviceaccount:';
const SA_GROUP = 'system:serviceaccounts';
/** ServiceAccount tokens are JWTs of 1–2 KiB; anything far longer is refused before it is sent anywhere. */
const MAX_TOKEN_CHARS = 16 * 1024;
/** A TokenReview answer is a few hundred bytes. */
const MAX_RESPONSE_BYTES = 256 * 1024;
const BEARER = 'Bearer ';

function unauthenticated(message: string): MeshError {
  return new MeshError('MESH_UNAUTHENTICATED', message);
}

export interface TokenReviewOptions {
  api: KubernetesApiAccess;
  /** The mesh's trust domain: the identity's, never anything from the token. */
  trustDomain: string;
  /** Audiences the token must be for; default `istio-ca`. Empty: the API server's default audience (first-party tokens). */
  audiences?: readonly string[];
  /** Bound on one review; default 5 s. */
  timeoutMs?: number;
}

/**
 * Authenticates a CA caller by its Kubernetes ServiceAccount token (`authorization: Bearer JWT`):
 * the token is sent to the API server in a TokenReview, and only an answer that says authenticated,
 * for one of the wanted audiences, for a user `system:serviceaccount:NS:SA` in the group
 * `system:serviceaccounts`, gives the identity NS/SA. Nothing in the token itself is trusted.
 * Every failure (an unreachable API server, a timeout, a malformed answer) refuses the caller:
 * the check fails closed.
 */
export class TokenReviewAuthenticator implements CallerAuthenticator {
  private readonly audiences: readonly string[];
  private readonly timeoutMs: number;
  private readonly url: URL;
  private token: { value: string; stamp: string } | undefined;

  constructor(private readonly options: TokenReviewOptions) {
    this.audiences = options.audiences ?? [ISTIO_CA_AUDIENCE];
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.url = new URL(REVIEW_PATH, options.api.server);
    if (this.url.protocol !== 'https:') throw new MeshError('MESH_INVALID_CONFIG', `Kubernetes API ${options.api.server} must be https`);
    try {
      this.apiToken();
    } catch (e) {
      throw new MeshError('MESH_INVALID_CONFIG', `Kubernetes token review: cannot read the control plane's token ${options.api.tokenFile}`, { cause: e });
    }
  }

  async authenticate(metadata: grpc.Metadata): Promise<WorkloadIdentity> {
    const values = metadata.get('authorization');
    if (values.length !== 1 || typeof values[0] !== 'string') throw unauthenticated('expected one authorization header');
    const header = values[0];
    if (!header.startsWith(BEARER) || header.length > BEARER.length + MAX_TOKEN_CHARS) throw unauthenticated('expected a bearer token');
    const token = header.slice(BEARER.length).trim();
    if (!/^[A-Za-z0-9._-]+$/.test(token)) throw unauthenticated('malformed token');
    let answer: unknown;
    try {
      answer = await this.review(token);
    } catch (e) {
      throw unauthenticated(`token review failed: ${e instanceof Error ? e.message : String(e)}`);
    }
    return this.identityOf(answer);
  }

  /** The control plane's own token, re-read when its file changes. */
  private apiToken(): string {
    const file = this.options.api.tokenFile;
    const st = statSync(file);
    const stamp = `${st.mtimeMs}:${st.size}`;
    if (this.token?.stamp !== stamp) this.token = { value: readFileSync(file, 'utf8').trim(), stamp };
    return this.token.value;
  }

  private review(token: string): Promise<unknown> {
    const body = JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, ...(this.audiences.length > 0 ? { audiences: this.audiences } : {}) } });
    return new Promise((resolve, reject) => {
      const req = https.request(
        this.url,
        {
          method: 'POST',
          headers: { authorization: `Bearer ${this.apiToken()}`, 'content-type': 'application/json', accept: 'application/json', 'content-length': Buffer.byteLength(body) },
          ...(this.options.api.caPem ? { ca: this.options.api.caPem } : {}),
          timeout: this.timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_RESPONSE_BYTES) req.destroy(new Error('answer too large'));
            else chunks.push(c);
          });
          res.on('end', () => {
            if (res.statusCode !== 201 && res.statusCode !== 200) return reject(new Error(`API server answered ${res.statusCode}`));
            try {
              resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
            } catch {
              reject(new Error('API server answer is not JSON'));
            }
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  private identityOf(answer: unknown): WorkloadIdentity {
    const status = (answer as { status?: Record<string, unknown> } | null)?.status;
    if (!status || typeof status !== 'object') throw unauthenticated('token review answer has no status');
    if (status.authenticated !== true) throw unauthenticated(`token not authenticated${typeof status.error === 'string' && status.error !== '' ? `: ${status.error}` : ''}`);
    const granted = Array.isArray(status.audiences) ? status.audiences.filter((a): a is string => typeof a === 'string') : [];
    // An API server that reviewed for other audiences than asked says so; one that does not support audiences leaves them out.
    if (this.audiences.length > 0 && granted.length > 0 && !granted.some((a) => this.audiences.includes(a))) throw unauthenticated(`token is for ${granted.join(', ')}, not ${this.audiences.join(', ')}`);
    const user = status.user as { username?: unknown; groups?: unknown } | undefined;
    const username = typeof user?.username === 'string' ? user.username : '';
    const groups = Array.isArray(user?.groups) ? user.groups : [];
    if (!username.startsWith(SA_USER_PREFIX) || !groups.includes(SA_GROUP)) throw unauthenticated(`${username || 'the caller'} is not a service account`);
    const parts = username.slice(SA_USER_PREFIX.length).split(':');
    if (parts.length !== 2 || parts[0] === '' || parts[1] === '') throw unauthenticated(`malformed service account user ${username}`);
    return { trustDomain: this.options.trustDomain, namespace: parts[0]!, serviceAccount: parts[1]! };
  }
}
