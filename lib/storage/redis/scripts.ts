import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Redis } from 'ioredis';

/** Every Lua script of the Redis store; each lives in `scripts/<name>.lua` with a KEYS/ARGV/return header. */
export const SCRIPT_NAMES = [
  'insert',
  'claim',
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
      let lua = await readFile(scriptUrl(name), 'utf8');
      for (const match of [...lua.matchAll(INCLUDE)]) {
        const include = match[1]!;
        if (!includes.has(include)) includes.set(include, await readFile(includeUrl(include), 'utf8'));
      }
      // A replacement function, so `$` in Lua source is never read as a replacement pattern.
      lua = lua.replace(INCLUDE, (_line, include: string) => includes.get(include)!);
      scripts.set(name, { lua, sha: createHash('sha1').update(lua).digest('hex') });
    }
    return scripts;
  })().catch((error) => {
    loading = null;
    throw error;
  });
  return loading;
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
