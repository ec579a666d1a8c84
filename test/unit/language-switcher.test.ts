// Where the language switcher returns to (i18n/middleware.ts switcherBack): the sign-in's own page
// for every step, the page itself with its query when it opened fine, only the path otherwise (a
// form's answer, an error page), so nothing a request sent is echoed into the switcher's links.
import assert from 'node:assert/strict';
import type { Context } from 'koa';
import { switcherBack } from '../../src/i18n/middleware.ts';

const ctx = (method: string, url: string, status?: number) => {
  const [p] = url.split('?');
  return { method, path: p, originalUrl: url, status: status ?? 404, response: { _explicitStatus: status !== undefined } } as unknown as Context;
};

describe('the language switcher\'s way back (i18n/middleware.ts)', () => {
  const rows: [string, Context, string][] = [
    ['a sign-in page', ctx('GET', '/interaction/abc_DEF-1'), '/interaction/abc_DEF-1'],
    ['a sign-in step\'s form answer', ctx('POST', '/interaction/abc/login', 400), '/interaction/abc'],
    ['a page with its query (an emailed link)', ctx('GET', '/account/not-me?token=t.1'), '/account/not-me?token=t.1'],
    ['a page that set 200 itself', ctx('GET', '/account/security?x=1', 200), '/account/security?x=1'],
    ['an error page: the path only', ctx('GET', '/auth?redirect_uri=https://evil.example/', 400), '/auth'],
    ['a not-found page: the path only', ctx('GET', '/nowhere?q=<x>', 404), '/nowhere'],
    ['a form answer elsewhere: the path', ctx('POST', '/account/security/password', 400), '/account/security/password'],
  ];
  for (const [name, c, want] of rows) it(name, () => assert.equal(switcherBack(c), want));
});
