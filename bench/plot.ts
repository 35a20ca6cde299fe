/**
 * Turn `bench/results/<suite>.jsonl` (written by `bench/run.js`) into SVG bar charts under `docs/img/`:
 * `bench-<suite>-throughput.svg` (jobs per second per scenario, one bar per library, log scale) and, when the suite
 * has peers, `bench-<suite>-ratios.svg` (Uno / peer per scenario, with the 1.0 line). Also prints the figures and
 * ratios as Markdown tables on stdout, ready for docs/benchmarks.md.
 *
 *   node dist-bench/bench/plot.js [suite ...]      (default: every results file present)
 *
 * Plain SVG strings, no dependencies.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Figure {
  lib: string;
  backend: string;
  scenario: string;
  concurrency: number;
  workers: number;
  jobs_per_s?: number;
  p50_ms?: number;
  p99_ms?: number;
}

interface Ratio {
  ratio: string;
  uno_backend: string;
  scenario: string;
  concurrency: number;
  workers: number;
  metric: string;
  value: number;
}

/** A group of bars (one scenario) with one value per series (library). */
interface Chart {
  title: string;
  unit: string;
  groups: string[];
  series: { name: string; values: (number | null)[] }[];
  log: boolean;
  /** Draw a reference line at this value (e.g. 1.0 for ratios). */
  reference?: number;
}

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const COLORS = ['#2f6fdf', '#e4572e', '#29a35a', '#f2a541', '#8e44ad', '#555555', '#17becf'];

function scenarioLabel(f: { scenario: string; concurrency: number; workers: number }): string {
  if (f.scenario === 'process') return `process c=${f.concurrency}${f.workers > 1 ? ` ×${f.workers}p` : ''}`;
  return f.scenario;
}

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function fmt(value: number): string {
  if (value >= 10_000) return `${Math.round(value / 1000)}k`;
  if (value >= 1000) return `${(value / 1000).toFixed(1)}k`;
  if (value >= 10) return String(Math.round(value));
  return value.toFixed(2);
}

