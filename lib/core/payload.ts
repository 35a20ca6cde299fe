import { InvalidJobError, messages } from '../contract/errors.js';
import { MAX_JSON_DEPTH } from './limits.js';

/** Default largest payload, as UTF-8 JSON: 1 MiB. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;

/**
 * Check that `value` survives a JSON round trip unchanged in meaning, and return its JSON text.
 * Refuses what JSON would silently drop or mangle (functions, undefined, symbols, BigInt, NaN, Map/Set, cycles),
 * `__proto__` keys and nesting deeper than {@link MAX_JSON_DEPTH}, naming the path of the offending value. What an
 * object's `toJSON()` returns is checked like any other value, since that is what JSON writes.
 */
export function toJson(value: unknown, what: 'payload' | 'result', maxBytes = Infinity): string {
  if (value === undefined) {
    if (what === 'payload') throw new InvalidJobError(messages.payloadUndefined());
    return 'null';
  }
  const walk = spare ?? { what, keys: [], above: [] };
  spare = null;
  walk.what = what;
  try {
    check(value, '', walk, 0);
  } finally {
    // Empty again for the next check (a toJSON that enqueues meanwhile got a walk of its own). A valid payload
    // leaves them empty: set only after a throw, as setting the length gives up the arrays' storage.
    if (walk.keys.length) walk.keys.length = 0;
    if (walk.above.length) walk.above.length = 0;
    spare = walk;
  }
  const json = JSON.stringify(value);
  const bytes = bytesOver(json, maxBytes);
  if (bytes !== null) throw new InvalidJobError(messages.payloadTooLarge(bytes, maxBytes));
  return json;
}

/** The UTF-8 size of `json` when it is over `maxBytes`, else null. */
export function bytesOver(json: string, maxBytes: number): number | null {
  // A cheap bound first: a UTF-8 string has at most 3 bytes per UTF-16 code unit.
  if (json.length * 3 <= maxBytes) return null;
  const bytes = Buffer.byteLength(json, 'utf8');
  return bytes > maxBytes ? bytes : null;
}

/**
 * Where a check is: the keys from the root down to the value being checked, and the objects above it (a cycle is a
 * value that is one of them). The path text (`$.a[2].b`) is only written for an error: a valid payload, the common
 * case, costs no string per value.
 */
interface Walk {
  what: 'payload' | 'result';
  keys: (string | number)[];
  above: object[];
}

/** The walk the next check uses: kept between checks, so a payload's check allocates no arrays of its own. */
let spare: Walk | null = null;

function pathOf(walk: Walk): string {
  let path = '$';
  for (const key of walk.keys) path += typeof key === 'number' ? `[${key}]` : `.${key}`;
  return path;
}

function fail(walk: Walk, why: string): never {
  if (walk.what === 'payload') throw new InvalidJobError(messages.payloadNotSerialisable(pathOf(walk), why));
  throw new InvalidJobError(`${why} at ${pathOf(walk)}`);
}

/**
 * Check one value, at the end of `walk.keys`. `key` is its property name or index in its parent, which JSON passes to
 * `toJSON`; `replaced` says it already is what a `toJSON` returned (JSON calls `toJSON` once per value, not on its
 * result).
 */
function check(value: unknown, key: string | number, walk: Walk, depth: number, replaced = false): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) fail(walk, `${value} is not a finite number (JSON turns it into null)`);
      return;
    case 'bigint':
      fail(walk, 'a BigInt cannot be represented in JSON');
    // eslint-disable-next-line no-fallthrough
    case 'function':
      fail(walk, 'a function cannot be serialised');
    // eslint-disable-next-line no-fallthrough
    case 'symbol':
      fail(walk, 'a symbol cannot be serialised');
    // eslint-disable-next-line no-fallthrough
    case 'undefined':
      fail(walk, 'undefined is dropped by JSON (use null)');
    // eslint-disable-next-line no-fallthrough
    case 'object': {
      if (value === null) return;
      if (walk.above.includes(value)) fail(walk, 'a circular reference');
      if (value instanceof Map || value instanceof Set) fail(walk, `a ${value.constructor.name} (JSON turns it into {})`);
      // Checked before recursing: data nested thousands deep would otherwise overflow the stack here, in
      // JSON.stringify or in a store's decoder, with a bare RangeError.
      if (depth >= MAX_JSON_DEPTH) {
        if (walk.what === 'payload') throw new InvalidJobError(messages.payloadTooDeep(pathOf(walk), MAX_JSON_DEPTH));
        fail(walk, `nesting deeper than ${MAX_JSON_DEPTH} levels`);
      }
      const toJSON = (value as { toJSON?: unknown }).toJSON;
      walk.above.push(value);
      if (!replaced && typeof toJSON === 'function') {
        // Date and friends serialise themselves: JSON writes what toJSON returns, so that is what must be valid.
        check(toJSON.call(value, String(key)), key, walk, depth, true);
      } else if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          const item: unknown = value[i];
          walk.keys.push(i);
          if (item === undefined || typeof item === 'function' || typeof item === 'symbol') {
            fail(walk, `${typeof item} in an array becomes null in JSON`);
          }
          check(item, i, walk, depth + 1);
          walk.keys.pop();
        }
      } else {
        for (const name in value) {
          if (!Object.hasOwn(value, name)) continue;
          if (name === '__proto__') {
            if (walk.what === 'payload') throw new InvalidJobError(messages.payloadProtoKey(pathOf(walk)));
            fail(walk, 'a "__proto__" key');
          }
          const item = (value as Record<string, unknown>)[name];
          // Undefined properties are dropped by JSON, like absent ones: harmless, so allowed.
          if (item === undefined) continue;
          walk.keys.push(name);
          check(item, name, walk, depth + 1);
          walk.keys.pop();
        }
      }
      walk.above.pop();
      return;
    }
  }
}

/** Parse JSON produced by {@link toJson}. `__proto__` keys were refused on the way in, so a plain parse is safe. */
export function fromJson(json: string): unknown {
  return JSON.parse(json);
}
