import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { Injectable, Logger, Module, UnauthorizedException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { JobQueue } from '../lib/index.js';
import { UnoJobsAdminModule } from '../lib/admin.js';
import { AppModule } from './app.module.js';
import { GenerateReport } from './tasks.js';

/**
 * Demo users of `npm run sample:serve`, for local use only: `admin` may act, `viewer` may only look.
 * A real app puts its own guard here (sessions, JWT, SSO).
 */
export const DEMO_USERS: Readonly<Record<string, { password: string; scope: 'read' | 'write' }>> = {
  admin: { password: 'admin', scope: 'write' },
  viewer: { password: 'viewer', scope: 'read' },
};

interface DemoRequest {
  headers: Record<string, string | undefined>;
  demoScope?: 'read' | 'write';
}

/** HTTP Basic authentication against {@link DEMO_USERS}: the browser asks for the credentials. */
@Injectable()
export class DemoGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<DemoRequest>();
    const [user = '', password] = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64').toString().split(':');
    const known = DEMO_USERS[user];
    if (!known || known.password !== password) {
      context.switchToHttp().getResponse<{ header(name: string, value: string): void }>().header('WWW-Authenticate', 'Basic realm="Uno Jobs sample"');
      throw new UnauthorizedException('Sign in as admin/admin or viewer/viewer (sample app, local use only).');
    }
    req.demoScope = known.scope;
    return true;
  }
}

/** The sample app plus the admin API and dashboard at /jobs-admin/, behind the demo guard. */
@Module({
  imports: [AppModule, UnoJobsAdminModule.register({ guards: [new DemoGuard()], authorize: (req: DemoRequest) => req.demoScope ?? false })],
})
class ServeModule {}

/**
 * `npm run sample:serve`: the sample app stays up as an HTTP app with the dashboard, and keeps jobs flowing (a few
 * thumbnails, e-mails, one of them to a bad address, and a report every second) so its charts move. Ctrl-C stops it.
 */
async function main() {
  // Warnings and errors only: the jobs' own log lines would bury the URL.
  const app = await NestFactory.create(ServeModule, { logger: ['warn', 'error'] });
  app.enableShutdownHooks();
  await app.listen(Number(process.env.UNO_SAMPLE_PORT ?? 3000), '127.0.0.1');
  const url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}/jobs-admin/`;
  console.log(`Uno Jobs dashboard: ${url}\n  sign in as admin / admin (actions) or viewer / viewer (read-only); local use only. Ctrl-C stops.`);
  const jobs = app.get(JobQueue);
  let tick = 0;
  const produce = async () => {
    tick++;
    await jobs.enqueueMany(Array.from({ length: 1 + (tick % 5) }, (_, i) => ({ task: 'thumbnail.create', payload: { imageId: `img-${tick}-${i}`, size: 256 } })));
    await jobs.enqueue('email.send', { to: tick % 7 === 0 ? 'not-an-address' : `user${tick}@example.com`, subject: 'Hello' });
    if (tick % 3 === 0) await jobs.enqueue(GenerateReport, { userId: `u${tick}`, pages: 4 }, { priority: tick % 9 === 0 ? 'high' : 'normal' });
  };
  const log = new Logger('sample');
  const timer = setInterval(() => produce().catch((error) => log.error(error)), 1000);
  process.once('SIGINT', () => clearInterval(timer));
  process.once('SIGTERM', () => clearInterval(timer));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
