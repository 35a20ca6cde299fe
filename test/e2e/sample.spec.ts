import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/**
 * README's front door: `npm start` builds and runs the sample app on an embedded SQLite file, with no server. Run as
 * the README runs it (a fresh SQLite file, any free port), it must exit 0 after its tour, with every job's outcome and
 * the three endpoints' answers printed.
 */
const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('npm start (the sample app)', () => {
  let dir: string;
  let out: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'uno-sample-'));
    const env: NodeJS.ProcessEnv = { ...process.env, UNO_SQLITE_FILE: join(dir, 'sample.sqlite'), UNO_SAMPLE_PORT: '0', NO_COLOR: '1' };
    delete env.UNO_STORAGE; // the default store, as README runs it
    const { stdout, stderr } = await run('npm', ['start', '--silent'], {
      cwd: ROOT,
      env,
      timeout: 240_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    // Nest's logger writes to stdout, errors to stderr; the colours' escapes are dropped to read the text.
    out = `${stdout}\n${stderr}`.replace(/\x1b\[[0-9;]*m/g, '');
  }, 300_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('tells a deduplicated enqueue and the critical report result', () => {
    expect(out).toContain('dedupe: second enqueue of report-ceo returned the same job');
    expect(out).toContain('critical report result: https://reports.example.com/ceo.pdf (3 pages)');
  });

  it('retries the flaky e-mails and fails the invalid address at once', () => {
    expect(out).toMatch(/email\.send attempt 1 failed \(SMTP timeout sending to \S+\); retry in \d+ ms/);
    expect(out).toContain('email.send failed for good: "not-an-address" is not an e-mail address');
    // Every job's outcome, each named by the distinct end of its id.
    const outcomes = [...out.matchAll(/(report\.generate|email\.send|welcome\.send|thumbnail\.create) ([0-9a-f]{8}) → (.*)/g)];
    expect(outcomes.map((m) => m[1]).sort()).toEqual([
      'email.send', 'email.send', 'email.send', 'email.send',
      'report.generate', 'report.generate', 'report.generate',
      'thumbnail.create', 'welcome.send',
    ]);
    expect(new Set(outcomes.map((m) => m[2])).size).toBe(outcomes.length);
    expect(outcomes.filter((m) => m[3]!.includes('ended failed'))).toHaveLength(1);
  });

  it('answers /health, /metrics and /stats, then exits', () => {
    expect(out).toMatch(/GET \/health → 200 \{"status":"ok"/);
    expect(out).toContain('uno_jobs_processed_total{queue="images",task="thumbnail.create",status="completed"} 21');
    expect(out).toMatch(/GET \/stats → last 15 min \{"enqueued":\d+,"completed":\d+,"failed":1,/);
    expect(out).toMatch(/"failed":1,"cancelled":0\}/); // the counts line: one job failed for good
  });
});
