import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { Injectable, Module, UnauthorizedException, type CanActivate, type DynamicModule, type ExecutionContext, type INestApplication, type LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Task, UnoJobsModule, type JobContext, type JobStorage } from '../../lib/index.js';
import { UnoJobsAdminModule, type UnoJobsAdminOptions } from '../../lib/admin.js';

/** Job ids whose first run of `report.build` failed: the next run of the same job succeeds (a retry completes it). */
const failedOnce = new Set<string>();

/** Test tasks: one that fails its first run when asked, one that leaks a secret into its error and log. */
@Injectable()
export class AdminTestTasks {
  @Task('report.build', { queue: 'reports', attempts: 1 })
  build(payload: { n: number; failFirst?: boolean }, ctx: JobContext) {
    if (payload.failFirst && !failedOnce.has(ctx.job.id)) {
      failedOnce.add(ctx.job.id);
      throw new Error(`report ${payload.n} failed once`);
    }
    return payload.n * 2;
  }

  @Task('user.signup', { queue: 'users', attempts: 1 })
  async signup(payload: { email: string; password: string }, ctx: JobContext) {
    await ctx.log(`signing up ${payload.email} with ${payload.password}`);
    throw new Error(`password ${payload.password} rejected`);
  }
}

/** The demo guard: `x-token: secret` or 401. */
@Injectable()
export class TokenGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<{ headers: Record<string, string | undefined> }>();
    if (request.headers['x-token'] !== 'secret') throw new UnauthorizedException('x-token missing');
    return true;
  }
}

/** `x-role: admin` writes, `x-role: viewer` reads, anything else is refused. */
export const authorizeByRole = (request: { headers: Record<string, string | undefined> }) =>
  request.headers['x-role'] === 'admin' ? 'write' : request.headers['x-role'] === 'viewer' ? 'read' : false;

/** Credentials of the write caller of the test apps. */
export const ADMIN = { 'x-token': 'secret', 'x-role': 'admin' };
/** Credentials of the read-only caller of the test apps. */
export const VIEWER = { 'x-token': 'secret', 'x-role': 'viewer' };

@Module({})
class AdminTestApp {
  static register(storage: JobStorage, admin: UnoJobsAdminOptions): DynamicModule {
    return {
      module: AdminTestApp,
      imports: [UnoJobsModule.forRoot({ storage, worker: { concurrency: 4 }, monitoring: { flushIntervalMs: 100 } }), UnoJobsAdminModule.register(admin)],
      providers: [AdminTestTasks, TokenGuard],
    };
  }
}

/** A booted admin test app and a client of its API. */
export interface AdminClient {
  app: INestApplication;
  /** The API's URL: `http://127.0.0.1:<port>/[<globalPrefix>/]<path>/api`. */
  base: string;
  /** Call `/<path>/api/<route>`; the answer's status and parsed JSON body. */
  call: (method: string, route: string, options?: { headers?: Record<string, string>; body?: unknown }) => Promise<{ status: number; body: any }>;
}

/** How the test app runs: the HTTP platform (default Express) and an app-wide route prefix. */
export interface AdminBootOptions {
  platform?: 'express' | 'fastify';
  globalPrefix?: string;
}

/** Boot a real Nest HTTP app (Express, or Fastify) with the admin API on `storage`. */
export async function bootAdmin(storage: JobStorage, admin: UnoJobsAdminOptions, logger: LoggerService | false = false, boot: AdminBootOptions = {}): Promise<AdminClient> {
  const module = AdminTestApp.register(storage, admin);
  const app = boot.platform === 'fastify' ? await NestFactory.create(module, new FastifyAdapter(), { logger }) : await NestFactory.create(module, { logger });
  if (boot.globalPrefix) app.setGlobalPrefix(boot.globalPrefix);
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  const base = `http://127.0.0.1:${port}/${boot.globalPrefix ? `${boot.globalPrefix}/` : ''}${admin.path ?? 'jobs-admin'}/api`;
  const call: AdminClient['call'] = async (method, route, options = {}) => {
    const response = await fetch(`${base}/${route}`, {
      method,
      headers: { ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}), ...options.headers },
      body: options.body !== undefined ? JSON.stringify(options.body) : undefined,
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
  };
  return { app, base, call };
}
