import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/**
 * The package as a user meets it: `npm pack`, installed into a fresh app that has neither `typeorm` nor `ioredis`,
 * type-checked with `skipLibCheck: false`. Needs the built `dist/` (`npm test` builds first).
 */
const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The version this repository's lock file installed, so the app gets the same (and npm's cache has it). */
const version = (pkg: string) => (JSON.parse(readFileSync(join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;

const TSCONFIG = {
  compilerOptions: {
    module: 'nodenext', moduleResolution: 'nodenext', target: 'ES2023', lib: ['ES2023'], types: ['node'], strict: true,
    experimentalDecorators: true, emitDecoratorMetadata: true, skipLibCheck: false, noEmit: true,
  },
};

const APP = `
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { JobQueue, JobStorage, MemoryJobStorage, Task, UnoJobsModule, type JobRecord } from '@uno/jobs';
import { JobStorage as Contract, initialState, newJobRecord } from '@uno/jobs/storage';
import { UnoJobsAdminModule } from '@uno/jobs/admin';

@Injectable()
class Mailer {
  constructor(private readonly jobs: JobQueue, readonly storage: JobStorage) {}
  @Task('mail.send', { attempts: 3 })
  async send(payload: { to: string }): Promise<void> { void payload; }
  enqueue(): Promise<JobRecord> { return this.jobs.enqueue('mail.send', { to: 'a@b.c' }); }
}

@Module({ imports: [UnoJobsModule.forRoot({ storage: new MemoryJobStorage() })], providers: [Mailer] })
export class AppModule {}
export const same: typeof Contract = JobStorage;
export const record = newJobRecord;
export const due: { state: string; runAt: number } = initialState({} as Parameters<typeof initialState>[0], 0);
export const admin = UnoJobsAdminModule.register({ authorize: (req: { headers: Record<string, string> }) => (req.headers['x-admin'] ? 'write' : false) });
`;

/** Boots the module, with `adopt` as argv[2] also with `nestSchedule: 'adopt'`; prints the outcome. */
const BOOT = `
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { UnoJobsModule } from '@uno/jobs';
class AppModule {}
Module({ imports: [UnoJobsModule.forRoot(process.argv[2] === 'adopt' ? { nestSchedule: 'adopt' } : {})] })(AppModule);
try {
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false, abortOnError: false });
  await app.close();
  console.log('booted');
} catch (error) {
  console.log('failed: ' + error.message);
}
`;

let app: string;

async function tsc(file: string): Promise<{ code: number; output: string }> {
  await writeFile(join(app, 'tsconfig.json'), JSON.stringify({ ...TSCONFIG, include: [file] }));
  try {
    const { stdout } = await run(process.execPath, [join(app, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: app });
    return { code: 0, output: stdout };
  } catch (error) {
    const e = error as { code: number; stdout: string };
    return { code: e.code, output: e.stdout };
  }
}

describe('the packed library in an app without typeorm and ioredis', () => {
  beforeAll(async () => {
    app = await mkdtemp(join(tmpdir(), 'uno-pack-'));
    const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', app], { cwd: ROOT });
    const [{ filename }] = JSON.parse(stdout) as { filename: string }[];
    await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    await run(
      'npm',
      [
        'install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', `./${filename}`,
        `@nestjs/common@${version('@nestjs/common')}`, `@nestjs/core@${version('@nestjs/core')}`,
        `reflect-metadata@${version('reflect-metadata')}`, `rxjs@${version('rxjs')}`,
        `typescript@${version('typescript')}`, `@types/node@${version('@types/node')}`,
      ],
      { cwd: app },
    );
  }, 240_000);

  afterAll(async () => {
    if (app) await rm(app, { recursive: true, force: true });
  });

  it('installs without the optional store drivers', async () => {
    const installed = JSON.parse(await readFile(join(app, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(Object.keys(installed.dependencies)).toContain('@uno/jobs');
    await expect(readFile(join(app, 'node_modules/typeorm/package.json'))).rejects.toThrow(/ENOENT/);
    await expect(readFile(join(app, 'node_modules/ioredis/package.json'))).rejects.toThrow(/ENOENT/);
  });

  it('ships the built dashboard (the files its manifest names) without its source or its build-time packages', async () => {
    const dist = join(app, 'node_modules/@uno/jobs/dist/dashboard');
    const manifest = JSON.parse(await readFile(join(dist, 'manifest.json'), 'utf8')) as { script: string; style: string };
    for (const file of [manifest.script, manifest.style]) expect((await readFile(join(dist, file))).length).toBeGreaterThan(1000);
    await expect(readFile(join(app, 'node_modules/@uno/jobs/ui/main.tsx'))).rejects.toThrow(/ENOENT/);
    for (const pkg of ['preact', 'uplot', 'esbuild']) await expect(readFile(join(app, `node_modules/${pkg}/package.json`))).rejects.toThrow(/ENOENT/);
  });

  it('type-checks an app on @uno/jobs, @uno/jobs/storage and @uno/jobs/admin with skipLibCheck: false', async () => {
    await writeFile(join(app, 'app.ts'), APP);
    const { code, output } = await tsc('app.ts');
    expect(output).toBe('');
    expect(code).toBe(0);
  }, 120_000);

  it('would catch a driver type leaking in: @uno/jobs/redis needs ioredis and says so', async () => {
    await writeFile(join(app, 'redis-app.ts'), `import { RedisJobStorage } from '@uno/jobs/redis';\nexport const s = RedisJobStorage;\n`);
    const { code, output } = await tsc('redis-app.ts');
    expect(code).not.toBe(0);
    expect(output).toMatch(/Cannot find module 'ioredis'/);
  }, 120_000);

  it('at run time, importing @uno/jobs/redis without ioredis fails to resolve ioredis', async () => {
    await writeFile(join(app, 'redis-import.mjs'), `try { await import('@uno/jobs/redis'); console.log('loaded'); } catch (error) { console.log(error.code, error.message); }\n`);
    const { stdout } = await run(process.execPath, ['redis-import.mjs'], { cwd: app });
    expect(stdout).toMatch(/^ERR_MODULE_NOT_FOUND Cannot find package 'ioredis'/);
  });

  it('boots without @nestjs/schedule (loaded only for nestSchedule), and nestSchedule then names the package to install', async () => {
    await expect(readFile(join(app, 'node_modules/@nestjs/schedule/package.json'))).rejects.toThrow(/ENOENT/);
    await writeFile(join(app, 'boot.mjs'), BOOT);
    expect((await run(process.execPath, ['boot.mjs'], { cwd: app })).stdout).toBe('booted\n');
    expect((await run(process.execPath, ['boot.mjs', 'adopt'], { cwd: app })).stdout).toBe(
      `failed: UnoJobsModule's nestSchedule option needs the package "@nestjs/schedule". Install it: npm install @nestjs/schedule\n`,
    );
  }, 60_000);
});
