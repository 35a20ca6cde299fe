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
  check(value, '$', '', new Set(), what, 0);
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

function fail(path: string, why: string, what: 'payload' | 'result'): never {
  if (what === 'payload') throw new InvalidJobError(messages.payloadNotSerialisable(path, why));
  throw new InvalidJobError(`${why} at ${path}`);
}

/**
 * Check one value. `key` is its property name (or index) in its parent, which JSON passes to `toJSON`; `replaced` says
 * it already is what a `toJSON` returned (JSON calls `toJSON` once per value, not on its result).
 */
function check(value: unknown, path: string, key: string, seen: Set<object>, what: 'payload' | 'result', depth: number, replaced = false): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) fail(path, `${value} is not a finite number (JSON turns it into null)`, what);
      return;
    case 'bigint':
      fail(path, 'a BigInt cannot be represented in JSON', what);
    // eslint-disable-next-line no-fallthrough
    case 'function':
      fail(path, 'a function cannot be serialised', what);
    // eslint-disable-next-line no-fallthrough
    case 'symbol':
      fail(path, 'a symbol cannot be serialised', what);
    // eslint-disable-next-line no-fallthrough
    case 'undefined':
      fail(path, 'undefined is dropped by JSON (use null)', what);
    // eslint-disable-next-line no-fallthrough
    case 'object': {
      if (value === null) return;
      if (seen.has(value)) fail(path, 'a circular reference', what);
      if (value instanceof Map || value instanceof Set) fail(path, `a ${value.constructor.name} (JSON turns it into {})`, what);
      // Checked before recursing: data nested thousands deep would otherwise overflow the stack here, in
      // JSON.stringify or in a store's decoder, with a bare RangeError.
      if (depth >= MAX_JSON_DEPTH) {
        if (what === 'payload') throw new InvalidJobError(messages.payloadTooDeep(path, MAX_JSON_DEPTH));
        fail(path, `nesting deeper than ${MAX_JSON_DEPTH} levels`, what);
      }
      const toJSON = (value as { toJSON?: unknown }).toJSON;
      if (!replaced && typeof toJSON === 'function') {
        // Date and friends serialise themselves: JSON writes what toJSON returns, so that is what must be valid.
        seen.add(value);
        check(toJSON.call(value, key), path, key, seen, what, depth, true);
        seen.delete(value);
        return;
      }
      seen.add(value);
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          const item = value[i];
          if (item === undefined || typeof item === 'function' || typeof item === 'symbol') {
            fail(`${path}[${i}]`, `${typeof item} in an array becomes null in JSON`, what);
          }
          check(item, `${path}[${i}]`, String(i), seen, what, depth + 1);
        }
      } else {
        for (const name of Object.keys(value)) {
          if (name === '__proto__') {
            if (what === 'payload') throw new InvalidJobError(messages.payloadProtoKey(path));
            fail(path, 'a "__proto__" key', what);
          }
          const item = (value as Record<string, unknown>)[name];
          // Undefined properties are dropped by JSON, like absent ones: harmless, so allowed.
          if (item === undefined) continue;
          check(item, `${path}.${name}`, name, seen, what, depth + 1);
        }
      }
      seen.delete(value);
      return;
    }
  }
}

/** Parse JSON produced by {@link toJson}. `__proto__` keys were refused on the way in, so a plain parse is safe. */
export function fromJson(json: string): unknown {
  return JSON.parse(json);
}
