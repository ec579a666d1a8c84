// axe-core on the pages issue 20 added or changed, in Debian's Chromium at phone and desktop
// widths: no WCAG 2.x A/AA violation. Each page is fetched as a person would reach it (real HTTP,
// real sign-in), then shown in Chromium on the issuer's origin so its stylesheet applies.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../support/browser.ts';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { createUser, formOn, giveVerifiedPhone, RelyingParty, signIn, signInAndGetTokens, UserAgent } from '../support/flow.ts';
import { generate } from 'otplib';
import { ACR } from '../../src/policy/assurance.ts';
import { COMMAND_LINE } from '../../src/admin/types.ts';

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

describe('accessibility of the new and changed pages (axe-core, WCAG 2.2 A/AA)', function () {
  this.timeout(360_000);
  let t: Tessera;
  let browser: Browser | undefined;
  const pages: [string, string][] = [];

  before(async function () {
    browser = await launchChromium();
    if (!browser) return this.skip();
    t = await startTessera({ env: { SIGNUP_ENABLED: 'true' } });
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
    // RP-initiated logout with a post_logout_redirect_uri but neither id_token_hint nor client_id (issue 25)
    pages.push(['sign-out request incomplete', (await new UserAgent().request(`${t.issuer}/session/end?post_logout_redirect_uri=${encodeURIComponent('https://rp.example/bye')}`)).body]);
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

    // "This wasn't me" from a new-device email: the confirmation page, the done page, a used link
    const [ownDevice] = await t.services.devices.listFor(owner.id);
    const containment = t.services.containment.linkFor(owner.id, ownDevice!.id);
    const secure = await blocked.visit(containment);
    pages.push(['this was not me, confirm', secure.body]);
    const secured = await blocked.submit(secure, /\/account\/not-me$/);
    assert.match(secured.body, /<h1>Your account is secured<\/h1>/);
    pages.push(['this was not me, done', secured.body]);
    pages.push(['this was not me, used', (await blocked.visit(containment)).body]);

    // an authenticator app set up during a sign-in: its recovery codes, then the page a reload shows
    const enrolling = await createUser(t);
    const setup = new UserAgent();
    const offer = await setup.submit(await setup.visit((await rp.authorize({ acr_values: ACR.mfa })).url), /\/login$/, { email: enrolling.email, password: enrolling.password });
    const signInCode = t.services.outbox.list().find((m) => m.to === enrolling.email && /sign-in code$/.test(m.subject ?? ''))!.subject!.slice(0, 6);
    const choose = await setup.submit(offer, /\/enrol\/email$/, { code: signInCode });
    const enrolSecret = /<code class="key"[^>]*>([A-Z2-7 ]+)<\/code>/.exec(choose.body)![1]!.replaceAll(' ', '');
    const codesPage = await setup.submit(choose, /\/enrol\/totp$/, { code: await generate({ secret: enrolSecret, epoch: Math.floor(Date.now() / 1000) }) });
    assert.match(codesPage.body, /<h1>Save your recovery codes<\/h1>/);
    pages.push(['sign-in, recovery codes after a setup', codesPage.body]);
    const shownOnce = await setup.visit(formOn(codesPage, /\/enrol\/continue$/).action.replace(/\/enrol\/continue$/, ''));
    assert.match(shownOnce.body, /<h1>Your recovery codes were shown once<\/h1>/);
    pages.push(['sign-in, recovery codes already shown', shownOnce.body]);

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
    // refused changes: each message beside the field (or button) of its form
    const center = (path: string) => `${t.issuer}/account/security${path}`;
    const refused = async (name: string, path: string, fields: Record<string, string>) => {
      const csrf = formOn(await agent.visit(center('')), /\/second-factor$/).fields._csrf!;
      const res = await agent.request(center(path), { form: { _csrf: csrf, ...fields } });
      assert.equal(res.status, 400, `${name}: ${res.body.slice(0, 200)}`);
      assert.match(res.body, /aria-describedby="[^"]+-error"/, name);
      pages.push([name, res.body]);
      return res;
    };
    await giveVerifiedPhone(t, user);
    await refused('security overview, refused routine factor', '/second-factor', { factor: 'no-such-method' });
    await refused('security overview, security key without a name', '/webauthn', { name: '', response: '' });
    await refused('password, broken rules', '/password', { current: user.password, password: 'short', confirm: 'short' });
    await refused('PIN, repeat differs', '/pin', { pin: '482916', repeat: '482917', password: user.password });
    const appSecret = /<code class="key"[^>]*>([A-Z2-7 ]+)<\/code>/.exec((await agent.visit(center('/totp'))).body)![1]!.replaceAll(' ', '');
    const appCode = await generate({ secret: appSecret, epoch: Math.floor(Date.now() / 1000) });
    await refused('authenticator app, wrong code', '/totp', { code: appCode === '000000' ? '111111' : '000000', password: user.password });
    const phones = await refused('phone numbers, refused number', '/phones', { number: 'not a number' });
    const [phoneId] = [...phones.body.matchAll(/<li data-phone="([^"]+)">/g)].map((m) => m[1]!);
    await refused('phone numbers, refused change', `/phones/${phoneId}/change`, { number: '+41 79 123 45 67' });
    const added = await agent.request(center('/phones'), { form: { _csrf: formOn(phones, /\/phones$/).fields._csrf!, number: '+41 79 555 44 33' } });
    const newPhone = /action="\/account\/security\/phones\/([^/"]+)\/verify"/.exec(added.body)![1]!;
    await agent.request(center(`/phones/${newPhone}/verify`), { form: { _csrf: formOn(added, /\/verify$/).fields._csrf!, channel: 'sms' } });
    await refused('phone code, wrong code', `/phones/${newPhone}/code`, { channel: 'sms', code: '12345x' });
    const devices = await agent.visit(center('/devices'));
    await refused('devices, refused new name', `/devices/${/<li id="device-([^"]+)">/.exec(devices.body)![1]!}/rename`, { name: ' ' });
    await refused('devices, refused name for this browser', '/devices/trust', { name: ' ' });
    await refused('devices, no device key from this browser', '/devices/trust', { name: 'Kiosk' });
    const trustForm = formOn(devices, /\/trust$/).fields;
    const trust = await agent.request(center('/devices/trust'), { form: { _csrf: trustForm._csrf!, ...(await agent.deviceKeyFields(trustForm, {})), name: 'Work laptop' } });
    await refused('device code, wrong code', '/devices/verify', { device: formOn(trust, /\/devices\/verify$/).fields.device!, code: '12345x' });
    const { phone: mobile } = await t.services.phones.add(user.id, '+41 79 222 33 44');
    await t.services.phones.markVerified(user.id, mobile.id, mobile.number);
    await refused('primary number, wrong password', `/phones/${mobile.id}/primary`, { confirm: 'yes', password: 'Wrong#Guess1' });
    await refused('trusted IPs, refused range', '/ips', { range: '10.1', skips: 'all', password: user.password });
    await refused('sessions, refused auto-logout', '/sessions/auto-logout', { days: 'soon' });
    const del = await agent.visit(`${t.issuer}/account/security/delete`);
    pages.push(['delete your account', del.body]);
    pages.push(['delete, wrong password', (await agent.submit(del, /\/account\/security\/delete$/, { password: 'Wrong#Guess1' })).body]);
    pages.push(['deletion scheduled', (await agent.submit(del, /\/account\/security\/delete$/, { password: user.password })).body]);

    // organisation webhooks (issue 23): the list, a refused registration, the secret shown once, an endpoint, its delete confirmation
    const orgAdmin = await createUser(t);
    const org = await t.services.organisations.create('Axe Research');
    await t.services.organisations.setMember(org.id, orgAdmin.id, true);
    const orgAgent = new UserAgent();
    await orgAgent.visit((await orgAgent.submit(await orgAgent.visit(center('')), /\/login$/, { email: orgAdmin.email, password: orgAdmin.password }, `${t.issuer}/account/`)).url);
    pages.push(['organisation webhooks', (await orgAgent.visit(center('/organisation/webhooks'))).body]);
    const newHook = await orgAgent.visit(center('/organisation/webhooks/new'));
    pages.push(['organisation webhook, refused', (await orgAgent.submit(newHook, /\/organisation\/webhooks$/, { url: 'http://hooks.example.com/x' })).body]);
    pages.push(['organisation webhook, secret', (await orgAgent.submit(newHook, /\/organisation\/webhooks$/, { url: 'https://hooks.example.com/x', type_password_changed: 'on' })).body]);
    const { endpoint: orgHook } = await t.services.admin.webhooks.create(COMMAND_LINE, { url: 'https://hooks.example.com/y', types: ['password.changed'], organisationId: org.id });
    pages.push(['organisation webhook', (await orgAgent.visit(center(`/organisation/webhooks/${orgHook.id}`))).body]);
    pages.push(['organisation webhook, delete', (await orgAgent.visit(center(`/organisation/webhooks/${orgHook.id}/delete`))).body]);

    // "Forgot password?" (issue 21): every stage, and its refusals beside the fields
    const resetting = await createUser(t, { name: 'Rosa Reset' });
    await giveVerifiedPhone(t, resetting);
    const app = await t.services.totp.begin(resetting.id, resetting.email);
    await t.services.totp.confirm(resetting.id, await generate({ secret: app.secret, epoch: Math.floor(Date.now() / 1000) }));
    const forgetful = new UserAgent();
    const signInPage = await forgetful.visit((await rp.authorize()).url);
    const forgot = await forgetful.visit(new URL(/href="(\/interaction\/[^"]+\/forgot)"/.exec(signInPage.body)![1]!, t.issuer).href);
    pages.push(['forgot password, email', forgot.body]);
    pages.push(['forgot password, email refused', (await forgetful.submit(forgot, /\/forgot$/, { email: 'not an address' })).body]);
    const codeStage = await forgetful.submit(forgot, /\/forgot$/, { email: resetting.email });
    pages.push(['forgot password, code', codeStage.body]);
    pages.push(['forgot password, wrong code', (await forgetful.submit(codeStage, /\/forgot\/code$/, { code: '12345x' })).body]);
    const texting = new UserAgent();
    const textForgot = await texting.visit(new URL(/href="(\/interaction\/[^"]+\/forgot)"/.exec((await texting.visit((await rp.authorize()).url)).body)![1]!, t.issuer).href);
    pages.push(['forgot password, code by text', (await texting.submit(textForgot, /\/forgot$/, { email: 'nobody-texted@example.com', channel: 'sms' })).body]);
    const resetMail = () => t.services.outbox.list().find((m) => m.to === resetting.email && /password reset code/.test(m.subject ?? ''));
    for (let i = 0; i < 500 && !resetMail(); i++) await new Promise((r) => setTimeout(r, 20)); // sent in the background
    const resetCode = /(\d{6}) is your/.exec(resetMail()!.subject!)![1]!;
    const factorStage = await forgetful.submit(codeStage, /\/forgot\/code$/, { code: resetCode });
    pages.push(['forgot password, second factor', factorStage.body]);
    pages.push(['forgot password, wrong app code', (await forgetful.submit(factorStage, /\/forgot\/factor$/, { method: 'totp', code: '00000x' })).body]);
    const [rescue] = await t.services.recovery.generate(resetting.id);
    const passwordStage = await forgetful.submit(factorStage, /\/forgot\/factor$/, { method: 'recovery', code: rescue! });
    pages.push(['forgot password, new password', passwordStage.body]);
    pages.push(['forgot password, new password refused', (await forgetful.submit(passwordStage, /\/forgot\/password$/, { password: 'short', confirm: 'short' })).body]);

    // passkeys (issue 21): a refusal beside the passkey button, the offer after a password sign-in and its refusal
    const passkeyAgent = new UserAgent();
    const passkeyPage = await passkeyAgent.visit((await rp.authorize()).url);
    const passkeyRefused = await passkeyAgent.submit(passkeyPage, /\/passkey$/, { response: '{}' });
    pages.push(['sign-in, passkey refused', passkeyRefused.body]);
    await passkeyAgent.jar.setCookie('tessera.passkey-capable=1', t.issuer);
    const offered = await createUser(t);
    const passkeyOffer = await passkeyAgent.submit(passkeyRefused, /\/login$/, { email: offered.email, password: offered.password });
    pages.push(['passkey offer', passkeyOffer.body]);
    pages.push(['passkey offer, refused', (await passkeyAgent.submit(passkeyOffer, /\/passkey-offer$/, { response: '{}' })).body]);

    // sign-up (issue 21; SIGNUP_ENABLED above): the form, its refusals beside the fields, the code page and a wrong code
    const newcomer = new UserAgent();
    const signUpForm = await newcomer.visit(`${(await newcomer.visit((await rp.authorize()).url)).url}/sign-up`);
    pages.push(['sign-up', signUpForm.body]);
    pages.push(['sign-up, refused', (await newcomer.submit(signUpForm, /\/sign-up$/, { email: 'nope', name: '', password: 'short', confirm: 'x' })).body]);
    const signUpCode = await newcomer.submit(signUpForm, /\/sign-up$/, { email: `new-${Date.now()}@example.com`, name: 'New Comer', password: 'Lantern#Quiet7', confirm: 'Lantern#Quiet7' });
    pages.push(['sign-up, code', signUpCode.body]);
    pages.push(['sign-up, wrong code', (await newcomer.submit(signUpCode, /\/sign-up\/code$/, { code: 'abcdef' })).body]);

    // the second-factor step (README "Accessibility"): the code page with its unavailable methods shown disabled, and a wrong code
    const routine = await createUser(t);
    await t.services.accounts.setSecondFactor(routine.id, 'email');
    const stepping = new UserAgent();
    const factorPage = await stepping.submit(await stepping.visit((await rp.authorize()).url), /\/login$/, { email: routine.email, password: routine.password });
    assert.match(factorPage.body, /class="disabled" aria-disabled="true"/, 'a method shown disabled');
    pages.push(['second factor, code, disabled methods', factorPage.body]);
    pages.push(['second factor, wrong code', (await stepping.submit(factorPage, /\/factor$/, { code: '00000x' })).body]);
    pages.push(['PIN, disabled settings', (await orgAgent.visit(center('/pin'))).body]);
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
