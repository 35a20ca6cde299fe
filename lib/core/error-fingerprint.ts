import { createHash } from 'node:crypto';

/** A failure's group: errors with the same class, the same message shape and the same user frame share it. */
export interface ErrorFingerprint {
  /** Stable id of the group (12 hex characters). */
  id: string;
  /** Error class name, e.g. `TypeError`. */
  name: string;
  /** The message with its variable parts replaced: `User 7 not found in "eu"` becomes `User <n> not found in <str>` (quotes go with the value). */
  pattern: string;
  /** The top stack frame of application code (`function (path)`, no line or column), or null when none is known. */
  frame: string | null;
}

/** Longest pattern kept: messages are grouped by their beginning. */
const MAX_PATTERN = 200;

/**
 * The variable parts of a message, most specific first (a UUID before its hex runs, a date before its numbers).
 * What remains is the message's shape: ids, counts, timestamps and quoted values do not split one failure into many.
 */
const VARIABLE_PARTS: [RegExp, string][] = [
  [/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`/g, '<str>'],
  [/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, '<uuid>'],
  [/\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b/g, '<date>'],
  [/\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b/g, '<ip>'],
  [/\b0x[0-9a-f]+\b/gi, '<hex>'],
  [/\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b/gi, '<hex>'],
  [/[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g, '<email>'],
  [/-?\d+(?:\.\d+)?(?:e[+-]?\d+)?/gi, '<n>'],
];

/** The message's shape: variable parts replaced by placeholders, whitespace collapsed, bounded. */
export function messagePattern(message: string): string {
  let pattern = message;
  for (const [regex, placeholder] of VARIABLE_PARTS) pattern = pattern.replace(regex, placeholder);
  pattern = pattern.replace(/\s+/g, ' ').trim();
  return pattern.length > MAX_PATTERN ? `${pattern.slice(0, MAX_PATTERN - 1)}…` : pattern;
}

/**
 * The first frame of `stack` in application code: not Node's internals, not a dependency in node_modules, and not
 * one of `libraryPaths` (Uno Jobs' own files). Line and column are dropped, so a deploy that moves code keeps the
 * group; the path is made relative to `cwd`.
 */
export function userFrame(stack: string | undefined, libraryPaths: readonly string[] = [], cwd = process.cwd()): string | null {
  if (!stack) return null;
  for (const line of stack.split('\n')) {
    const m = /^\s*at (?:(.*?) \()?(.*?)(?::\d+)?(?::\d+)?\)?$/.exec(line);
    if (!m) continue;
    const fn = m[1] ?? '<anonymous>';
    let file = m[2]!.replace(/^async /, '').replace(/^file:\/\//, '');
    if (file.startsWith('node:') || file.includes('/node_modules/') || file.startsWith('internal/') || file === 'native') continue;
    if (libraryPaths.some((p) => file.startsWith(p))) continue;
    if (file.startsWith(`${cwd}/`)) file = file.slice(cwd.length + 1);
    return `${fn} (${file})`;
  }
  return null;
}

/**
 * Group a failure: error class, message shape and top application frame, hashed to a short stable id. Two failures
 * with the same id are the same problem with different data.
 *
 * @example
 * fingerprintError({ name: 'Error', message: 'User 42 not found', stack })
 * // { id: '3f1c…', name: 'Error', pattern: 'User <n> not found', frame: 'InvoiceService.send (dist/invoice.js)' }
 */
export function fingerprintError(
  error: { name: string; message: string; stack?: string },
  libraryPaths: readonly string[] = [],
  cwd?: string,
): ErrorFingerprint {
  const pattern = messagePattern(error.message);
  const frame = userFrame(error.stack, libraryPaths, cwd);
  const id = createHash('sha1').update(`${error.name}\n${pattern}\n${frame ?? ''}`).digest('hex').slice(0, 12);
  return { id, name: error.name, pattern, frame };
}
