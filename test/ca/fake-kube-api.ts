// Test helper: a Kubernetes API server double that answers TokenReviews over real HTTPS (openssl-made certificate for 127.0.0.1).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export interface Review {
  authorization: string | undefined;
  body: { apiVersion: string; kind: string; spec: { token: string; audiences?: string[] } };
}

export interface FakeKubeApi {
  url: string;
  caPem: string;
  reviews: Review[];
  /** What the API server answers a token with (status object), or 'hang' / an HTTP status. */
  answer: (token: string) => Record<string, unknown> | 'hang' | number;
  close(): Promise<void>;
}

/** An HTTPS server answering TokenReviews, with a self-signed certificate for 127.0.0.1 made by openssl in `dir`. */
export async function fakeKubeApi(dir: string): Promise<FakeKubeApi> {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'api-key.pem'), '-out', join(dir, 'api-cert.pem'), '-subj', '/CN=kube-apiserver', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '1'], { stdio: 'pipe' });
  const caPem = readFileSync(join(dir, 'api-cert.pem'), 'utf8');
  const hanging = new Set<ServerResponse>();
  const api: FakeKubeApi = {
    url: '',
    caPem,
    reviews: [],
    answer: () => ({ authenticated: false }),
    close: async () => {
      for (const r of hanging) r.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const server = https.createServer({ key: readFileSync(join(dir, 'api-key.pem')), cert: caPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      assert.equal(req.method, 'POST');
      assert.equal(req.url, '/apis/authentication.k8s.io/v1/tokenreviews');
      const body = JSON.parse(Buffer.concat(chunks).toString()) as Review['body'];
      api.reviews.push({ authorization: req.headers.authorization, body });
      const a = api.answer(body.spec.token);
      if (a === 'hang') {
        hanging.add(res);
        return;
      }
      if (typeof a === 'number') {
        res.writeHead(a).end('{}');
        return;
      }
      res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', status: a }));
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise<void>((r) => server.once('listening', () => r()));
  api.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return api;
}

/** The user a TokenReview names for a ServiceAccount token. */
export const serviceAccountUser = (ns: string, sa: string) => ({ username: `system:serviceaccount:${ns}:${sa}`, uid: 'u-1', groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'] });
