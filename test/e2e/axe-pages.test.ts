// axe-core on the pages issue 20 added or changed, in Debian's Chromium at phone and desktop
// widths: no WCAG 2.x A/AA violation. Each page is fetched as a person would reach it (real HTTP,
// real sign-in), then shown in Chromium on the issuer's origin so its stylesheet applies.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../support/browser.ts';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { createUser, formOn, RelyingParty, signIn, signInAndGetTokens, UserAgent } from '../support/flow.ts';

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

describe('accessibility of the new and changed pages (axe-core, WCAG 2.2 A/AA)', function () {
  this.timeout(180_000);
  let t: Tessera;
  let browser: Browser | undefined;
  const pages: [string, string][] = [];

  before(async function () {
    browser = await launchChromium();
    if (!browser) return this.skip();
    t = await startTessera();
    const user = await createUser(t);
    const rp = await RelyingParty.register(t);
    await signInAndGetTokens(await RelyingParty.register(t, { skipConsent: true }), user);

    // the sign-in page warning how many tries are left
    const auth = new URL((await rp.authorize()).url);
    const stranger = new UserAgent();
    let page = await stranger.visit(auth.href);
    for (let i = 0; i < 3; i++) page = await stranger.submit(page, /\/login$/, { email: user.email, password: 'Wrong#Guess1' });
    pages.push(['sign-in, tries left', page.body]);
    // an application's broken request; an unknown address; a non-admin at the console
    auth.searchParams.set('redirect_uri', 'https://elsewhere.example/cb');
    pages.push(['error page', (await new UserAgent().request(auth.href)).body]);
    pages.push(['not found', (await new UserAgent().request(`${t.issuer}/no/such/page`)).body]);
    const visitor = new UserAgent();
    const consoleLogin = await visitor.visit((await visitor.request(`${t.issuer}/admin`)).headers.get('location')!);
    pages.push(['not an administrator', (await visitor.submit(consoleLogin, /\/login$/, { email: user.email, password: user.password })).body]);

    // a device blocked after wrong passwords, and the emailed link that unblocks it
    const owner = await createUser(t);
    const blocked = new UserAgent();
    const again = async () => blocked.visit((await rp.authorize({ prompt: 'login' })).url);
    await signIn(blocked, (await rp.authorize()).url, owner);
    for (let i = 0; i < 5; i++) page = await blocked.submit(await again(), /\/login$/, { email: owner.email, password: 'Wrong#Guess1' });
    pages.push(['sign-in, device blocked', page.body]);
    await t.services.notices.settled();
    const notice = t.services.outbox.list().find((m) => m.to === owner.email && /A device was blocked/.test(m.subject ?? ''));
    const link = /(http:\/\/\S+\/account\/unblock-device\?token=[\w.-]+)/.exec(notice?.text ?? '')?.[1];
    assert.ok(link, 'the blocked-device email carries an unblock link');
    pages.push(['unblock link, refused', (await blocked.request(`${t.issuer}/account/unblock-device?token=nonsense`)).body]);
    const unblock = await blocked.visit(link);
    pages.push(['unblock, password', unblock.body]);
    pages.push(['unblock, wrong password', (await blocked.submit(unblock, /\/password$/, { password: 'Wrong#Guess1' })).body]);
    const codeStep = await blocked.submit(unblock, /\/password$/, { password: owner.password });
    assert.match(codeStep.body, /name="code"/);
    pages.push(['unblock, code', codeStep.body]);
    pages.push(['unblock, wrong code', (await blocked.submit(codeStep, /\/unblock-device\/code$/, { code: '12345' })).body]);
    const sent = t.services.outbox.list().find((m) => m.to === owner.email && /code to unblock a device/.test(m.subject ?? ''));
    const unblocked = await blocked.submit(codeStep, /\/unblock-device\/code$/, { code: /^(\d{6})/.exec(sent?.subject ?? '')?.[1] ?? '' });
    assert.match(unblocked.body, /<h1>The device is unblocked<\/h1>/);
    pages.push(['unblock, done', unblocked.body]);

    // the security center
    const agent = new UserAgent();
    const login = await agent.visit(`${t.issuer}/account/security`);
    pages.push(['security overview', (await agent.visit((await agent.submit(login, /\/login$/, { email: user.email, password: user.password }, `${t.issuer}/account/`)).url)).body]);
    pages.push(['connected applications', (await agent.visit(`${t.issuer}/account/security/apps`)).body]);
    const profile = await agent.visit(`${t.issuer}/account/security/profile`);
    pages.push(['profile', profile.body]);
    const form = formOn(profile, /\/account\/security\/profile$/);
    pages.push(['profile, errors beside fields', (await agent.request(form.action, { form: { ...form.fields, name: '', locale: 'x y', zoneinfo: 'Nowhere/Else' } })).body]);
    // the email address: a refused new address, the code page for a new one (and a wrong code), verifying the current one
    const emailForm = formOn(profile, /\/profile\/email$/);
    pages.push(['profile, new email refused', (await agent.request(emailForm.action, { form: { ...emailForm.fields, email: 'not an address' } })).body]);
    const emailCode = await agent.request(emailForm.action, { form: { ...emailForm.fields, email: `new-${user.id.slice(0, 8)}@example.com` } });
    assert.match(emailCode.body, /<h1>Confirm your new email address<\/h1>/);
    pages.push(['new email, code page', emailCode.body]);
    const codeForm = formOn(emailCode, /\/code$/);
    pages.push(['new email, wrong code', (await agent.request(codeForm.action, { form: { ...codeForm.fields, code: '12345x' } })).body]);
    pages.push(['verify email, code page', (await agent.submit(profile, /\/email-verification$/)).body]);
    pages.push(['your data', (await agent.visit(`${t.issuer}/account/security/data`)).body]);
    const del = await agent.visit(`${t.issuer}/account/security/delete`);
    pages.push(['delete your account', del.body]);
    pages.push(['delete, wrong password', (await agent.submit(del, /\/account\/security\/delete$/, { password: 'Wrong#Guess1' })).body]);
    pages.push(['deletion scheduled', (await agent.submit(del, /\/account\/security\/delete$/, { password: user.password })).body]);
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  it('finds no violation on any of them, at 390 and 1280 px', async () => {
    assert.ok(pages.length >= 10);
    const problems: string[] = [];
    for (const [name, html] of pages) {
      for (const width of [390, 1280]) {
        const p = await browser!.newPage({ viewport: { width, height: 800 } });
        await p.route(`${t.issuer}/__page`, (r) => r.fulfill({ contentType: 'text/html', body: html }));
        await p.goto(`${t.issuer}/__page`);
        await p.addScriptTag({ content: AXE });
        const violations = await p.evaluate(async () => {
          const axe = (globalThis as unknown as { axe: { run(o: object): Promise<{ violations: { id: string; nodes: { target: string[] }[] }[] }> } }).axe;
          const result = await axe.run({ runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] } });
          return result.violations.map((v) => `${v.id} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
        });
        for (const v of violations) problems.push(`${name} @${width}: ${v}`);
        await p.close();
      }
    }
    assert.deepEqual(problems, []);
  });
});
