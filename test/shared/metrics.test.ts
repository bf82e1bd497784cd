import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MetricsRegistry, PROMETHEUS_CONTENT_TYPE } from '../../src/shared/metrics.js';

test('renders counters, gauges and histograms in Prometheus text format 0.0.4', () => {
  const r = new MetricsRegistry();
  const pushes = r.counter('pilot_xds_pushes', 'Pilot build and send errors for lds, rds, cds and eds.', ['type']);
  const xds = r.gauge('pilot_xds', 'Number of endpoints connected to this pilot using XDS.', ['version']);
  const conv = r.histogram('pilot_proxy_convergence_time', 'Delay in seconds.', [], [0.1, 1]);
  pushes.inc({ type: 'cds' });
  pushes.inc({ type: 'cds' }, 2);
  pushes.inc({ type: 'eds' });
  xds.set({ version: '1.0' }, 3);
  conv.observe(undefined, 0.05);
  conv.observe(undefined, 0.5);
  conv.observe(undefined, 5);
  assert.equal(
    r.render(),
    [
      '# HELP pilot_xds_pushes Pilot build and send errors for lds, rds, cds and eds.',
      '# TYPE pilot_xds_pushes counter',
      'pilot_xds_pushes{type="cds"} 3',
      'pilot_xds_pushes{type="eds"} 1',
      '# HELP pilot_xds Number of endpoints connected to this pilot using XDS.',
      '# TYPE pilot_xds gauge',
      'pilot_xds{version="1.0"} 3',
      '# HELP pilot_proxy_convergence_time Delay in seconds.',
      '# TYPE pilot_proxy_convergence_time histogram',
      'pilot_proxy_convergence_time_bucket{le="0.1"} 1',
      'pilot_proxy_convergence_time_bucket{le="1"} 2',
      'pilot_proxy_convergence_time_bucket{le="+Inf"} 3',
      'pilot_proxy_convergence_time_sum 5.55',
      'pilot_proxy_convergence_time_count 3',
      '',
    ].join('\n'),
  );
  assert.equal(PROMETHEUS_CONTENT_TYPE, 'text/plain; version=0.0.4; charset=utf-8');
});

test('label values are escaped; unknown labels, bad names and decreasing counters are refused', () => {
  const r = new MetricsRegistry();
  const c = r.counter('x_total', 'help with \\ and\nnewline', ['path']);
  c.inc({ path: 'a"b\\c\nd' });
  assert.match(r.render(), /^# HELP x_total help with \\\\ and\\nnewline$/m);
  assert.match(r.render(), /^x_total\{path="a\\"b\\\\c\\nd"\} 1$/m);
  assert.throws(() => c.inc({ nope: 'x' }), /has no label nope/);
  assert.throws(() => c.inc(undefined, -1), /only go up/);
  assert.throws(() => r.counter('bad-name', 'h'), /invalid metric name/);
  assert.throws(() => r.histogram('h', 'h', ['le'], [1]), /reserved/);
  assert.throws(() => r.gauge('x_total', 'h'), /already registered as a counter/);
  assert.equal(r.counter('x_total', 'h', ['path']), c, 'registering again returns the same metric');
});
