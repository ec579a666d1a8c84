// "Extend" refused (factors/challenges.ts says why in English): the page says it in its language,
// the longest a code may last as a plural of minutes (factors/code-messages.ts).
import assert from 'node:assert/strict';
import { translator } from '../../src/i18n/index.ts';
import { sendProblemSaid } from '../../src/factors/code-messages.ts';

describe('a refused "Extend" in every language', () => {
  const longest = 'This code cannot be extended any further (at most 15 minutes in all).';
  const spent = 'This code can no longer be extended: use "Resend" to get a new one.';

  it('knows both sentences, and English says them as they were', () => {
    const en = translator('en');
    for (const sentence of [longest, spent]) {
      const said = sendProblemSaid(sentence);
      assert.ok(said, sentence);
      assert.equal(en(said.key, said.vars), sentence);
    }
  });

  it('says the longest a code lasts in Polish and German minutes', () => {
    const said = sendProblemSaid(longest)!;
    assert.equal(translator('pl')(said.key, said.vars), 'Tego kodu nie można już przedłużyć (łącznie najwyżej 15 minut).');
    assert.equal(translator('pl')(said.key, { count: 2 }), 'Tego kodu nie można już przedłużyć (łącznie najwyżej 2 minuty).');
    assert.equal(translator('de')(said.key, said.vars), 'Dieser Code kann nicht weiter verlängert werden (insgesamt höchstens 15 Minuten).');
    assert.equal(translator('de')(sendProblemSaid(spent)!.key), 'Dieser Code kann nicht mehr verlängert werden. Fordern Sie mit „Code erneut senden“ einen neuen an.');
  });
});
