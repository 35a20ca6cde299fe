import { describe, it, expect } from '@jest/globals';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

// Every relative link in README.md and docs/*.md leads somewhere: the file exists, and a `#fragment` names a heading
// of the target page (as GitHub makes heading ids). Links to other sites are not followed.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const pages = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** The id GitHub gives a heading: lower case, punctuation other than `-` and `_` dropped, spaces to `-`. */
function slug(heading: string): string {
  const text = heading.replace(/`/g, '').replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').trim().toLowerCase();
  return text.replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
}

/** The heading ids of a page, with GitHub's -1, -2 suffixes for repeated headings. */
function anchors(file: string): Set<string> {
  const seen = new Map<string, number>();
  const ids = new Set<string>();
  let fenced = false;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const heading = !fenced && /^#{1,6} (.*)$/.exec(line);
    if (!heading) continue;
    const base = slug(heading[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    ids.add(n === 0 ? base : `${base}-${n}`);
  }
  return ids;
}

/** Relative links of a page outside code: [text](target), with the line they are on. */
function links(file: string): { target: string; line: number }[] {
  const found: { target: string; line: number }[] = [];
  let fenced = false;
  readFileSync(file, 'utf8').split('\n').forEach((text, i) => {
    if (text.startsWith('```')) fenced = !fenced;
    if (fenced) return;
    const outsideCode = text.replace(/`[^`]*`/g, '');
    for (const match of outsideCode.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const target = match[1]!;
      if (!/^[a-z][a-z0-9+.-]*:/i.test(target)) found.push({ target, line: i + 1 });
    }
  });
  return found;
}

describe('links in README.md and docs/', () => {
  it('finds the pages and their links (the checker sees what it checks)', () => {
    expect(pages.length).toBeGreaterThan(10);
    expect(links(join(ROOT, 'README.md')).length).toBeGreaterThan(5);
    expect(anchors(join(ROOT, 'docs/benchmarks.md')).has('where-the-time-goes')).toBe(true);
    expect(slug('Store-backed monitoring on vs off (issue 13)')).toBe('store-backed-monitoring-on-vs-off-issue-13');
    expect(slug('`deep`: a *million* jobs, 1–3 min')).toBe('deep-a-million-jobs-13-min');
  });

  it.each(pages)('every relative link in %s leads to a file, and to a heading of it', (page) => {
    const file = join(ROOT, page);
    const broken: string[] = [];
    for (const { target, line } of links(file)) {
      const [path, fragment] = target.split('#') as [string, string | undefined];
      const to = path === '' ? file : join(dirname(file), decodeURI(path));
      if (!existsSync(to)) broken.push(`${page}:${line} ${target}: no file ${relative(ROOT, to)}`);
      else if (fragment && to.endsWith('.md') && !anchors(to).has(decodeURIComponent(fragment))) {
        broken.push(`${page}:${line} ${target}: no heading #${fragment} in ${relative(ROOT, to)}`);
      }
    }
    expect(broken).toEqual([]);
  });
});
