// Copies the non-TypeScript files the library loads at runtime into dist/, which tsc does not: the Redis store's
// Lua scripts (read relative to the compiled module with new URL('./scripts/x.lua', import.meta.url)).
import { cpSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
// `node scripts/copy-assets.mjs [storageDir]`: the library build copies into dist/storage, the sample into dist-sample/lib/storage.
const out = process.argv[2] ?? 'dist/storage';
const assets = [['lib/storage/redis/scripts', `${out}/redis/scripts`]];

for (const [from, to] of assets) {
  if (!existsSync(root + from)) throw new Error(`copy-assets: ${from} is missing`);
  cpSync(root + from, root + to, { recursive: true, filter: (src) => !src.endsWith('~') });
}
