// RequestAuthentication validation: Istio 1.6's JWT rule checks, inline JWKS, and Meltemi's SSRF rule on jwksUri.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { check, expectError, expectValid, expectWarning } from '../helpers/validation.js';

const ra = (rules: string, selector = '  selector:\n    matchLabels: {app: httpbin}\n') =>
  `apiVersion: security.istio.io/v1beta1\nkind: RequestAuthentication\nmetadata: {name: jwt-example, namespace: foo}\nspec:\n${selector}  jwtRules:\n${rules}`;
/** One JWT rule with issuer-foo and the given extra fields (YAML, indented for the rule). */
const rule = (fields: string) => ra(`  - issuer: issuer-foo\n${fields}`);
const uri = (u: string) => rule(`    jwksUri: "${u}"\n`);

const JWKS_URI = 'spec.jwtRules[0].jwksUri';

const invalid: Array<{ name: string; yaml: string; rule: string; field: string; message?: string }> = [
  { name: 'a JWT rule without issuer', yaml: ra('  - jwksUri: https://example.com/jwks.json\n'), rule: 'ra.issuer-required', field: 'spec.jwtRules[0].issuer' },
  { name: 'an empty issuer', yaml: ra('  - issuer: ""\n'), rule: 'ra.issuer-required', field: 'spec.jwtRules[0].issuer' },
  { name: 'an empty audience', yaml: rule('    audiences: [bookinfo, ""]\n'), rule: 'ra.audience', field: 'spec.jwtRules[0].audiences[1]' },
  { name: 'a jwksUri with an ftp scheme', yaml: uri('ftp://example.com/jwks.json'), rule: 'ra.jwks-uri', field: JWKS_URI, message: 'scheme "ftp"' },
  { name: 'a jwksUri with a file scheme', yaml: uri('file:///etc/istio/jwks.json'), rule: 'ra.jwks-uri', field: JWKS_URI },
  { name: 'a jwksUri without scheme', yaml: uri('example.com/jwks.json'), rule: 'ra.jwks-uri', field: JWKS_URI, message: 'not an absolute URL' },
  { name: 'a jwksUri without slashes after the scheme', yaml: uri('https:example.com/jwks.json'), rule: 'ra.jwks-uri', field: JWKS_URI },
  { name: 'a jwksUri without host', yaml: uri('https:///jwks.json'), rule: 'ra.jwks-uri', field: JWKS_URI },
  { name: 'a jwksUri with spaces', yaml: uri('https://example.com/my jwks.json'), rule: 'ra.jwks-uri', field: JWKS_URI },
  { name: 'a jwksUri with a backslash (parsers disagree on its host)', yaml: rule('    jwksUri: \'https://example.com\\@127.0.0.1/jwks\'\n'), rule: 'ra.jwks-uri', field: JWKS_URI, message: 'backslashes' },
  { name: 'a jwksUri with credentials', yaml: uri('https://user:secret@example.com/jwks.json'), rule: 'ra.jwks-uri', field: JWKS_URI, message: 'credentials' },
  { name: 'a jwksUri with port 0', yaml: uri('https://example.com:0/jwks.json'), rule: 'ra.jwks-uri', field: JWKS_URI },
  { name: 'a jwksUri with a port over 65535', yaml: uri('https://example.com:70000/jwks.json'), rule: 'ra.jwks-uri', field: JWKS_URI },
  { name: 'an inline jwks that is not JSON', yaml: rule('    jwks: "{keys: ["\n'), rule: 'ra.jwks', field: 'spec.jwtRules[0].jwks', message: 'not valid JSON' },
  { name: 'an inline jwks that is a single key, not a set', yaml: rule('    jwks: \'{"kty": "RSA", "e": "AQAB", "n": "xyz"}\'\n'), rule: 'ra.jwks', field: 'spec.jwtRules[0].jwks', message: '"keys" list' },
  { name: 'an inline jwks with no keys', yaml: rule('    jwks: \'{"keys": []}\'\n'), rule: 'ra.jwks', field: 'spec.jwtRules[0].jwks', message: 'no keys' },
  { name: 'an inline jwks with a key without kty', yaml: rule('    jwks: \'{"keys": [{"e": "AQAB", "n": "xyz"}]}\'\n'), rule: 'ra.jwks', field: 'spec.jwtRules[0].jwks', message: 'keys[0] has no "kty"' },
  { name: 'an inline jwks whose key is not an object', yaml: rule('    jwks: \'{"keys": ["RSA"]}\'\n'), rule: 'ra.jwks', field: 'spec.jwtRules[0].jwks' },
  { name: 'a fromHeaders entry without name', yaml: rule('    fromHeaders:\n    - prefix: "Bearer "\n'), rule: 'ra.from-header', field: 'spec.jwtRules[0].fromHeaders[0].name' },
  { name: 'a fromHeaders name with a space', yaml: rule('    fromHeaders:\n    - name: x-jwt\n    - name: "x jwt"\n'), rule: 'ra.from-header', field: 'spec.jwtRules[0].fromHeaders[1].name' },
  { name: 'an empty fromParams entry', yaml: rule('    fromParams: [token, ""]\n'), rule: 'ra.from-param', field: 'spec.jwtRules[0].fromParams[1]' },
  { name: 'an invalid outputPayloadToHeader', yaml: rule('    outputPayloadToHeader: "x-jwt:payload"\n'), rule: 'ra.output-payload-header', field: 'spec.jwtRules[0].outputPayloadToHeader' },
  { name: 'a wildcard selector label', yaml: ra('  - issuer: issuer-foo\n', '  selector:\n    matchLabels: {"app*": httpbin}\n'), rule: 'common.labels', field: 'spec.selector.matchLabels["app*"]', message: 'wildcard' },
  { name: 'a snake_case jwks_uri field', yaml: rule('    jwks_uri: https://example.com/jwks.json\n'), rule: 'schema.unknown-field', field: 'spec.jwtRules[0].jwks_uri', message: 'did you mean "jwksUri"' },
  { name: 'a v1alpha1 jwtHeaders field', yaml: rule('    jwtHeaders: [x-jwt]\n'), rule: 'schema.unknown-field', field: 'spec.jwtRules[0].jwtHeaders' },
  { name: 'a non-boolean forwardOriginalToken', yaml: rule('    forwardOriginalToken: "yes"\n'), rule: 'schema.type', field: 'spec.jwtRules[0].forwardOriginalToken' },
  { name: 'fromParams given as a string', yaml: rule('    fromParams: token\n'), rule: 'schema.type', field: 'spec.jwtRules[0].fromParams' },
];

