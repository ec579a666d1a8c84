// Recovery codes: created on the account page (password), shown once, stored as keyed hashes,
// each usable once as the second factor of a step-up, and their use emailed to the account.
import assert from 'node:assert/strict';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, REDIRECT_URI, UserAgent, createUser, type TestUser } from '../support/flow.ts';
import { startSmtp, type Smtp } from '../support/mail.ts';
import { generate } from 'otplib';
import { ACR } from '../../src/policy/assurance.ts';

describe('recovery codes', () => {
  let smtp: Smtp;
  let t: Tessera;
  let rp: RelyingParty;
  let user: TestUser;
  let codes: string[];

  before(async () => {
    smtp = await startSmtp();
    t = await startTessera({ env: { SMTP_URL: smtp.url } });
    rp = await RelyingParty.register(t, { skipConsent: true });
    user = await createUser(t);
  });
  after(async () => { await t.close(); await smtp.close(); });

  it('creates 10 codes on the account page, with the password, shown once and never stored in clear', async () => {
    const agent = new UserAgent();
    const login = await agent.visit(`${t.issuer}/account/security`);
    const overview = await agent.visit((await agent.submit(login, /\/login$/, { email: user.email, password: user.password }, `${t.issuer}/account/`)).url);
    assert.match(overview.body, /0 unused codes/);
    const refused = await agent.submit(overview, /recovery-codes$/, { password: 'Wrong#Password9' });
    assert.match(refused.body, /nothing was changed/);
    const shown = await agent.submit(overview, /recovery-codes$/, { password: user.password });
    codes = [...shown.body.matchAll(/<code>([A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4})<\/code>/g)].map((m) => m[1]!);
    assert.equal(codes.length, 10);
    assert.equal(new Set(codes).size, 10);
    const stored = JSON.stringify(await t.services.db.connection.collection('recovery_codes').find().toArray());
    for (const code of codes) assert.ok(!stored.includes(code) && !stored.includes(code.replaceAll('-', '')), 'hashed at rest');
  });

  it('serves as the second factor once (acr mfa, amr rcode), and the account is emailed', async () => {
    const agent = new UserAgent();
    const auth = await rp.authorize({ acr_values: ACR.mfa });
    const factor = await agent.submit(await agent.visit(auth.url), /\/login$/, { email: user.email, password: user.password });
    const page = await agent.visit(`${factor.url.split('?')[0]}?method=recovery`);
    assert.match(page.body, /Enter one of your recovery codes/);
    const done = await agent.submit(page, /\/factor$/, { code: codes[0]!.toLowerCase() });
    const claims = (await rp.tokens(done.url, auth)).claims()!;
    assert.equal(claims.acr, ACR.mfa);
    assert.deepEqual(claims.amr, ['pwd', 'rcode', 'mfa']);
    // by its subject: the new-device notice of this sign-in goes out in the background meanwhile
    const mail = await smtp.waitFor(user.email, /^Subject: A Tessera recovery code was used/m);
    assert.match(mail.text, /9 unused codes remain/);
    assert.equal(await t.services.recovery.use(user.id, codes[0]!), false, 'a used code is spent');
    assert.equal((await Promise.all(Array.from({ length: 20 }, () => t.services.recovery.use(user.id, codes[1]!)))).filter(Boolean).length, 1, 'once among 20 parallel uses');
  });

  it('meets the routine step of an authenticator-app account (the phone is lost): the sign-in finishes, no loop back to the app', async () => {
    const owner = await createUser(t);
    const { secret } = await t.services.totp.begin(owner.id, owner.email);
    assert.equal(await t.services.totp.confirm(owner.id, await generate({ secret, epoch: Math.floor(Date.now() / 1000) })), true);
    await t.services.accounts.setSecondFactor(owner.id, 'totp');
    const [code] = await t.services.recovery.generate(owner.id);
    const agent = new UserAgent();
    const auth = await rp.authorize();
    const factor = await agent.submit(await agent.visit(auth.url), /\/login$/, { email: owner.email, password: owner.password });
    assert.match(factor.body, /authenticator app/i, 'the routine step asks for the app');
    assert.match(factor.body, /<input id="code" name="code" autocomplete="one-time-code" inputmode="numeric"/, 'a phone shows the digit keyboard for app codes');
    const page = await agent.visit(`${factor.url.split('?')[0]}?method=recovery`);
    assert.match(page.body, /<input id="code" name="code" autocomplete="one-time-code" maxlength/, 'but not for recovery codes (letters)');
    const done = await agent.submit(page, /\/factor$/, { code: code! });
    assert.ok(done.url.startsWith(REDIRECT_URI), `reached the application, not ${done.status} ${done.body.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').slice(0, 200)}`);
    const claims = (await rp.tokens(done.url, auth)).claims()!;
    assert.deepEqual(claims.amr, ['pwd', 'rcode', 'mfa']);
  });
});