/** Render a grouped bar chart as an SVG document. */
export function barChart(chart: Chart): string {
  const width = 920;
  const height = 420;
  const left = 70;
  const right = 20;
  const top = 50;
  const bottom = 80;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const values = chart.series.flatMap((s) => s.values).filter((v): v is number => v !== null && v > 0);
  const max = Math.max(...values, chart.reference ?? 0) * 1.15;
  const min = chart.log ? Math.max(Math.min(...values) / 2, 1e-3) : 0;
  const y = (v: number) =>
    chart.log
      ? top + plotH - ((Math.log10(Math.max(v, min)) - Math.log10(min)) / (Math.log10(max) - Math.log10(min))) * plotH
      : top + plotH - (v / max) * plotH;
  const groupW = plotW / Math.max(1, chart.groups.length);
  const barW = Math.min(34, (groupW * 0.8) / Math.max(1, chart.series.length));
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(chart.title)}</text>`);
  // Axis ticks: powers of ten on a log scale, five even steps on a linear one.
  const ticks: number[] = [];
  if (chart.log) {
    for (let p = Math.ceil(Math.log10(min)); 10 ** p <= max; p++) ticks.push(10 ** p);
  } else {
    for (let k = 0; k <= 5; k++) ticks.push((max / 1.15) * (k / 5));
  }
  for (const t of ticks) {
    out.push(`<line x1="${left}" x2="${width - right}" y1="${y(t)}" y2="${y(t)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${left - 6}" y="${y(t) + 4}" text-anchor="end" fill="#555">${fmt(t)}</text>`);
  }
  out.push(`<text x="16" y="${top + plotH / 2}" transform="rotate(-90 16 ${top + plotH / 2})" text-anchor="middle" fill="#333">${esc(chart.unit)}</text>`);
  chart.groups.forEach((group, g) => {
    const x0 = left + g * groupW + (groupW - barW * chart.series.length) / 2;
    chart.series.forEach((series, s) => {
      const v = series.values[g];
      if (v === null || v === undefined || v <= 0) return;
      const x = x0 + s * barW;
      const yv = y(v);
      out.push(`<rect x="${x}" y="${yv}" width="${barW - 2}" height="${top + plotH - yv}" fill="${COLORS[s % COLORS.length]}"><title>${esc(`${series.name} ${group}: ${v}`)}</title></rect>`);
      out.push(`<text x="${x + (barW - 2) / 2}" y="${yv - 3}" text-anchor="middle" font-size="9" fill="#333">${fmt(v)}</text>`);
    });
    out.push(`<text x="${left + g * groupW + groupW / 2}" y="${top + plotH + 16}" text-anchor="middle">${esc(group)}</text>`);
  });
  if (chart.reference !== undefined) {
    out.push(`<line x1="${left}" x2="${width - right}" y1="${y(chart.reference)}" y2="${y(chart.reference)}" stroke="#000" stroke-dasharray="4 3"/>`);
  }
  out.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#333"/>`);
  out.push(`<line x1="${left}" x2="${width - right}" y1="${top + plotH}" y2="${top + plotH}" stroke="#333"/>`);
  chart.series.forEach((series, s) => {
    const x = left + s * 170;
    const ly = height - 22;
    out.push(`<rect x="${x}" y="${ly - 10}" width="12" height="12" fill="${COLORS[s % COLORS.length]}"/>`);
    out.push(`<text x="${x + 16}" y="${ly}">${esc(series.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

async function plotSuite(suite: string): Promise<string[]> {
  const file = join(ROOT, 'bench', 'results', `${suite}.jsonl`);
  const lines = (await readFile(file, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  const figures = lines.filter((l) => 'lib' in l) as unknown as Figure[];
  const ratios = lines.filter((l) => 'ratio' in l) as unknown as Ratio[];
  const written: string[] = [];
  await mkdir(join(ROOT, 'docs', 'img'), { recursive: true });

  const throughput = figures.filter((f) => f.jobs_per_s !== undefined);
  const names = [...new Set(throughput.map((f) => `${f.lib} (${f.backend})`))];
  const groups = [...new Set(throughput.map(scenarioLabel))];
  if (throughput.length) {
    const chart: Chart = {
      title: `${suite}: jobs per second (median, log scale)`,
      unit: 'jobs/s',
      groups,
      log: true,
      series: names.map((name) => ({
        name,
        values: groups.map((g) => throughput.find((f) => `${f.lib} (${f.backend})` === name && scenarioLabel(f) === g)?.jobs_per_s ?? null),
      })),
    };
    const out = join(ROOT, 'docs', 'img', `bench-${suite}-throughput.svg`);
    await writeFile(out, barChart(chart));
    written.push(out);
  }

  // The chart compares like with like (Uno on the peers' own server); the tables keep every pairing.
  const sameServer = ratios.filter((r) => r.uno_backend === (r as Ratio & { peer_backend?: string }).peer_backend);
  if (sameServer.length) {
    const ratios = sameServer;
    const rnames = [...new Set(ratios.map((r) => `${r.ratio} (uno on ${r.uno_backend})`))];
    const rgroups = [...new Set(ratios.map((r) => (r.metric === 'p99_ms' ? 'latency p99 (↓)' : scenarioLabel(r))))];
    const chart: Chart = {
      title: `${suite}: Uno / peer, same run (above 1 = Uno faster; latency: below 1 = Uno better)`,
      unit: 'ratio',
      groups: rgroups,
      log: true,
      reference: 1,
      series: rnames.map((name) => ({
        name,
        values: rgroups.map(
          (g) =>
            ratios.find(
              (r) => `${r.ratio} (uno on ${r.uno_backend})` === name && (r.metric === 'p99_ms' ? 'latency p99 (↓)' : scenarioLabel(r)) === g,
            )?.value ?? null,
        ),
      })),
    };
    const out = join(ROOT, 'docs', 'img', `bench-${suite}-ratios.svg`);
    await writeFile(out, barChart(chart));
    written.push(out);
  }
  console.log(markdown(suite, figures, ratios));
  return written;
}

/** The suite's figures (one row per scenario, one column per library) and ratios as Markdown tables. */
function markdown(suite: string, figures: Figure[], ratios: Ratio[]): string {
  const out: string[] = [`### ${suite}`, ''];
  const names = [...new Set(figures.map((f) => `${f.lib} (${f.backend})`))];
  const rows = [...new Set(figures.map((f) => `${f.scenario}|${f.concurrency}|${f.workers}`))];
  out.push(`| scenario | c | workers | ${names.join(' | ')} |`, `| --- | --: | --: | ${names.map(() => '--:').join(' | ')} |`);
  for (const row of rows) {
    const [scenario, c, w] = row.split('|');
    const cells = names.map((name) => {
      const f = figures.find((x) => `${x.lib} (${x.backend})` === name && `${x.scenario}|${x.concurrency}|${x.workers}` === row);
      if (!f) return '–';
      if (f.scenario === 'latency') return `${f.p50_ms} / ${f.p99_ms} ms`;
      return String(f.jobs_per_s);
    });
    out.push(`| ${scenario === 'latency' ? 'latency p50 / p99' : scenario} | ${c} | ${w} | ${cells.join(' | ')} |`);
  }
  if (ratios.length) {
    const cols = [...new Set(ratios.map((r) => `${r.ratio} (${r.uno_backend})`))];
    const rrows = [...new Set(ratios.map((r) => `${r.scenario}|${r.concurrency}|${r.workers}`))];
    out.push('', `| scenario | c | workers | ${cols.join(' | ')} |`, `| --- | --: | --: | ${cols.map(() => '--:').join(' | ')} |`);
    for (const row of rrows) {
      const [scenario, c, w] = row.split('|');
      const cells = cols.map((col) => {
        const r = ratios.find((x) => `${x.ratio} (${x.uno_backend})` === col && `${x.scenario}|${x.concurrency}|${x.workers}` === row);
        return r ? `${r.value}${'min' in r ? ` (${(r as Ratio & { min: number; max: number }).min}–${(r as Ratio & { min: number; max: number }).max})` : ''}` : '–';
      });
      out.push(`| ${scenario === 'latency' ? 'latency p99 (lower = Uno better)' : scenario} | ${c} | ${w} | ${cells.join(' | ')} |`);
    }
  }
  return out.join('\n') + '\n';
}

const requested = process.argv.slice(2);
const suites = requested.length
  ? requested
  : ['memory', 'redis', 'postgres', 'mariadb'].filter((s) => existsSync(join(ROOT, 'bench', 'results', `${s}.jsonl`)));
for (const suite of suites) {
  for (const file of await plotSuite(suite)) console.error(`# wrote ${file}`);
}
