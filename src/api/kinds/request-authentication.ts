// RequestAuthentication (security.istio.io): the JWTs workloads verify, validated as Istio 1.6 does plus Meltemi's SSRF rule on jwksUri.
import { Issues, asArray, asObject, asString, isObject, type PathSegment } from '../diagnostics.js';
import { headerNameProblem } from '../common.js';
import type { KindDef, Resource } from '../kind.js';
import { defineRules } from '../rules.js';
import { arr, freeform, obj, type Static } from '../schema.js';
import { JwtRuleSchema, SECURITY_GROUP, SecuritySelectorSchema, checkSecuritySelector, forbiddenHostProblem } from './security-types.js';

export const RequestAuthenticationSpecSchema = obj({
  selector: SecuritySelectorSchema,
  jwtRules: arr(JwtRuleSchema, 'JWTs the selected workloads accept; a request with an invalid token is rejected, one without a token passes unauthenticated.'),
});

export type RequestAuthenticationSpec = Static<typeof RequestAuthenticationSpecSchema>;

const schema = obj({ spec: RequestAuthenticationSpecSchema, status: freeform() });

type Path = PathSegment[];

/**
 * Checks jwksUri: an absolute http(s) URL with a host, no credentials, and (Meltemi's SSRF rule)
 * no loopback, link-local, unspecified or cloud-metadata host.
 */
function checkJwksUri(issues: Issues, path: Path, uri: string): void {
  // Characters on which URL parsers disagree (WHATWG reads "\" as "/", Go refuses it) could make the
  // host we check differ from the host that is fetched.
  if (/[\s\\]/.test(uri) || [...uri].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) {
    issues.error(path, 'ra.jwks-uri', `jwksUri "${uri}" must not contain spaces, control characters or backslashes`);
    return;
  }
  if (!/^https?:\/\//i.test(uri)) {
    const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(uri)?.[1];
    issues.error(path, 'ra.jwks-uri', scheme ? `URI scheme "${scheme}" is not supported in jwksUri; use http:// or https://` : `jwksUri "${uri}" is not an absolute URL; use http://host/path or https://host/path`);
    return;
  }
  if (/^https?:\/\/[/?#]|^https?:\/\/$/i.test(uri)) {
    // WHATWG would read "https:///jwks.json" as host "jwks.json"; Go reads an empty host.
    issues.error(path, 'ra.jwks-uri', `jwksUri "${uri}" has no host`);
    return;
  }
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    issues.error(path, 'ra.jwks-uri', `jwksUri "${uri}" is not a valid URL`);
    return;
  }
  if (url.username !== '' || url.password !== '') {
    issues.error(path, 'ra.jwks-uri', 'jwksUri must not contain credentials (user:password@); the JWKS must be publicly readable');
    return;
  }
  if (url.port === '0') {
    issues.error(path, 'ra.jwks-uri', 'jwksUri port cannot be 0');
    return;
  }
  const forbidden = forbiddenHostProblem(url.hostname);
  if (forbidden) {
    issues.error(path, 'ra.jwks-uri-address', `jwksUri must not point at ${forbidden}: the key set is fetched from inside the control plane, so this would let a policy author read internal endpoints`);
    return;
  }
  if (url.protocol === 'http:') {
    issues.warn(path, 'ra.jwks-uri-plaintext', 'jwksUri uses plain http: whoever can tamper with that connection can substitute keys and forge tokens; use https');
  }
}

