/**
 * Copy the library's non-TypeScript assets (Lua scripts, SQL files) from `lib/` into `dist-bench/lib/`, since
 * `tsc` only emits JavaScript and the stores load their scripts from next to their compiled code.
 */
import { cp, readdir } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const from = join(root, 'lib');
const to = join(root, 'dist-bench', 'lib');

let copied = 0;
for (const entry of await readdir(from, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || /\.(ts|js|map)$/.test(entry.name)) continue;
  const source = join(entry.parentPath, entry.name);
  await cp(source, join(to, relative(from, source)));
  copied++;
}
console.error(`# copied ${copied} asset file(s) from lib/ to dist-bench/lib/`);