// Meltemi's SSRF rule: every spelling of a loopback, link-local, unspecified or metadata address.
const forbiddenUris: Array<[string, string]> = [
  ['http://127.0.0.1/jwks', 'loopback'],
  ['http://127.8.9.10:8080/jwks', 'loopback'],
  ['https://localhost/jwks', 'loopback'],
  ['https://LOCALHOST./jwks', 'loopback'],
  ['https://keys.localhost/jwks', 'loopback'],
  ['http://[::1]:15000/jwks', 'loopback'],
  ['http://[0:0:0:0:0:0:0:1]/jwks', 'loopback'],
  ['http://2130706433/jwks', 'loopback'],
  ['http://0x7f.1/jwks', 'loopback'],
  ['http://127.1/jwks', 'loopback'],
  ['http://0177.0.0.1/jwks', 'loopback'],
  ['http://[::ffff:127.0.0.1]/jwks', 'loopback'],
  ['http://0.0.0.0:15014/jwks', 'unspecified'],
  ['http://[::]/jwks', 'unspecified'],
  ['http://169.254.169.254/latest/meta-data/iam/security-credentials/', 'metadata'],
  ['http://[::ffff:169.254.169.254]/latest/', 'metadata'],
  ['http://169.254.10.20/jwks', 'link-local'],
  ['http://[fe80::1]/jwks', 'link-local'],
  ['http://[febf:ffff::1]/jwks', 'link-local'],
  ['http://metadata.google.internal/computeMetadata/v1/', 'metadata'],
  ['http://metadata.google.internal./computeMetadata/v1/', 'metadata'],
  ['http://metadata/computeMetadata/v1/', 'metadata'],
  ['http://[fd00:ec2::254]/latest/meta-data/', 'metadata'],
  ['http://100.100.100.200/latest/meta-data/', 'metadata'],
];
for (const [u, what] of forbiddenUris) {
  invalid.push({ name: `a jwksUri at ${u}`, yaml: uri(u), rule: 'ra.jwks-uri-address', field: JWKS_URI, message: what });
}

for (const c of invalid) {
  test(`RequestAuthentication: refuses ${c.name}`, () => {
    expectError(c.yaml, c.rule, c.field, c.message);
  });
}

