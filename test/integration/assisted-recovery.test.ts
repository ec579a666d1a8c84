// Lost second factor (issue 21): "I can't use this method" on the second-factor step lists the
// alternatives the account has; with none left the person asks for an assisted recovery (only
// after the password in this sign-in, one open request, at most one a day); an admin approves in
// the console with a required note (or rejects); a waiting period on Tessera's clock in which the
// factors still apply and every channel gets a cancel link that works once (a page with a POST
// button); then the next sign-in finds the factors reset and sets up a new one. Every step is
// audited and in the account's history. Bad input changes nothing; never a 500.
import assert from 'node:assert/strict';
import { generate } from 'otplib';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, UserAgent, createUser, giveVerifiedPhone, type Page, type TestUser } from '../support/flow.ts';
import { startSmtp, type Smtp, eventually } from '../support/mail.ts';

const HOUR = 3600_000;
const text = (html: string) => html.replace(/<[^>]+>/g, ' ').replace(/&amp;/g, '&').replace(/&#34;|&quot;/g, '"').replace(/&#39;/g, "'").replace(/\s+/g, ' ').trim();
const heading = (page: Page) => text(/<h1>([\s\S]*?)<\/h1>/.exec(page.body)?.[1] ?? '');

describe('assisted recovery of a lost second factor', () => {
  let smtp: Smtp;
  let t: Tessera;
  let rp: RelyingParty;
  let offset = 0;
  const clock = () => new Date(Date.now() + offset);
  const failures: unknown[] = [];
  const url = (path: string) => `${t.issuer}${path}`;

  before(async () => {
    smtp = await startSmtp();
    t = await startTessera({ clock, env: { SMTP_URL: smtp.url, RECOVERY_WAIT_HOURS: '24' }, log: (err) => { failures.push(err); console.error('    [tessera 500]', err); } });
    rp = await RelyingParty.register(t, { skipConsent: true });
  });
  after(async () => { await t.close(); await smtp.close(); });
  afterEach(() => assert.deepEqual(failures.splice(0), [], 'never a 500'));

  /** TOTP codes: each one for a later time step than the last (the clock moves on when it must). */
  function codeFor(who: { secret: string; lastStep: number }): Promise<string> {
    let step = Math.floor(clock().getTime() / 30_000) + 1;
    if (step <= who.lastStep) { offset += (who.lastStep + 1 - step) * 30_000; step = who.lastStep + 1; }
    who.lastStep = step;
    return generate({ secret: who.secret, epoch: step * 30 });
  }

  /** An account whose every sign-in needs its authenticator app (a verified mobile number too). */
  async function userWithApp(): Promise<TestUser & { secret: string; lastStep: number }> {
    const user = await createUser(t, { name: 'Lost Phone' });
    await giveVerifiedPhone(t, user);
    const { secret } = await t.services.totp.begin(user.id, user.email);
    const who = { ...user, secret, lastStep: 0 };
    assert.ok(await t.services.totp.confirm(user.id, await codeFor(who)));
    await t.services.accounts.setSecondFactor(user.id, 'totp');
    return who;
  }

  async function makeAdmin() {
    const admin = await userWithApp();
    await t.services.accounts.setRole(admin.id, 'admin');
    return admin;
  }

  /** Signs in to the console (password and app code); returns the agent. */
  async function consoleAgent(admin: Awaited<ReturnType<typeof makeAdmin>>): Promise<UserAgent> {
    const agent = new UserAgent();
    let page = await agent.visit(url('/admin/recoveries'));
    page = await agent.submit(page, /\/login$/, { email: admin.email, password: admin.password });
    page = await agent.submit(page, /\/factor$/, { code: await codeFor(admin) });
    assert.equal(heading(page), 'Assisted recoveries', page.body.slice(0, 300));
    return agent;
  }

  /** A new sign-in to the RP up to the second-factor page. */
  async function toSecondFactor(user: TestUser, agent = new UserAgent()): Promise<{ agent: UserAgent; page: Page }> {
    const login = await agent.visit((await rp.authorize()).url);
    const page = await agent.submit(login, /\/login$/, { email: user.email, password: user.password });
    return { agent, page };
  }

  async function lostFactorPage(agent: UserAgent, factorPage: Page): Promise<Page> {
    const link = /href="(\/interaction\/[^"]+\/lost-factor\?from=\w+)">I can't use this method</.exec(factorPage.body);
    assert.ok(link, 'the second-factor page links to "I can\'t use this method"');
    return agent.visit(url(link[1]!));
  }

  const audited = async (accountId: string, type: string, outcome = 'success') => eventually(async () => {
    const page = await t.services.audit.query({ accountId, type, limit: 50 });
    return page.events.find((e) => e.outcome === outcome);
  }, `${type} (${outcome}) audited`);

  it('"I can\'t use this method" lists the alternatives the account has, each one click back to the step', async () => {
    const user = await userWithApp();
    const [code] = await t.services.recovery.generate(user.id);
    const { agent, page } = await toSecondFactor(user);
    assert.match(page.body, />I can't use this method</);
    const lost = await lostFactorPage(agent, page);
    assert.equal(lost.status, 200);
    assert.equal(heading(lost), 'Cannot use your second factor?');
    assert.doesNotMatch(lost.body, /\?method=totp"/, 'the app it cannot use is no alternative');
    const alt = /href="(\/interaction\/[^"]+\?method=recovery)">Use a recovery code</.exec(lost.body);
    assert.ok(alt, 'recovery codes are offered');
    const codePage = await agent.visit(url(alt[1]!.replaceAll('&amp;', '&')));
    assert.match(codePage.body, /name="method" value="recovery"/);
    const done = await agent.submit(codePage, /\/factor$/, { code: code! });
    assert.ok(done.url.startsWith('http://127.0.0.1:9/callback'), 'the recovery code finished the sign-in');
  });

  it('asks only a sign-in that proved the password itself; one open request; at most one a day; bad input changes nothing', async () => {
    const user = await userWithApp();
    // a session signed in with password and app, asked for more (prompt=login voids nothing of this flow's proofs here: a step-up without the password)
    const { agent, page } = await toSecondFactor(user);
    let lost = await lostFactorPage(agent, page);
    const first = lost;
    // too long a message: refused beside the field, nothing stored
    const tooLong = await agent.submit(lost, /\/lost-factor$/, { message: 'x'.repeat(501) });
    assert.equal(tooLong.status, 400);
    assert.match(tooLong.body, /aria-describedby="message-error"/);
    assert.match(text(tooLong.body), /at most 500 characters/);
    assert.equal(await t.services.assistedRecovery.get(user.id), undefined);
    // a missing CSRF token: 403, nothing stored
    const forged = await agent.request(formAction(first), { form: { message: 'hi' } });
    assert.equal(forged.status, 403);
    assert.equal(await t.services.assistedRecovery.get(user.id), undefined);

    const since = smtp.received.length;
    lost = await agent.submit(lost, /\/lost-factor$/, { message: 'Phone fell in the lake. Call me at the office.' });
    assert.equal(lost.status, 200);
    assert.match(text(lost.body), /You asked for an assisted recovery on/);
    const stored = await t.services.assistedRecovery.get(user.id);
    assert.equal(stored?.state, 'requested');
    assert.equal(stored?.message, 'Phone fell in the lake. Call me at the office.');
    const mail = await smtp.waitFor(user.email, /A recovery of your Tessera account was requested/, since);
    assert.match(mail.text, /\/account\/recovery\/cancel\?token=/);
    await audited(user.id, 'recovery.requested');

    // a second request while one is open: 409, still one request
    const again = await agent.request(formAction(first), { form: { _csrf: csrfOf(first), message: 'again' } });
    assert.equal(again.status, 409);
    assert.match(text(again.body), /already have an open recovery request/);
    assert.equal((await t.services.assistedRecovery.get(user.id))?.requestedAt.getTime(), stored!.requestedAt.getTime());
    const queue = await t.services.assistedRecovery.queue();
    assert.equal(queue.filter((r) => r.accountId === user.id).length, 1);

    // a step-up from a session that did not prove the password in this sign-in: no request
    const other = await userWithApp();
    await t.services.accounts.setSecondFactor(other.id, undefined);
    const agent2 = new UserAgent();
    let p = await agent2.visit((await rp.authorize()).url);
    p = await agent2.submit(p, /\/login$/, { email: other.email, password: other.password });
    assert.ok(p.url.startsWith('http://127.0.0.1:9/callback'), 'signed in with the password');
    const stepUp = await agent2.visit((await rp.authorize({ acr_values: 'urn:tessera:acr:mfa' })).url);
    const lost2 = await lostFactorPage(agent2, stepUp);
    assert.doesNotMatch(lost2.body, /action="[^"]*\/lost-factor"/, 'no request form without the password');
    assert.match(text(lost2.body), /only from a sign-in with your password/);
    const refused = await agent2.request(url(new URL(lost2.url).pathname), { form: { _csrf: csrfOf(lost2), message: '' } });
    assert.equal(refused.status, 400);
    assert.equal(await t.services.assistedRecovery.get(other.id), undefined);
  });

  it('an admin approves with a note; the factors still apply in the waiting period; the cancel link (a POST button) works once', async () => {
    const user = await userWithApp();
    const admin = await makeAdmin();
    let { agent, page } = await toSecondFactor(user);
    await agent.submit(await lostFactorPage(agent, page), /\/lost-factor$/, { message: '' });
    const console = await consoleAgent(admin);
    const list = await console.visit(url('/admin/recoveries'));
    assert.match(list.body, new RegExp(user.email.replace(/[.]/g, '\\.')));
    assert.match(list.body, /href="\/admin\/recoveries"[^>]*aria-current="page"/, 'in the console navigation');
    let detail = await console.visit(url(`/admin/recoveries/${user.id}`));
    assert.equal(detail.status, 200);
    assert.match(text(detail.body), /Recent sign-in history/);
    assert.match(text(detail.body), /recovery requested/);

    // no note: refused beside the field, nothing changed
    const noNote = await console.submit(detail, /\/approve$/, { note: '  ' });
    assert.equal(noNote.status, 400);
    assert.match(noNote.body, /id="approve-note-error" role="alert">Write how you confirmed/);
    assert.equal((await t.services.assistedRecovery.get(user.id))?.state, 'requested');

    const since = smtp.received.length;
    detail = await console.submit(detail, /\/approve$/, { note: 'Called back on the number in the HR record.' });
    assert.equal(detail.status, 200);
    assert.match(text(detail.body), /The recovery was approved/);
    const approved = await t.services.assistedRecovery.get(user.id);
    assert.equal(approved?.state, 'approved');
    assert.equal(approved?.note, 'Called back on the number in the HR record.');
    assert.equal(approved?.resetAfter?.getTime(), approved!.decidedAt!.getTime() + 24 * HOUR);
    await audited(user.id, 'recovery.approved');
    const mail = await smtp.waitFor(user.email, /will be reset/, since);
    const link = /(http:\/\/[^\s"]+\/account\/recovery\/cancel\?token=[\w.-]+)/.exec(mail.text)![1]!;
    const sms = await eventually(() => t.services.outbox.list().find((m) => m.channel === 'sms' && /assisted recovery/.test(m.text) && m.text.includes(link)), 'the text with the cancel link');
    assert.ok(sms);
    // the admin's user page shows it
    assert.match(text((await console.visit(url(`/admin/users/${user.id}`))).body), /Assisted recovery .* approved: second factors reset after/);

    // during the wait the factors still apply
    offset += 12 * HOUR;
    ({ agent, page } = await toSecondFactor(user));
    assert.match(page.body, /action="[^"]*\/factor"/);
    assert.match(text((await lostFactorPage(agent, page)).body), /approved your assisted recovery/);
    assert.ok(await t.services.totp.enrolled(user.id));

    // opening the link changes nothing (a link scanner); the button cancels, once
    const visitor = new UserAgent();
    const cancelPage = await visitor.visit(link);
    assert.equal(cancelPage.status, 200);
    assert.equal((await t.services.assistedRecovery.get(user.id))?.state, 'approved');
    // ten presses at once: one cancels
    const form = formAction(cancelPage, /\/account\/recovery\/cancel$/);
    const presses = await Promise.all(Array.from({ length: 10 }, () => visitor.request(form, { form: { _csrf: csrfOf(cancelPage), token: /name="token" value="([^"]+)"/.exec(cancelPage.body)![1]! } })));
    assert.deepEqual(presses.map((p) => p.status).sort(), [200, ...Array(9).fill(400)]);
    const cancelled = presses.find((p) => p.status === 200)!;
    assert.equal(heading(cancelled), 'Recovery cancelled');
    assert.equal((await t.services.assistedRecovery.get(user.id))?.state, 'cancelled');
    const twice = await visitor.submit(cancelPage, /\/account\/recovery\/cancel$/);
    assert.equal(twice.status, 400);
    assert.match(text(twice.body), /already closed/);
    await audited(user.id, 'recovery.cancelled');
    // a forged token: refused, nothing changed
    const forged = await visitor.visit(link.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')));
    assert.equal(forged.status, 400);
    assert.match(text(forged.body), /not valid/);
    // the queue no longer lists it
    assert.ok(!(await t.services.assistedRecovery.queue()).some((r) => r.accountId === user.id));

    // a new request within a day: refused with when
    ({ agent, page } = await toSecondFactor(user));
    const soon = await agent.submit(await lostFactorPage(agent, page), /\/lost-factor$/, { message: '' });
    assert.equal(soon.status, 429);
    assert.match(text(soon.body), /less than a day ago/);
    offset = 0;
  });

  it('after the waiting period the factors are reset and the next sign-in sets up a new factor; every step in the history', async () => {
    const user = await userWithApp();
    await t.services.recovery.generate(user.id);
    const admin = await makeAdmin();
    let { agent, page } = await toSecondFactor(user);
    await agent.submit(await lostFactorPage(agent, page), /\/lost-factor$/, { message: 'new phone' });
    const console = await consoleAgent(admin);
    const detail = await console.visit(url(`/admin/recoveries/${user.id}`));
    await console.submit(detail, /\/approve$/, { note: 'Seen in person with ID.' });
    assert.equal((await t.services.assistedRecovery.get(user.id))?.state, 'approved');

    offset += 24 * HOUR + 60_000;
    const since = smtp.received.length;
    ({ agent, page } = await toSecondFactor(user));
    assert.equal(heading(page), 'Set up a stronger sign-in', page.body.slice(0, 400));
    assert.equal(await t.services.totp.enrolled(user.id), false, 'the app is gone');
    assert.equal(await t.services.recovery.remaining(user.id), 0, 'the recovery codes are gone');
    assert.equal((await t.services.accounts.findById(user.id))?.secondFactor, undefined);
    assert.equal((await t.services.assistedRecovery.get(user.id))?.state, 'completed');
    await smtp.waitFor(user.email, /two-factor methods were removed/, since);
    await audited(user.id, 'recovery.completed');
    await audited(user.id, 'admin.user.mfa_reset');
    // the emailed code, then a new authenticator app: the sign-in completes with it
    const mail = await smtp.waitFor(user.email, /is your Tessera sign-in code/, since);
    page = await agent.submit(page, /\/enrol\/email$/, { code: /(\d{6}) is your/.exec(mail.text)![1]! });
    const secret = /class="key">([A-Z2-7 ]+)</.exec(page.body)![1]!.replace(/ /g, '');
    page = await agent.submit(page, /\/enrol\/totp$/, { code: await generate({ secret, epoch: Math.floor(clock().getTime() / 1000) }) });
    assert.ok(await t.services.totp.enrolled(user.id), 'a new app is set up');
    assert.equal(heading(page), 'Save your recovery codes', 'new recovery codes come with it');
    page = await agent.submit(page, /\/enrol\/continue$/);
    assert.ok(page.url.startsWith('http://127.0.0.1:9/callback'), 'signed in to the application');
    const history = (await t.services.history.page(user.id, 0)).entries.map((e) => e.result);
    for (const step of ['recovery_requested', 'recovery_approved', 'recovery_completed']) assert.ok(history.includes(step as never), `${step} in the history`);
  });

  it('a rejected request changes nothing; an admin cannot decide on their own account; bad ids are not found', async () => {
    const user = await userWithApp();
    const admin = await makeAdmin();
    const { agent, page } = await toSecondFactor(user);
    await agent.submit(await lostFactorPage(agent, page), /\/lost-factor$/, { message: '' });
    const console = await consoleAgent(admin);
    let detail = await console.visit(url(`/admin/recoveries/${user.id}`));
    const noNote = await console.submit(detail, /\/reject$/, {});
    assert.equal(noNote.status, 400);
    assert.match(noNote.body, /id="reject-note-error" role="alert"/);
    const since = smtp.received.length;
    detail = await console.submit(detail, /\/reject$/, { note: 'Could not reach the person on a known number.' });
    assert.match(text(detail.body), /The recovery was rejected/);
    assert.equal((await t.services.assistedRecovery.get(user.id))?.state, 'rejected');
    await smtp.waitFor(user.email, /was not approved/, since);
    await audited(user.id, 'recovery.rejected');
    assert.ok(await t.services.totp.enrolled(user.id));
    // already decided: a second decision is refused
    const late = await console.request(url(`/admin/recoveries/${user.id}/approve`), { form: { _csrf: csrfOf(noNote), note: 'x' } });
    assert.equal(late.status, 409);
    assert.equal((await t.services.assistedRecovery.get(user.id))?.state, 'rejected');

    // the admin's own request
    const own = await toSecondFactor(admin);
    await own.agent.submit(await lostFactorPage(own.agent, own.page), /\/lost-factor$/, { message: '' });
    const ownPage = await console.visit(url(`/admin/recoveries/${admin.id}`));
    const refused = await console.submit(ownPage, /\/approve$/, { note: 'me' });
    assert.equal(refused.status, 409);
    assert.equal((await t.services.assistedRecovery.get(admin.id))?.state, 'requested');

    for (const bad of ['nope', '..%2F', 'x'.repeat(300)]) assert.equal((await console.visit(url(`/admin/recoveries/${bad}`))).status, 404);
    const noToken = await new UserAgent().visit(url('/account/recovery/cancel?token=%00'));
    assert.equal(noToken.status, 400);
  });
});

function csrfOf(page: Page): string {
  return /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!;
}
function formAction(page: Page, action = /\/lost-factor$/): string {
  for (const m of page.body.matchAll(/<form[^>]*action="([^"]+)"/g)) if (action.test(m[1]!)) return new URL(m[1]!, page.url).href;
  throw new Error('no form');
}
