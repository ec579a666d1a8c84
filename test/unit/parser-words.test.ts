// The phone-number and IP-range parsers' reasons reach the security center's pages in the page's
// language: each reason carries its translation (key and values), and the English translation says
// exactly what the parser says in English (the audit log, the API and the English page).
import assert from 'node:assert/strict';
import { translator } from '../../src/i18n/index.ts';
import { parseNumber } from '../../src/phones/numbers.ts';
import { parseRange } from '../../src/policy/ip-ranges.ts';

const NUMBERS = ['', ' ', '0612345678', '+', '+ ()', '+33 6 12 34 56', '+1', '+999 123456', '+33 6 12 34 56 78 90 12 34', '+33 (6) abc', `+${'1'.repeat(40)}`, '+4 8'];
const RANGES = ['', 'abc', '1.2.3.4/40', '1.2.3.4/x', '::ffff:1.2.3.4/90', '0.0.0.0/0', '10.0.0.0/1', '2001:db8::/16', '1.2.3.4/8/1', 'fe80::1%eth0'];

describe('the phone and IP parsers\' reasons in every language', () => {
  const problems = [
    ...NUMBERS.map((n) => parseNumber(n)),
    ...RANGES.map((r) => parseRange(r)),
  ].filter((p): p is { problem: string; said: { key: string; vars?: Record<string, string | number> } } => 'problem' in p);

  it('refuses each bad input with a reason and its translation', () => {
    assert.equal(problems.length, NUMBERS.length + RANGES.length, 'every input refused');
    for (const p of problems) assert.ok(p.said?.key, `${p.problem}: a translation`);
  });

  it('says in English exactly what the parser says', () => {
    const en = translator('en');
    for (const p of problems) assert.equal(en(p.said.key, p.said.vars), p.problem);
  });

  it('says it in Polish and German, no key left as a key and nothing left in English', () => {
    for (const lang of ['pl', 'de']) {
      const t = translator(lang);
      for (const p of problems) {
        const said = t(p.said.key, p.said.vars);
        assert.notEqual(said, p.said.key, `${lang}: ${p.said.key}`);
        assert.notEqual(said, p.problem, `${lang}: ${p.problem} is translated`);
        assert.doesNotMatch(said, /\{\{/, `${lang}: every value filled in`);
      }
    }
  });
});
