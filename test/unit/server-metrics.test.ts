/**
 * ServerMetrics: the process series (prom-client's default metrics, whose event-loop lag runs a
 * timer every 10 ms) start at the first scrape, also when the latency histogram built the
 * registry at once (as `camwire server` does), so that a server nobody scrapes is not woken 100
 * times a second (docs/api.md, metrics).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ServerMetrics, type MetricSources } from '../../src/server/metrics.js';

const sources: MetricSources = { online: () => 0, connected: () => 0, links: () => 0, groups: () => 0, knownClients: () => 0, clients: () => [] };

test('server metrics - with the latency histogram on, the process series start at the first scrape, not before', async () => {
  const m = new ServerMetrics(sources, { perClient: false, latency: true, process: true });
  m.observeLatency(12);
  assert.equal(m.processSeries, false, 'process series running before any scrape');
  const text = await m.registry.metrics();
  assert.equal(m.processSeries, true);
  assert.match(text, /^camwire_video_latency_seconds_count 1$/m, 'the observation made before the first scrape is kept');
  assert.match(text, /^nodejs_eventloop_lag_seconds /m);
  assert.match(text, /^process_cpu_user_seconds_total \d/m);
  // A second scrape does not register them again (prom-client would throw on a duplicate name).
  assert.match(await m.registry.metrics(), /^process_cpu_user_seconds_total \d/m);
});

test('server metrics - process: false never starts the process series', async () => {
  const m = new ServerMetrics(sources, { perClient: false, latency: true, process: false });
  const text = await m.registry.metrics();
  assert.equal(m.processSeries, false);
  assert.doesNotMatch(text, /nodejs_eventloop_lag_seconds|process_cpu_user_seconds_total/);
  assert.match(text, /^camwire_video_latency_seconds_count 0$/m);
});
