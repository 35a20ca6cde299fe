import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it, expect } from '@jest/globals';

// The `cron` package is loaded on first use (docs/scheduler.md): an app without it boots with interval schedules,
// and one with a @Cron method fails the boot with the install command. A child process on the compiled library
// (dist/, built by `npm test`) runs once with `cron` hidden by a preload and once as installed, as the control.

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

function run(hideCron: boolean): { boot: unknown; interval: unknown } {
  const args = [...(hideCron ? ['--require', fixture('no-cron.cjs')] : []), fixture('cron-missing-node.mjs')];
  return JSON.parse(execFileSync(process.execPath, args, { encoding: 'utf8', timeout: 60_000 }).trim().split('\n').at(-1)!);
}

describe('the cron package, loaded on first use', () => {
  it('missing: a @Cron method fails the boot naming the method and `npm install cron`; an interval schedule still works', () => {
    expect(run(true)).toEqual({
      boot: { name: 'ConfigurationError', message: '@Cron on Nightly.sync: A cron schedule needs the package "cron". Install it: npm install cron' },
      interval: 'ok',
    });
  });

  it('installed (the control): the same app boots', () => {
    expect(run(false)).toEqual({ boot: 'ok', interval: 'ok' });
  });
});
