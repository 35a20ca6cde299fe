// Bundles the dashboard (ui/, Preact + uPlot) into one script and one stylesheet with hashed names, plus a
// manifest.json naming them, which the admin module reads to serve the page (lib/nest-admin/dashboard.ts).
// `node scripts/build-dashboard.mjs [outDir]`: the library build writes dist/dashboard, the sample dist-sample/lib/dashboard.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = resolve(root, process.argv[2] ?? 'dist/dashboard');

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const result = await build({
  entryPoints: { app: root + 'ui/main.tsx' },
  outdir: out,
  entryNames: '[name]-[hash]',
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2022',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
});
const files = Object.keys(result.metafile.outputs).map((f) => basename(f));
const pick = (ext) => {
  const found = files.filter((f) => f.endsWith(ext));
  if (found.length !== 1) throw new Error(`build-dashboard: expected one ${ext} output, got ${found.join(', ') || 'none'}`);
  return found[0];
};
writeFileSync(`${out}/manifest.json`, JSON.stringify({ script: pick('.js'), style: pick('.css') }, null, 2) + '\n');
