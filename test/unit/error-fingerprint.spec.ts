import { describe, it, expect } from '@jest/globals';
import { fingerprintError, messagePattern, userFrame } from '../../lib/core/error-fingerprint.js';

describe('messagePattern', () => {
  it.each([
    ['User 42 not found', 'User <n> not found'],
    ['Order 8f14e45f-ceea-467f-a8f3-0bd4c9f1a3e2 failed', 'Order <uuid> failed'],
    ['bad key "tenant-7" in \'x\'', 'bad key <str> in <str>'],
    ['timeout after 1.5e3 ms at 2026-11-29T20:41:15.123Z', 'timeout after <n> ms at <date>'],
    ['connect ECONNREFUSED 127.0.0.1:5432', 'connect ECONNREFUSED <ip>'],
    ['pointer 0xDEADBEEF, commit 9ce1b13a4f', 'pointer <hex>, commit <hex>'],
    ['mail to a.b+c@example.org bounced', 'mail to <email> bounced'],
    ['  many\n  lines\tand   spaces ', 'many lines and spaces'],
  ])('%j → %j', (message, pattern) => {
    expect(messagePattern(message)).toBe(pattern);
  });

  it('keeps words that only look like hex, and bounds the length', () => {
    expect(messagePattern('decade facade deadbeef')).toBe('decade facade deadbeef');
    expect(messagePattern('x'.repeat(500))).toHaveLength(200);
  });
});

describe('userFrame', () => {
  const stack = [
    'Error: boom',
    '    at Object.request (node:internal/http:12:3)',
    '    at Pool.query (/app/node_modules/pg/lib/pool.js:45:11)',
    '    at Executor.run (/app/node_modules/@uno/jobs/dist/core/executor.js:88:20)',
    '    at InvoiceService.send (/app/dist/invoice.service.js:31:9)',
    '    at async /app/dist/main.js:5:1',
  ].join('\n');

  it('skips Node, dependencies and the library, drops line and column, and shortens the path', () => {
    expect(userFrame(stack, ['/app/node_modules/@uno/jobs/'], '/app')).toBe('InvoiceService.send (dist/invoice.service.js)');
  });

  it('reads file URLs and anonymous frames', () => {
    expect(userFrame('Error: x\n    at file:///srv/jobs/run.mjs:3:7', [], '/srv')).toBe('<anonymous> (jobs/run.mjs)');
    expect(userFrame('Error: x\n    at async /app/dist/main.js:5:1', [], '/app')).toBe('<anonymous> (dist/main.js)');
    expect(userFrame(undefined)).toBeNull();
    expect(userFrame('Error: only node\n    at f (node:fs:1:1)')).toBeNull();
  });
});

describe('fingerprintError', () => {
  const at = (line: number) => `Error: x\n    at InvoiceService.send (/app/dist/invoice.service.js:${line}:9)`;

  it('gives failures that differ only in data, or in line numbers after a deploy, one id', () => {
    const a = fingerprintError({ name: 'Error', message: 'Invoice 17 for "acme" failed', stack: at(31) }, [], '/app');
    const b = fingerprintError({ name: 'Error', message: 'Invoice 9001 for "globex" failed', stack: at(35) }, [], '/app');
    expect(a).toEqual(b);
    expect(a).toEqual({ id: expect.stringMatching(/^[0-9a-f]{12}$/), name: 'Error', pattern: 'Invoice <n> for <str> failed', frame: 'InvoiceService.send (dist/invoice.service.js)' });
  });

  it('separates another class, another message shape or another frame', () => {
    const base = fingerprintError({ name: 'Error', message: 'Invoice 1 failed', stack: at(1) }, [], '/app');
    expect(fingerprintError({ name: 'TypeError', message: 'Invoice 1 failed', stack: at(1) }, [], '/app').id).not.toBe(base.id);
    expect(fingerprintError({ name: 'Error', message: 'Invoice 1 rejected', stack: at(1) }, [], '/app').id).not.toBe(base.id);
    const elsewhere = 'Error: x\n    at ReportService.build (/app/dist/report.service.js:3:3)';
    expect(fingerprintError({ name: 'Error', message: 'Invoice 1 failed', stack: elsewhere }, [], '/app').id).not.toBe(base.id);
  });
});
