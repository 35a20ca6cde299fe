// Copies the non-TypeScript files the library loads at runtime into dist/, which tsc does not: the Redis store's
// Lua scripts (read relative to the compiled module with new URL('./scripts/x.lua', import.meta.url)).
import { cpSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const assets = [['lib/storage/redis/scripts', 'dist/storage/redis/scripts']];

for (const [from, to] of assets) {
  if (!existsSync(root + from)) throw new Error(`copy-assets: ${from} is missing`);
  cpSync(root + from, root + to, { recursive: true, filter: (src) => !src.endsWith('~') });
}