test('RequestAuthentication: accepts public jwksUri hosts next to the forbidden ranges', () => {
  for (const u of ['https://100.100.100.201/jwks', 'https://169.255.0.1/jwks', 'https://126.255.255.255/jwks', 'https://[fec0::1]/jwks', 'https://[2001:db8::1]:8443/jwks', 'https://localhost.example.com/jwks', 'https://metadata.example.com/jwks', 'https://www.googleapis.com/oauth2/v3/certs']) {
    const r = check(uri(u));
    assert.deepEqual(r.errors, [], `${u} should be accepted`);
  }
});

test('RequestAuthentication: reports the SSRF rule, not the plaintext warning, for http://169.254.169.254', () => {
  const r = check(uri('http://169.254.169.254/'));
  assert.equal(r.errors.length, 1);
  assert.equal(r.errors[0]!.rule, 'ra.jwks-uri-address');
  assert.equal(r.warnings.filter((w) => w.rule === 'ra.jwks-uri-plaintext').length, 0);
});

test('RequestAuthentication: accepts a complete JWT rule with every field', () => {
  expectValid(
    rule(
      '    audiences: [bookinfo.com, productpage]\n' +
        '    jwksUri: https://raw.githubusercontent.com/istio/istio/release-1.6/security/tools/jwt/samples/jwks.json\n' +
        '    fromHeaders:\n    - name: x-jwt-assertion\n    - name: Authorization\n      prefix: "Bearer "\n' +
        '    fromParams: [my_token]\n' +
        '    outputPayloadToHeader: x-jwt-payload\n' +
        '    forwardOriginalToken: true\n',
    ),
    { noWarnings: true },
  );
});

test('RequestAuthentication: accepts an inline JWKS with an RSA public key', () => {
  expectValid(rule('    jwks: \'{"keys": [{"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig", "e": "AQAB", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw"}]}\'\n'), { noWarnings: true });
});

test('RequestAuthentication: accepts a rule that relies on OpenID discovery (no jwksUri, no jwks)', () => {
  expectValid(rule(''), { noWarnings: true });
});

test('RequestAuthentication: warns about a plain-http jwksUri but accepts it (Istio does)', () => {
  expectWarning(uri('http://keys.example.com/jwks.json'), 'ra.jwks-uri-plaintext', JWKS_URI);
  expectValid(uri('http://keys.example.com/jwks.json'));
});

test('RequestAuthentication: warns about duplicate issuers in one policy (Istio 1.6 accepts them)', () => {
  const yaml = ra('  - issuer: issuer-foo\n    fromHeaders: [{name: x-a}]\n  - issuer: issuer-bar\n  - issuer: issuer-foo\n    fromHeaders: [{name: x-b}]\n');
  const w = expectWarning(yaml, 'ra.duplicate-issuer', 'spec.jwtRules[2].issuer');
  assert.match(w.message, /jwtRules\[0\]/);
  expectValid(yaml);
});

test('RequestAuthentication: warns when jwks and jwksUri are both set, and about private keys in jwks', () => {
  const jwks = '\'{"keys": [{"kty": "RSA", "e": "AQAB", "n": "xyz", "d": "private"}]}\'';
  const yaml = rule(`    jwksUri: https://example.com/jwks.json\n    jwks: ${jwks}\n`);
  expectWarning(yaml, 'ra.jwks-both', JWKS_URI);
  expectWarning(yaml, 'ra.jwks-private-key', 'spec.jwtRules[0].jwks');
  expectValid(yaml);
});

test('RequestAuthentication: warns about a policy without jwtRules and an empty selector', () => {
  const yaml = 'apiVersion: security.istio.io/v1beta1\nkind: RequestAuthentication\nmetadata: {name: none, namespace: foo}\nspec:\n  selector: {matchLabels: {}}\n';
  expectWarning(yaml, 'ra.no-rules', 'spec.jwtRules');
  expectWarning(yaml, 'ra.selector-empty', 'spec.selector.matchLabels');
  expectValid(yaml);
});

test('RequestAuthentication: warns that a policy without spec has no effect', () => {
  expectWarning('apiVersion: security.istio.io/v1beta1\nkind: RequestAuthentication\nmetadata: {name: none, namespace: foo}\n', 'ra.no-rules', 'spec.jwtRules');
});

test('RequestAuthentication: reports every problem of several rules at once', () => {
  const r = check(ra('  - audiences: [""]\n  - issuer: b\n    jwksUri: http://localhost/\n    fromParams: [""]\n'));
  assert.deepEqual(r.errors.map((e) => e.rule).sort(), ['ra.audience', 'ra.from-param', 'ra.issuer-required', 'ra.jwks-uri-address']);
});
