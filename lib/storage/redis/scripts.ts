import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Redis } from 'ioredis';

/** Every Lua script of the Redis store; each lives in `scripts/<name>.lua` with a KEYS/ARGV/return header. */
export const SCRIPT_NAMES = [
  'insert',
  'claim',
  'claim-plain',
  'insert-plain',
  'complete',
  'fail',
  'heartbeat',
  'started',
  'release',
  'progress',
  'cancel',
  'flow-step',
  'retry',
  'run-now',
  'remove',
  'priority',
  'get',
  'promote',
  'recover',
  'prune',
  'unlock',
  'counts',
  'counts-tasks',
  'list',
  'oldest',
  'worker-save',
  'worker-list',
  'worker-drop',
  'pattern-record',
  'pattern-list',
  'pattern-prune',
  'metric-add',
  'metric-read',
  'metric-prune',
  'doc-get',
  'doc-set',
] as const;

/** Name of one Lua script. */
export type ScriptName = (typeof SCRIPT_NAMES)[number];

/** A script's source (includes pasted in) and the SHA-1 that EVALSHA calls it by. */
interface LoadedScript {
  lua: string;
  sha: string;
}

const INCLUDE = /^-- @include ([a-z-]+)\s*$/gm;

// URLs relative to this module: tsc does not copy .lua files, so `npm run build` copies the scripts folder next to
// the compiled module (scripts/copy-assets.mjs) and the same relative path works from lib/ and from dist/.
const scriptUrl = (name: string): URL => new URL(`./scripts/${name}.lua`, import.meta.url);
const includeUrl = (name: string): URL => new URL(`./scripts/includes/${name}.lua`, import.meta.url);

let loading: Promise<Map<ScriptName, LoadedScript>> | null = null;

/** Read every script once per process and resolve its includes. */
export function loadScripts(): Promise<Map<ScriptName, LoadedScript>> {
  loading ??= (async () => {
    const includes = new Map<string, string>();
    const scripts = new Map<ScriptName, LoadedScript>();
    for (const name of SCRIPT_NAMES) {
      const source = await readFile(scriptUrl(name), 'utf8');
      for (const match of source.matchAll(INCLUDE)) {
        const include = match[1]!;
        if (!includes.has(include)) includes.set(include, await readFile(includeUrl(include), 'utf8'));
      }
      const lua = resolveIncludes(source, includes);
      scripts.set(name, { lua, sha: createHash('sha1').update(lua).digest('hex') });
    }
    return scripts;
  })().catch((error) => {
    loading = null;
    throw error;
  });
  return loading;
}

/**
 * Paste a script's includes in, keeping only the definitions it uses. Redis runs the whole text on every call, so each
 * `local function` of an include is a closure built and later collected per call: a script that pasted all of
 * common.lua paid for its 30 definitions even when it used three. An include is cut into top-level definitions
 * (`local function f`, `local a, b = ...`, `local f`, `f = function`, each with the comment lines above it); the
 * script's own code names the ones it needs, those name theirs, and the kept ones stay in their order in the file.
 * The text before an include's first definition (its header comment) is kept as it is.
 */
export function resolveIncludes(source: string, includes: ReadonlyMap<string, string>): string {
  const parts = [...source.matchAll(INCLUDE)].map((match) => definitions(includes.get(match[1]!)!));
  const defining = new Map<string, Definition[]>();
  for (const part of parts) for (const def of part.defs) for (const name of def.names) defining.set(name, [...(defining.get(name) ?? []), def]);
  const keep = new Set<Definition>();
  const visit = (words: Iterable<string>): void => {
    for (const word of words) {
      for (const def of defining.get(word) ?? []) {
        if (keep.has(def)) continue;
        keep.add(def);
        visit(def.words);
      }
    }
  };
  visit(identifiers(source.replace(INCLUDE, '')));
  let k = 0;
  // A replacement function, so `$` in Lua source is never read as a replacement pattern.
  return source.replace(INCLUDE, () => {
    const part = parts[k++]!;
    return [part.head, ...part.defs.filter((def) => keep.has(def)).map((def) => def.text)].join('');
  });
}

interface Definition {
  names: string[];
  text: string;
  /** The identifiers its text names (see identifiers). */
  words: Set<string>;
}

const DEFINES = /^(?:local function ([A-Za-z_]\w*)|local ([A-Za-z_][\w, ]*?)\s*(?:=|$)|([A-Za-z_]\w*) = function\b)/;

/** Includes already cut, by their text: every script that pulls one in shares the cut (and its identifier sets). */
const cuts = new Map<string, { head: string; defs: Definition[] }>();

/** An include cut into its header and its top-level definitions (see resolveIncludes). */
function definitions(text: string): { head: string; defs: Definition[] } {
  const known = cuts.get(text);
  if (known) return known;
  const lines = text.split(/(?<=\n)/);
  let head = '';
  const parts: { names: string[]; text: string }[] = [];
  let pending = '';
  for (const line of lines) {
    const match = DEFINES.exec(line);
    if (match) {
      const names = (match[1] ?? match[3] ?? match[2]!).split(',').map((name) => name.trim());
      parts.push({ names, text: pending + line });
      pending = '';
    } else if (parts.length === 0) {
      head += line;
    } else if (line.startsWith('--') || (pending !== '' && line.trim() === '')) {
      // A comment at the left margin sits between definitions: it belongs to the next one.
      pending += line;
    } else {
      parts[parts.length - 1]!.text += line;
    }
  }
  if (pending !== '' && parts.length > 0) parts[parts.length - 1]!.text += pending;
  const cut = { head, defs: parts.map((part) => ({ ...part, words: identifiers(part.text) })) };
  cuts.set(text, cut);
  return cut;
}

/** The identifiers a piece of Lua names outside its comments. */
function identifiers(lua: string): Set<string> {
  return new Set(lua.replace(/--\[\[[\s\S]*?\]\]|--[^\n]*/g, '').match(/[A-Za-z_]\w*/g) ?? []);
}

/** Argument types a script accepts. */
export type ScriptArg = string | number;

/**
 * Runs the store's scripts by EVALSHA. A server that does not know a script yet (a Cluster node that never saw
 * SCRIPT LOAD, or a restarted server) answers NOSCRIPT; the script is then sent once with EVAL, which also caches it.
 */
export class ScriptRunner {
  constructor(
    private readonly client: Redis,
    private readonly scripts: Map<ScriptName, LoadedScript>,
  ) {}

  /** Cache every script on the server now, so the hot path never ships a script body. */
  async preload(): Promise<void> {
    await Promise.all([...this.scripts.values()].map((s) => this.client.script('LOAD', s.lua)));
  }

  /** Run one script: `keys` must all share the queue's hash tag (or be global keys on a standalone server). */
  async run<T>(name: ScriptName, keys: readonly string[], args: readonly ScriptArg[]): Promise<T> {
    const script = this.scripts.get(name)!;
    try {
      return (await this.client.evalsha(script.sha, keys.length, ...keys, ...args)) as T;
    } catch (error) {
      if (!String((error as Error)?.message).startsWith('NOSCRIPT')) throw error;
      return (await this.client.eval(script.lua, keys.length, ...keys, ...args)) as T;
    }
  }
}
