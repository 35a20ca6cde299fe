import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * With BENCH_PROFILE=<dir>, record a CPU profile of a timed window only (not the prefill, nor a worker process's
 * start-up) through the inspector: call the returned function at the window's end to write it as
 * `<dir>/<name>-<time>.cpuprofile` (open in Chrome DevTools or summarise with `bench/profile-summary.js`). Null
 * without BENCH_PROFILE.
 */
export async function startProfile(): Promise<((name: string) => Promise<void>) | null> {
  const dir = process.env.BENCH_PROFILE;
  if (!dir) return null;
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  await session.post('Profiler.start');
  return async (name) => {
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, `${name}-${Date.now()}.cpuprofile`), JSON.stringify(profile));
  };
}
