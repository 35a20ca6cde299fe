import { describe, it, expect } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkFile, checkTree, importsOf } from '../support/layers.js';

const LIB = fileURLToPath(new URL('../../lib', import.meta.url));

describe('layers point one way (docs/architecture.md)', () => {
  it('lib/ has no import against the rule: contract at the bottom, backends on the contract, core without backends', () => {
    expect(checkTree(LIB)).toEqual([]);
  });

  it('flags a backend importing the core, the core importing a backend, and the contract importing anything above it', () => {
    expect(checkFile('storage/redis/redis.storage.ts', `import { jobInfo } from '../../core/job.js';`)).toEqual([
      { file: 'storage/redis/redis.storage.ts', specifier: '../../core/job.js', reason: 'the storage layer may not import the core layer' },
    ]);
    expect(checkFile('core/uno-jobs.ts', `const m = await import('../storage/redis/redis.storage.js');`)[0]!.reason).toBe(
      'the core layer may not import the backend "storage/redis/"',
    );
    expect(checkFile('contract/job.ts', `export type { JobInfo } from '../core/job.js';`)[0]!.reason).toBe(
      'the contract layer may not import the core layer',
    );
    expect(checkFile('storage/memory/x.ts', `import { RedisKeys } from '../redis/codec.js';`)[0]!.reason).toBe(
      'the storage layer may not import the backend "storage/redis/"',
    );
    expect(checkFile('core/x.ts', `import { Injectable } from '@nestjs/common';`)[0]!.reason).toBe(
      'the core layer may not import the package "@nestjs/common"',
    );
    expect(checkFile('contract/x.ts', `import type { DataSource } from 'typeorm';`)).toHaveLength(1);
    expect(checkFile('core/x.ts', `import { UnoJobsModule } from '../index.js';`)[0]!.reason).toMatch(/entry point/);
  });

  it('allows what the rule allows', () => {
    expect(checkFile('storage/redis/a.ts', `import { x } from './b.js';\nimport type { JobRecord } from '../../contract/job.js';\nimport Redis from 'ioredis';`)).toEqual([]);
    expect(checkFile('nest/storage.ts', `import { MemoryJobStorage } from '../storage/memory/memory.storage.js';`)).toEqual([]);
    expect(checkFile('index.ts', `export * from './storage/redis/redis.storage.js';`)).toEqual([]);
  });

  it('keeps @nestjs/terminus and prom-client behind their own entry points: only nest-monitoring/ and monitoring/ may import them', () => {
    expect(checkFile('nest/x.ts', `import { HealthIndicatorService } from '@nestjs/terminus';`)[0]!.reason).toBe(
      'the nest layer may not import the package "@nestjs/terminus"',
    );
    expect(checkFile('core/x.ts', `import { Counter } from 'prom-client';`)[0]!.reason).toBe('the core layer may not import the package "prom-client"');
    expect(checkFile('monitoring/x.ts', `import { Injectable } from '@nestjs/common';`)[0]!.reason).toBe(
      'the monitoring layer may not import the package "@nestjs/common"',
    );
    expect(checkFile('nest/x.ts', `import { checkHealth } from '../monitoring/health-check.js';`)[0]!.reason).toBe(
      'the nest layer may not import the monitoring layer',
    );
    expect(checkFile('nest-monitoring/x.ts', `import { HealthIndicatorService } from '@nestjs/terminus';\nimport { Counter } from 'prom-client';\nimport { UNO_JOBS } from '../nest/tokens.js';`)).toEqual([]);
  });

  it('keeps @opentelemetry/api out of the core and the NestJS layer: only monitoring/ may import it', () => {
    expect(checkFile('core/x.ts', `import { trace } from '@opentelemetry/api';`)[0]!.reason).toBe(
      'the core layer may not import the package "@opentelemetry/api"',
    );
    expect(checkFile('nest/x.ts', `import type { Span } from '@opentelemetry/api';`)[0]!.reason).toBe(
      'the nest layer may not import the package "@opentelemetry/api"',
    );
    expect(checkFile('monitoring/x.ts', `import { trace } from '@opentelemetry/api';`)).toEqual([]);
  });

  it('each optional peer is reached only from its own entry point, following every relative import', () => {
    const optional = ['@nestjs/terminus', 'prom-client', '@opentelemetry/api'];
    const reached = (entry: string) => {
      const packages = new Set<string>();
      const seen = new Set<string>();
      const visit = (file: string) => {
        if (seen.has(file)) return;
        seen.add(file);
        for (const specifier of importsOf(readFileSync(file, 'utf8'))) {
          if (specifier.startsWith('.')) visit(join(dirname(file), specifier.replace(/\.js$/, '.ts')));
          else packages.add(specifier);
        }
      };
      visit(join(LIB, entry));
      expect(seen.size).toBeGreaterThan(entry === 'index.ts' ? 10 : 1);
      return optional.filter((p) => packages.has(p));
    };
    expect(reached('index.ts')).toEqual([]);
    expect(reached('terminus.ts')).toEqual(['@nestjs/terminus']);
    expect(reached('prometheus.ts')).toEqual(['prom-client']);
    expect(reached('opentelemetry.ts')).toEqual(['@opentelemetry/api']);
  });

  it('reads static, type-only, re-export, side-effect, dynamic and require imports, and skips comments', () => {
    const source = [
      `import a from './a.js';`,
      `import type { B } from "./b.js";`,
      `export { c } from './c.js';`,
      `import './d.js';`,
      `const e = await import('./e.js');`,
      `const f = require('f');`,
      `// import g from './g.js';`,
      `/** @example import h from '@uno/jobs'; */`,
    ].join('\n');
    expect(importsOf(source).sort()).toEqual(['./a.js', './b.js', './c.js', './d.js', './e.js', 'f']);
  });
});
