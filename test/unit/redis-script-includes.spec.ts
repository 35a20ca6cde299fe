import { describe, it, expect } from '@jest/globals';
import { loadScripts, resolveIncludes } from '../../lib/storage/redis/scripts.js';

const HELPERS = `--[[
  header comment
]]

-- Formats a number.
local function S(n)
  return string.format('%d', n)
end

local LIMIT = 10

-- Uses S and LIMIT.
local function key(base, n)
  return base .. S(math.min(n, LIMIT))
end

local function unused()
  return 'never'
end

local later

later = function(x)
  return key('k', x)
end
`;

describe('the Redis scripts\u2019 includes', () => {
  const includes = new Map([['helpers', HELPERS]]);

  it('keep only the definitions a script uses, with what those use, in file order and with their comments', () => {
    const lua = resolveIncludes('-- @include helpers\nreturn key(KEYS[1], 3)\n', includes);
    expect(lua).toContain('header comment');
    expect(lua).toContain('-- Formats a number.\nlocal function S(n)');
    expect(lua).toContain('local LIMIT = 10');
    expect(lua).toContain('-- Uses S and LIMIT.\nlocal function key(base, n)');
    expect(lua).not.toContain('unused');
    expect(lua).not.toContain('later');
    expect(lua.indexOf('function S(')).toBeLessThan(lua.indexOf('LIMIT = 10'));
    expect(lua.indexOf('LIMIT = 10')).toBeLessThan(lua.indexOf('function key('));
    expect(lua.trimEnd().endsWith('return key(KEYS[1], 3)')).toBe(true);
  });

  it('keep both halves of a forward-declared function', () => {
    const lua = resolveIncludes('-- @include helpers\nreturn later(1)\n', includes);
    expect(lua).toContain('local later\n');
    expect(lua).toContain('later = function(x)');
    expect(lua).toContain('local function key(');
    expect(lua).not.toContain('unused');
  });

  it('ignore names that only appear in a script\u2019s comments', () => {
    const lua = resolveIncludes('-- @include helpers\n-- unused() is not called\nreturn 1\n', includes);
    expect(lua).not.toContain('function unused');
  });

  it('leave each real script only the helpers it calls', async () => {
    const scripts = await loadScripts();
    const defines = (name: string, fn: string) => new RegExp(`^local function ${fn}\\(`, 'm').test(scripts.get(name as never)!.lua);
    expect(defines('claim', 'jobPairs')).toBe(true);
    expect(defines('insert', 'jobPairs')).toBe(false);
    expect(defines('insert', 'pushWaiting')).toBe(true);
    expect(defines('prune', 'promote')).toBe(false);
    // Every helper a script calls is defined before the script's own code (the script's code would fail otherwise).
    for (const [name, { lua }] of scripts) {
      expect(lua).not.toMatch(/^-- @include /m);
      if (/\bS\(/.test(lua.replace(/--[^\n]*/g, ''))) expect(defines(name, 'S')).toBe(true);
    }
  });
});