/** Checks an inline JWKS: JSON of a JSON Web Key Set with at least one key, each with a key type. */
function checkInlineJwks(issues: Issues, path: Path, text: string): void {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    issues.error(path, 'ra.jwks', `jwks is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
    return;
  }
  if (!isObject(doc) || !Array.isArray(doc.keys)) {
    issues.error(path, 'ra.jwks', 'jwks must be a JSON Web Key Set: an object with a "keys" list, e.g. {"keys": [{"kty": "RSA", "e": "AQAB", "n": "..."}]}');
    return;
  }
  if (doc.keys.length === 0) {
    issues.error(path, 'ra.jwks', 'jwks has no keys, so no token could ever be verified');
    return;
  }
  doc.keys.forEach((key, i) => {
    if (!isObject(key)) issues.error(path, 'ra.jwks', `jwks keys[${i}] must be an object`);
    else if (typeof key.kty !== 'string' || key.kty === '') issues.error(path, 'ra.jwks', `jwks keys[${i}] has no "kty" (key type such as RSA, EC or oct)`);
    else if (key.d !== undefined) {
      // "d" is the private exponent / private key of RSA, EC and OKP keys.
      issues.warn(path, 'ra.jwks-private-key', `jwks keys[${i}] contains private key material ("d"); publish only the public key, and replace this key since the resource has exposed it`);
    }
  });
}

function validateJwtRule(rule: Record<string, unknown>, path: Path, issues: Issues): void {
  const issuer = rule.issuer;
  if (issuer === undefined || issuer === '') issues.error([...path, 'issuer'], 'ra.issuer-required', 'issuer must be set');

  asArray(rule.audiences).forEach((aud, j) => {
    if (aud === '') issues.error([...path, 'audiences', j], 'ra.audience', 'audience must be a non-empty string');
  });

  const jwksUri = asString(rule.jwksUri);
  const jwks = asString(rule.jwks);
  if (jwksUri !== undefined && jwksUri !== '') checkJwksUri(issues, [...path, 'jwksUri'], jwksUri);
  if (jwks !== undefined && jwks !== '') checkInlineJwks(issues, [...path, 'jwks'], jwks);
  if (jwksUri && jwks) issues.warn([...path, 'jwksUri'], 'ra.jwks-both', 'both jwks and jwksUri are set: the inline jwks is used and jwksUri is ignored');

  asArray(rule.fromHeaders).forEach((h, j) => {
    const header = asObject(h);
    if (!header) return;
    const name = header.name;
    if (name === undefined || name === '') issues.error([...path, 'fromHeaders', j, 'name'], 'ra.from-header', 'location header name must be a non-empty string');
    else if (typeof name === 'string') {
      const p = headerNameProblem(name);
      if (p) issues.error([...path, 'fromHeaders', j, 'name'], 'ra.from-header', p);
    }
  });

  asArray(rule.fromParams).forEach((param, j) => {
    if (param === '') issues.error([...path, 'fromParams', j], 'ra.from-param', 'location query parameter must be a non-empty string');
  });

  const output = asString(rule.outputPayloadToHeader);
  if (output !== undefined && output !== '') {
    const p = headerNameProblem(output);
    if (p) issues.error([...path, 'outputPayloadToHeader'], 'ra.output-payload-header', p);
  }
}

function validateRequestAuthentication(res: Resource, issues: Issues): void {
  const spec = asObject(res.spec) ?? {};
  checkSecuritySelector(issues, ['spec', 'selector'], spec.selector, 'ra.selector-empty');

  const rules = asArray(spec.jwtRules);
  if (rules.length === 0 && (spec.jwtRules === undefined || Array.isArray(spec.jwtRules))) {
    issues.warn(['spec', 'jwtRules'], 'ra.no-rules', 'a RequestAuthentication without jwtRules has no effect');
  }
  const issuers = new Map<string, number>();
  rules.forEach((raw, i) => {
    const rule = asObject(raw);
    if (!rule) return;
    const path: Path = ['spec', 'jwtRules', i];
    validateJwtRule(rule, path, issues);
    const issuer = asString(rule.issuer);
    if (issuer) {
      const first = issuers.get(issuer);
      if (first !== undefined) issues.warn([...path, 'issuer'], 'ra.duplicate-issuer', `issuer "${issuer}" is already defined in jwtRules[${first}]; which rule verifies a token of this issuer is not defined — merge the rules`);
      else issuers.set(issuer, i);
    }
  });
}

export const requestAuthenticationKind: KindDef = {
  group: SECURITY_GROUP,
  kind: 'RequestAuthentication',
  plural: 'requestauthentications',
  singular: 'requestauthentication',
  shortNames: ['ra'],
  namespaced: true,
  nameFormat: 'dns1123-subdomain',
  description:
    'The JSON Web Tokens selected workloads verify (issuer, key set, token locations). Requests with an invalid token are rejected; to require a token, add an AuthorizationPolicy on requestPrincipals.',
  versions: [{ name: 'v1beta1', schema, validate: validateRequestAuthentication, storage: true }],
};

const ra = (rules: string, selector = '  selector: {matchLabels: {app: httpbin}}\n') =>
  `apiVersion: security.istio.io/v1beta1\nkind: RequestAuthentication\nmetadata: {name: jwt-example, namespace: foo}\nspec:\n${selector}  jwtRules:\n${rules}`;
const JWKS_URI = 'https://example.com/.well-known/jwks.json';

defineRules('RequestAuthentication', [
  { id: 'ra.issuer-required', severity: 'error', summary: 'Each JWT rule names its issuer.', examples: [{ yaml: ra(`  - jwksUri: ${JWKS_URI}\n`), field: 'spec.jwtRules[0].issuer' }] },
  { id: 'ra.audience', severity: 'error', summary: 'Audiences are non-empty strings.', examples: [{ yaml: ra(`  - issuer: issuer-foo\n    audiences: [bookinfo, ""]\n`), field: 'spec.jwtRules[0].audiences[1]' }] },
  {
    id: 'ra.jwks-uri',
    severity: 'error',
    summary: 'jwksUri is an absolute http:// or https:// URL with a host, without credentials, spaces or backslashes.',
    examples: [
      { yaml: ra('  - issuer: issuer-foo\n    jwksUri: ftp://example.com/jwks.json\n'), field: 'spec.jwtRules[0].jwksUri' },
      { yaml: ra('  - issuer: issuer-foo\n    jwksUri: example.com/jwks.json\n'), field: 'spec.jwtRules[0].jwksUri' },
    ],
  },
  {
    id: 'ra.jwks-uri-address',
    severity: 'error',
    summary: 'jwksUri may not point at loopback (127.0.0.0/8, ::1, localhost), link-local (169.254.0.0/16, fe80::/10), unspecified (0.0.0.0, ::) or cloud metadata addresses (169.254.169.254, metadata.google.internal, fd00:ec2::254, 100.100.100.200), in any spelling: the control plane fetches it (a Meltemi rule against SSRF).',
    examples: [
      { yaml: ra('  - issuer: issuer-foo\n    jwksUri: http://169.254.169.254/latest/meta-data/\n'), field: 'spec.jwtRules[0].jwksUri' },
      { yaml: ra('  - issuer: issuer-foo\n    jwksUri: https://localhost:15000/jwks\n'), field: 'spec.jwtRules[0].jwksUri' },
      { yaml: ra('  - issuer: issuer-foo\n    jwksUri: http://2130706433/jwks\n'), field: 'spec.jwtRules[0].jwksUri' },
    ],
  },
  { id: 'ra.jwks-uri-plaintext', severity: 'warning', summary: 'A jwksUri over plain http lets whoever can tamper with that connection substitute keys.', examples: [{ yaml: ra('  - issuer: issuer-foo\n    jwksUri: http://keys.example.com/jwks.json\n'), field: 'spec.jwtRules[0].jwksUri' }] },
  {
    id: 'ra.jwks',
    severity: 'error',
    summary: 'An inline jwks is the JSON of a JSON Web Key Set: {"keys": [...]} with at least one key, each with a "kty".',
    examples: [
      { yaml: ra('  - issuer: issuer-foo\n    jwks: "{keys: []"\n'), field: 'spec.jwtRules[0].jwks' },
      { yaml: ra('  - issuer: issuer-foo\n    jwks: \'{"keys": [{"e": "AQAB", "n": "xyz"}]}\'\n'), field: 'spec.jwtRules[0].jwks' },
    ],
  },
  { id: 'ra.jwks-private-key', severity: 'warning', summary: 'An inline jwks should hold public keys only; a key with private material ("d") is exposed by the resource.', examples: [{ yaml: ra('  - issuer: issuer-foo\n    jwks: \'{"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b", "d": "secret"}]}\'\n'), field: 'spec.jwtRules[0].jwks' }] },
  { id: 'ra.jwks-both', severity: 'warning', summary: 'When both jwks and jwksUri are set, jwksUri is ignored.', examples: [{ yaml: ra(`  - issuer: issuer-foo\n    jwksUri: ${JWKS_URI}\n    jwks: '{"keys": [{"kty": "RSA", "e": "AQAB", "n": "xyz"}]}'\n`), field: 'spec.jwtRules[0].jwksUri' }] },
  {
    id: 'ra.from-header',
    severity: 'error',
    summary: 'Each fromHeaders entry names a valid HTTP header.',
    examples: [
      { yaml: ra('  - issuer: issuer-foo\n    fromHeaders:\n    - prefix: "Bearer "\n'), field: 'spec.jwtRules[0].fromHeaders[0].name' },
      { yaml: ra('  - issuer: issuer-foo\n    fromHeaders:\n    - name: "x jwt"\n'), field: 'spec.jwtRules[0].fromHeaders[0].name' },
    ],
  },
  { id: 'ra.from-param', severity: 'error', summary: 'fromParams entries are non-empty query parameter names.', examples: [{ yaml: ra('  - issuer: issuer-foo\n    fromParams: [token, ""]\n'), field: 'spec.jwtRules[0].fromParams[1]' }] },
  { id: 'ra.output-payload-header', severity: 'error', summary: 'outputPayloadToHeader is a valid HTTP header name.', examples: [{ yaml: ra('  - issuer: issuer-foo\n    outputPayloadToHeader: "x-jwt payload"\n'), field: 'spec.jwtRules[0].outputPayloadToHeader' }] },
  { id: 'ra.duplicate-issuer', severity: 'warning', summary: 'Two JWT rules of one policy with the same issuer make it undefined which one verifies a token (Istio 1.6 accepts it; Meltemi warns).', examples: [{ yaml: ra(`  - issuer: issuer-foo\n    jwksUri: ${JWKS_URI}\n  - issuer: issuer-foo\n    fromHeaders: [{name: x-jwt}]\n`), field: 'spec.jwtRules[1].issuer' }] },
  { id: 'ra.no-rules', severity: 'warning', summary: 'A RequestAuthentication without jwtRules has no effect.', examples: [{ yaml: 'apiVersion: security.istio.io/v1beta1\nkind: RequestAuthentication\nmetadata: {name: jwt-example, namespace: foo}\nspec:\n  selector: {matchLabels: {app: httpbin}}\n', field: 'spec.jwtRules' }] },
  { id: 'ra.selector-empty', severity: 'warning', summary: 'A selector without matchLabels selects every workload of the namespace, as if absent.', examples: [{ yaml: ra('  - issuer: issuer-foo\n', '  selector: {matchLabels: {}}\n'), field: 'spec.selector.matchLabels' }] },
]);
