import { describe, it, expect } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { parser } from '@prometheus-io/lezer-promql';
import { Registry } from 'prom-client';
import { METRIC_NAMES, UnoJobsMetrics } from '../../lib/prometheus.js';
import { createEngine } from '../support/engine.js';

// docs/grafana/uno-jobs.json against the code: every PromQL expression parses (Prometheus's own grammar), and every
// uno_* series it reads is one UnoJobsMetrics registers, with labels that metric has. A renamed metric or label breaks
// this test, not the dashboard of a user.

const DASHBOARD = JSON.parse(readFileSync(new URL('../../docs/grafana/uno-jobs.json', import.meta.url), 'utf8'));

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: { expr: string; refId: string; datasource?: unknown }[];
  panels?: Panel[];
}

const panels: Panel[] = (DASHBOARD.panels as Panel[]).flatMap((p) => [p, ...(p.panels ?? [])]);
/** Grafana's `label_values(metric, label)` of a template variable, as its PromQL selector. */
const variableSelectors: string[] = DASHBOARD.templating.list
  .filter((v: { type: string }) => v.type === 'query')
  .map((v: { name: string; query: { query: string } }) => {
    const m = /^label_values\((.+),\s*(\w+)\)$/.exec(v.query.query);
    if (!m) throw new Error(`variable ${v.name}: ${v.query.query} is not label_values(metric, label)`);
    return m[1]!;
  });
/** Every expression of every panel, with where it is. */
const expressions: { where: string; expr: string }[] = [
  ...panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr }))),
  ...variableSelectors.map((expr) => ({ where: 'a template variable', expr })),
];

/** Grafana variables replaced by values PromQL accepts (durations where Grafana puts durations). */
function substitute(expr: string): string {
  return expr.replace(/\$\{?(\w+)\}?/g, (_, name: string) => (name.startsWith('__') ? '5m' : 'x'));
}

interface Selector {
  metric: string;
  labels: string[];
}

/** Parse with Prometheus's grammar; throws on a syntax error; returns the vector selectors it reads. */
function parsePromQL(expr: string): Selector[] {
  const text = substitute(expr);
  const selectors: Selector[] = [];
  const errors: string[] = [];
  parser.parse(text).iterate({
    enter(node) {
      if (node.type.isError) errors.push(`at ${node.from}: "${text.slice(Math.max(0, node.from - 10), node.to + 10)}"`);
      if (node.name === 'VectorSelector') {
        const n = node.node;
        const metric = n.getChild('Identifier');
        const matchers = n.getChild('LabelMatchers');
        selectors.push({
          metric: metric ? text.slice(metric.from, metric.to) : '',
          labels: matchers ? matchers.getChildren('UnquotedLabelMatcher').map((m) => { const l = m.getChild('LabelName')!; return text.slice(l.from, l.to); }) : [],
        });
      }
    },
  });
  if (errors.length) throw new Error(`PromQL syntax error in ${JSON.stringify(expr)} ${errors.join(', ')}`);
  return selectors;
}

/** The series Uno registers, with their labels: names from METRIC_NAMES, histograms with their three series. */
async function registeredSeries(): Promise<Map<string, string[]>> {
  const registry = new Registry();
  new UnoJobsMetrics(createEngine().uno, { registry, queueGauges: false });
  const series = new Map<string, string[]>();
  for (const { name, type } of await registry.getMetricsAsJSON()) {
    const labels = (registry.getSingleMetric(name) as unknown as { labelNames?: string[] }).labelNames ?? [];
    if (String(type) === 'histogram') {
      series.set(`${name}_bucket`, [...labels, 'le']);
      for (const suffix of ['_sum', '_count']) series.set(`${name}${suffix}`, labels);
    } else series.set(name, labels);
  }
  expect([...new Set([...series.keys()].map((s) => s.replace(/_(bucket|sum|count)$/, '')))].sort()).toEqual(
    Object.values(METRIC_NAMES).sort(),
  );
  return series;
}

describe('the Grafana dashboard (docs/grafana/uno-jobs.json)', () => {
  it('every PromQL expression parses', () => {
    expect(expressions.length).toBeGreaterThan(15);
    const failures = expressions.flatMap(({ where, expr }) => {
      try {
        parsePromQL(expr);
        return [];
      } catch (error) {
        return [`${where}: ${(error as Error).message}`];
      }
    });
    expect(failures).toEqual([]);
    // The parser does reject bad PromQL.
    expect(() => parsePromQL('sum(rate(uno_jobs_processed_total[$__rate_interval])')).toThrow(/syntax error/);
    expect(() => parsePromQL('histogram_quantile(0.9 sum(x))')).toThrow(/syntax error/);
  });

  it('reads only series Uno registers, filtered by labels they have', async () => {
    const series = await registeredSeries();
    const problems: string[] = [];
    const used = new Set<string>();
    for (const { where, expr } of expressions) {
      for (const { metric, labels } of parsePromQL(expr)) {
        if (!metric.startsWith('uno_')) {
          problems.push(`${where}: "${metric}" is not a uno_* metric`);
          continue;
        }
        used.add(metric);
        const known = series.get(metric);
        if (!known) problems.push(`${where}: "${metric}" is not registered (known: ${[...series.keys()].join(', ')})`);
        else for (const label of labels.filter((l) => !known.includes(l))) problems.push(`${where}: "${metric}" has no label "${label}"`);
      }
    }
    expect(problems).toEqual([]);
    // The figures are all there: throughput and failures, both histograms, utilisation, depth, stalls.
    expect([...used].sort()).toEqual(expect.arrayContaining([
      METRIC_NAMES.processed, METRIC_NAMES.enqueued, `${METRIC_NAMES.duration}_bucket`, `${METRIC_NAMES.wait}_bucket`,
      METRIC_NAMES.active, METRIC_NAMES.concurrency, METRIC_NAMES.queueJobs, METRIC_NAMES.stalled,
    ]));
  });

  it('is importable: a datasource variable every panel uses, a multi-value queue variable, unique panel ids and refIds', () => {
    expect(DASHBOARD.uid).toBe('uno-jobs');
    const variables = DASHBOARD.templating.list as { name: string; type: string; multi?: boolean; includeAll?: boolean }[];
    expect(variables.map((v) => [v.name, v.type])).toEqual([['datasource', 'datasource'], ['queue', 'query']]);
    expect(variables[1]).toMatchObject({ multi: true, includeAll: true });
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    for (const panel of panels.filter((p) => p.type !== 'row')) {
      expect([panel.title, panel.datasource]).toEqual([panel.title, { type: 'prometheus', uid: '${datasource}' }]);
      const refIds = panel.targets!.map((t) => t.refId);
      expect(new Set(refIds).size).toBe(refIds.length);
      // Every query of a queue's figures honours the queue variable (the stall counter has no queue label).
      for (const t of panel.targets!) if (!t.expr.includes('uno_jobs_stalled_total')) expect([panel.title, t.expr]).toEqual([panel.title, expect.stringContaining('queue=~"$queue"')]);
    }
  });
});
