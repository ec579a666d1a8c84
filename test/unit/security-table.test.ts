// SECURITY.md is the requirements table (ASVS 5.0 V6/V7/V10, NIST SP 800-63B-4, RFC 9700): each row
// names the test that proves it, or says why it does not apply or where Tessera falls short. This
// test keeps the table honest: every cited test file exists and holds a test with exactly that
// title, so renaming or deleting a test breaks the table here. Pure file reads, no server.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const MIN_TESTED_ROWS = 60;

interface Citation { file: string; title: string }
interface Row { line: number; id: string; cells: string[]; kind: 'tested' | 'na' | 'not-met' | 'untested' | 'unproven'; citations: Citation[] }

const ROW_ID = /^(ASVS \d+\.\d+\.\d+|800-63B-4 §[\d.]+|RFC 9700 §[\d.]+)/;
// `test/….test.ts` › "title" — the title ends at a quote followed by the end of the cell or "; ".
const CITATION = /`(test\/[^`]+?\.test\.ts)`\s*›\s*"(.*?)"(?=\s*(?:;|$))/g;

/** Splits a Markdown table line into its cells (no cell of this table holds a pipe). */
function cellsOf(line: string): string[] {
  return line.trim().replace(/^\|/, '').replace(/\|$/, '').split('|').map((c) => c.trim());
}

export function parseTable(markdown: string): Row[] {
  const rows: Row[] = [];
  markdown.split('\n').forEach((text, index) => {
    if (!text.startsWith('|')) return;
    const cells = cellsOf(text);
    const id = ROW_ID.exec(cells[0] ?? '')?.[1];
    if (!id) return;
    const proof = cells[3] ?? '';
    const citations = [...proof.matchAll(CITATION)].map((m) => ({ file: m[1]!, title: m[2]! }));
    const kind = citations.length ? 'tested' : /^N\/A:/.test(proof) ? 'na' : /^Not met:/.test(proof) ? 'not-met' : /^Untested:/.test(proof) ? 'untested' : 'unproven';
    rows.push({ line: index + 1, id, cells, kind, citations });
  });
  return rows;
}

/** The titles of every it(…) in a test file, with escapes undone and `${NAME}` filled from `const NAME = literal`. */
export function testTitles(source: string): Set<string> {
  const constants = new Map<string, string>();
  for (const m of source.matchAll(/\bconst\s+([A-Z_][A-Z0-9_]*)\s*=\s*(\d+|'[^'\\]*'|"[^"\\]*")\s*;/g)) {
    constants.set(m[1]!, m[2]!.replace(/^['"]|['"]$/g, ''));
  }
  const titles = new Set<string>();
  const literal = /\bit(?:\.only|\.skip)?\(\s*('(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|`(?:[^`\\]|\\.)*`)/g;
  for (const m of source.matchAll(literal)) {
    const raw = m[1]!;
    let title = raw.slice(1, -1).replace(/\\(.)/g, '$1');
    if (raw.startsWith('`')) title = title.replace(/\$\{\s*([A-Za-z_]\w*)\s*\}/g, (all, name: string) => constants.get(name) ?? all);
    titles.add(title);
  }
  return titles;
}

describe('SECURITY.md requirements table', () => {
  const markdown = readFileSync(join(ROOT, 'SECURITY.md'), 'utf8');
  const rows = parseTable(markdown);
  const tested = rows.filter((r) => r.kind === 'tested');

  it(`has at least ${MIN_TESTED_ROWS} rows proven by a test`, () => {
    assert.ok(tested.length >= MIN_TESTED_ROWS, `${tested.length} rows with a test`);
  });

  it('gives every row a requirement, how Tessera meets it, and a test, "N/A: …", "Not met: …" or "Untested: …"', () => {
    for (const row of rows) {
      assert.equal(row.cells.length, 4, `line ${row.line} (${row.id}) has ${row.cells.length} cells`);
      assert.ok(row.cells[1] && row.cells[2], `line ${row.line} (${row.id}) lacks its requirement or how it is met`);
      assert.notEqual(row.kind, 'unproven', `line ${row.line} (${row.id}): the proof cell cites no test and is neither N/A, Not met nor Untested`);
    }
  });

  it('lists each ASVS requirement once', () => {
    const seen = new Map<string, number>();
    for (const row of rows.filter((r) => r.id.startsWith('ASVS '))) {
      assert.ok(!seen.has(row.id), `${row.id} on lines ${seen.get(row.id)} and ${row.line}`);
      seen.set(row.id, row.line);
    }
  });

  it('cites only test files that exist, each holding a test with exactly the cited title', () => {
    const titlesByFile = new Map<string, Set<string>>();
    const missing: string[] = [];
    for (const row of tested) {
      for (const { file, title } of row.citations) {
        const path = join(ROOT, file);
        if (!titlesByFile.has(file)) titlesByFile.set(file, existsSync(path) ? testTitles(readFileSync(path, 'utf8')) : new Set());
        if (!existsSync(path)) missing.push(`line ${row.line} (${row.id}): ${file} does not exist`);
        else if (!titlesByFile.get(file)!.has(title)) missing.push(`line ${row.line} (${row.id}): no test "${title}" in ${file}`);
      }
    }
    assert.deepEqual(missing, []);
  });

  it('reads titles the way mocha sees them (quotes, escapes, template constants)', () => {
    const titles = testTitles([
      "const PARALLEL = 20;",
      "it('keeps Tessera\\'s clock', () => {});",
      'it("a \\"quoted\\" word", () => {});',
      'it(`counts ${PARALLEL} parallel wrong codes`, async () => {});',
    ].join('\n'));
    assert.deepEqual([...titles], ["keeps Tessera's clock", 'a "quoted" word', 'counts 20 parallel wrong codes']);
    const [row] = parseTable('| ASVS 6.2.1 | r | h | `test/a.test.ts` › ""Log out" ends one"; `test/b.test.ts` › "x" |');
    assert.deepEqual(row!.citations, [{ file: 'test/a.test.ts', title: '"Log out" ends one' }, { file: 'test/b.test.ts', title: 'x' }]);
  });
});
