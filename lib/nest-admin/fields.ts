import { BadRequestException } from '@nestjs/common';
import { messages } from '../contract/errors.js';
import type { FieldSpec } from './routes.js';

/** A 400 answer naming the field: `{ statusCode, error, message, field }`. */
export function badField(field: string, message: string): BadRequestException {
  return new BadRequestException({ statusCode: 400, error: 'Bad Request', message, field });
}

function expected(spec: FieldSpec): string {
  if (spec.enum) return `one of ${spec.enum.map((v) => JSON.stringify(v)).join(', ')}`;
  switch (spec.type) {
    case 'integer': return `a whole number from ${spec.min ?? 0} to ${spec.max ?? Number.MAX_SAFE_INTEGER}`;
    case 'boolean': return 'true or false';
    case 'date-time': return 'an ISO 8601 date, e.g. 2026-01-31T12:00:00Z';
    case 'object': return 'an object';
    default: return `a string of 1 to ${spec.maxLength ?? 200} characters`;
  }
}

function parseOne(name: string, spec: FieldSpec, raw: unknown, fromQuery: boolean): unknown {
  const fail = () => badField(name, messages.adminInvalidField(name, raw, expected(spec)));
  if (Array.isArray(raw) && fromQuery) throw fail();
  switch (spec.type) {
    case 'integer': {
      const n = typeof raw === 'string' && fromQuery && /^-?\d{1,16}$/.test(raw) ? Number(raw) : raw;
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < (spec.min ?? 0) || n > (spec.max ?? Number.MAX_SAFE_INTEGER)) throw fail();
      return n;
    }
    case 'boolean': {
      const b = fromQuery && (raw === 'true' || raw === 'false') ? raw === 'true' : raw;
      if (typeof b !== 'boolean') throw fail();
      return b;
    }
    case 'date-time': {
      const d = typeof raw === 'string' && /^\d{4}-\d{2}-\d{2}/.test(raw) ? new Date(raw) : null;
      if (!d || Number.isNaN(d.getTime())) throw fail();
      return d;
    }
    case 'object':
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw fail();
      return raw;
    default:
      if (typeof raw !== 'string' || raw.length < 1 || raw.length > (spec.maxLength ?? 200) || (spec.enum && !spec.enum.includes(raw))) throw fail();
      return raw;
  }
}

/**
 * Check a query or body against its fields: every value of the right type and range, required ones present, no
 * unknown field (a typo would otherwise widen a filter). Returns the parsed values (numbers, booleans, Dates).
 * Throws a 400 naming the first bad field, prefixed with `where` (e.g. `filter.state`).
 */
export function parseFields(specs: Readonly<Record<string, FieldSpec>>, raw: unknown, options: { fromQuery: boolean; where?: string }): Record<string, any> {
  const prefix = options.where ? `${options.where}.` : '';
  if (raw === undefined || raw === null) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw badField(options.where ?? 'body', messages.adminInvalidField(options.where ?? 'body', raw, 'a JSON object'));
  const values: Record<string, any> = {};
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    if (!Object.hasOwn(specs, name)) throw badField(`${prefix}${name}`, messages.adminUnknownField(`${prefix}${name}`, Object.keys(specs)));
    if (value !== undefined) values[name] = parseOne(`${prefix}${name}`, specs[name]!, value, options.fromQuery);
  }
  for (const [name, spec] of Object.entries(specs)) {
    if (spec.required && values[name] === undefined) throw badField(`${prefix}${name}`, messages.adminInvalidField(`${prefix}${name}`, undefined, expected(spec)));
  }
  return values;
}

/** Check a path parameter (a job id, a queue or schedule name): 1 to 200 characters. */
export function pathParam(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length < 1 || value.length > 200) throw badField(name, messages.adminInvalidField(name, value, 'a string of 1 to 200 characters'));
  return value;
}
