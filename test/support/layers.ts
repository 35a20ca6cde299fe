import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/**
 * The layering rule of docs/architecture.md, as data. Each layer names the layers and packages it may import;
 * anything else is a violation. Entry points (`lib/*.ts`) may import anything: they assemble the layers.
 */
export interface Layer {
  name: string;
  /** Does a file (path relative to lib/, with `/`) belong to this layer? */
  owns: (file: string) => boolean;
  /** Layers this one may import (its own included; a backend only its own folder, unless named as `storage/<name>`). */
  mayImport: string[];
  /** Packages this one may import (`node:` built-ins always). */
  packages: RegExp;
}

const backend = (file: string) => /^storage\/[^/]+\//.exec(file)?.[0];

export const LAYERS: Layer[] = [
  { name: 'contract', owns: (f) => f.startsWith('contract/'), mayImport: ['contract'], packages: /^$/ },
  { name: 'testing', owns: (f) => f.startsWith('testing/'), mayImport: ['contract', 'testing'], packages: /^@jest\/globals$/ },
  { name: 'storage', owns: (f) => backend(f) !== undefined, mayImport: ['contract'], packages: /^(typeorm|ioredis)$/ },
  { name: 'core', owns: (f) => f.startsWith('core/'), mayImport: ['contract', 'core'], packages: /^cron$/ },
  { name: 'decorators', owns: (f) => f.startsWith('decorators/'), mayImport: ['contract', 'core', 'decorators'], packages: /^@nestjs\/common$/ },
  {
    name: 'nest',
    owns: (f) => f.startsWith('nest/'),
    // The memory store is the module's default store, the one backend the NestJS layer may build.
    mayImport: ['contract', 'core', 'decorators', 'nest', 'storage/memory'],
    // @nestjs/schedule (and the cron it brings) only in the files loaded lazily for the nestSchedule option.
    packages: /^(@nestjs\/(common|core|schedule)|rxjs|reflect-metadata|cron)$/,
  },
  // Health, metrics and tracing without NestJS: read the engine, its events and the contract; prom-client and
  // @opentelemetry/api are optional peers, each reached only from its own entry point.
  { name: 'monitoring', owns: (f) => f.startsWith('monitoring/'), mayImport: ['contract', 'core', 'monitoring'], packages: /^(prom-client|@opentelemetry\/api)$/ },
  {
    // The NestJS side of monitoring, loaded only from its own entry points (@uno/jobs/terminus, @uno/jobs/prometheus):
    // the one place @nestjs/terminus may be imported, so the root entry point never needs it.
    name: 'nest-monitoring',
    owns: (f) => f.startsWith('nest-monitoring/'),
    mayImport: ['contract', 'core', 'nest', 'monitoring', 'nest-monitoring'],
    packages: /^(@nestjs\/(common|core|terminus)|prom-client)$/,
  },
  {
    // The admin REST API, loaded only from @uno/jobs/admin: on the core and the NestJS layer's tokens.
    name: 'nest-admin',
    owns: (f) => f.startsWith('nest-admin/'),
    mayImport: ['contract', 'core', 'nest', 'nest-admin'],
    packages: /^@nestjs\/(common|core)$/,
  },
];

/** One import that breaks the rule. */
export interface Violation {
  file: string;
  specifier: string;
  reason: string;
}

function layerOf(file: string): Layer | undefined {
  return LAYERS.find((layer) => layer.owns(file));
}

/** Import specifiers of a TypeScript source: static imports and re-exports, dynamic `import()` and `require()`. */
export function importsOf(source: string): string[] {
  const found = new Set<string>();
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  for (const m of code.matchAll(/(?:^|[\s;}])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]/g)) found.add(m[1]!);
  for (const m of code.matchAll(/(?:^|[\s;])import\s*['"]([^'"]+)['"]/g)) found.add(m[1]!);
  for (const m of code.matchAll(/\b(?:import|require)\s*\(\s*['"]([^'"]+)['"]\s*\)/g)) found.add(m[1]!);
  return [...found];
}

/** Check one file (path relative to lib/) with its source; returns what it imports against the rule. */
export function checkFile(file: string, source: string): Violation[] {
  const layer = layerOf(file);
  if (!layer) return [];
  const violations: Violation[] = [];
  for (const specifier of importsOf(source)) {
    if (specifier.startsWith('node:')) continue;
    if (!specifier.startsWith('.')) {
      const pkg = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!;
      if (!layer.packages.test(pkg)) violations.push({ file, specifier, reason: `the ${layer.name} layer may not import the package "${pkg}"` });
      continue;
    }
    const target = relative('/lib', resolve('/lib', dirname(file), specifier)).replace(/\\/g, '/');
    const targetLayer = layerOf(target);
    if (!targetLayer) {
      violations.push({ file, specifier, reason: `"${target}" is an entry point or outside lib/; import the layer's own module instead` });
      continue;
    }
    if (targetLayer.name === 'storage') {
      const own = backend(file) !== undefined && backend(file) === backend(target);
      const allowed = own || layer.mayImport.some((l) => l.startsWith('storage/') && target.startsWith(`${l}/`));
      if (!allowed) violations.push({ file, specifier, reason: `the ${layer.name} layer may not import the backend "${backend(target)}"` });
      continue;
    }
    if (!layer.mayImport.includes(targetLayer.name)) {
      violations.push({ file, specifier, reason: `the ${layer.name} layer may not import the ${targetLayer.name} layer` });
    }
  }
  return violations;
}

/** Every `.ts` file under `libDir`, checked. */
export function checkTree(libDir: string): Violation[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) files.push(path);
    }
  };
  walk(libDir);
  return files.flatMap((path) => checkFile(relative(libDir, path).replace(/\\/g, '/'), readFileSync(path, 'utf8')));
}
