import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ALL_RESPONSE_FLAGS, RESPONSE_FLAG_CODES, ResponseFlag, flagBit, formatFlags, parseFlags } from '../../src/proxy/telemetry/response-flags.js';
import { LOCAL_REPLIES } from '../../src/proxy/http/local-replies.js';

test('no flag prints "-", as Envoy does', () => {
  assert.equal(formatFlags(0), '-');
});

test('bits keep Envoy’s values, so a flags word means the same to Envoy and Istio', () => {
  assert.equal(ResponseFlag.FailedLocalHealthCheck, 0x1);
  assert.equal(ResponseFlag.NoHealthyUpstream, 0x2);
  assert.equal(ResponseFlag.UpstreamOverflow, 0x80);
  assert.equal(ResponseFlag.DownstreamConnectionTermination, 0x4000);
  assert.equal(ResponseFlag.UpstreamRetryLimitExceeded, 0x8000);
  assert.equal(ResponseFlag.DownstreamProtocolError, 0x40000);
  assert.equal(ResponseFlag.UpstreamProtocolError, 0x800000);
  assert.equal(ResponseFlag.NoClusterFound, 0x1000000);
  assert.equal(ResponseFlag.OverloadManager, 0x2000000);
  // One bit each, none shared.
  const seen = new Set<number>();
  for (const f of RESPONSE_FLAG_CODES) {
    assert.equal(f.bit & (f.bit - 1), 0, `${f.code} is one bit`);
    assert.ok(!seen.has(f.bit));
    seen.add(f.bit);
  }
});

test('several flags are comma-joined in Envoy’s order (ascending bit), whatever order they were set in', () => {
  const bits = ResponseFlag.UpstreamRetryLimitExceeded | ResponseFlag.UpstreamOverflow | ResponseFlag.NoHealthyUpstream;
  assert.equal(formatFlags(bits), 'UH,UO,URX');
  assert.equal(formatFlags(ResponseFlag.DelayInjected | ResponseFlag.FaultInjected), 'DI,FI');
  // DC (0x4000) prints after the rate-limit flags and before URX, unlike the alphabetical guess.
  assert.equal(formatFlags(ResponseFlag.DownstreamConnectionTermination | ResponseFlag.RateLimited | ResponseFlag.UpstreamRetryLimitExceeded), 'RL,DC,URX');
  assert.equal(
    formatFlags(ALL_RESPONSE_FLAGS),
    'LH,UH,UT,LR,UR,UF,UC,UO,NR,DI,FI,RL,UAEX,RLSE,DC,URX,SI,IH,DPE,UMSDR,RFCF,NFCF,DT,UPE,NC,OM',
  );
});

test('bits Envoy does not define are ignored', () => {
  assert.equal(formatFlags(1 << 30), '-');
  assert.equal(formatFlags((1 << 30) | ResponseFlag.UpstreamRequestTimeout), 'UT');
});

test('a repeated word formats the same way every time (the text is cached)', () => {
  const bits = ResponseFlag.UpstreamConnectionFailure | ResponseFlag.UpstreamRetryLimitExceeded;
  assert.equal(formatFlags(bits), formatFlags(bits));
  assert.equal(formatFlags(bits), 'UF,URX');
});

test('short codes map back to bits; text parses back to the word', () => {
  for (const f of RESPONSE_FLAG_CODES) assert.equal(flagBit(f.code), f.bit);
  assert.equal(flagBit('XX'), 0);
  assert.equal(parseFlags('-'), 0);
  assert.equal(parseFlags('UH,URX'), ResponseFlag.NoHealthyUpstream | ResponseFlag.UpstreamRetryLimitExceeded);
  assert.equal(formatFlags(parseFlags('URX,UF')), 'UF,URX');
});

test('every flag the router’s local-reply table uses is a known Envoy code', () => {
  for (const [failure, rule] of Object.entries(LOCAL_REPLIES)) {
    if (rule.flag === '') continue;
    assert.notEqual(flagBit(rule.flag), 0, `${failure} uses ${rule.flag}`);
  }
});
