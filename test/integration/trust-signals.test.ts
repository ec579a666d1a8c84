// Trusted devices and trusted IPs in the sign-in decision, through real HTTP behind a trusted proxy
// (X-Forwarded-For) with Tessera's clock in the test's hand: they skip the routine TOTP, never an
// RP's step-up nor new-device verification; trust runs out, and edited or deleted entries count.
import assert from 'node:assert/strict';
import { generate } from 'otplib';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { REDIRECT_URI, RelyingParty, UserAgent, createUser, type Authorization, type Page, type TestUser } from '../support/flow.ts';
import { ACR } from '../../src/policy/assurance.ts';

const DAY = 24 * 3600 * 1000;

/** A browser reaching Tessera through the proxy, which says who the client is in X-Forwarded-For. */
const client = (forwardedFor?: string) => new UserAgent(forwardedFor ? { 'x-forwarded-for': forwardedFor } : {});


type TotpUser = TestUser & { secret: string };

describe('trust signals in the sign-in decision (trusted devices, trusted IPs)', () => {
  let t: Tessera;
  let rp: RelyingParty;
  /** Tessera's clock runs with real time plus this offset. */
  let offset = 0;
  const now = () => new Date(Date.now() + offset);

  before(async () => {
    t = await startTessera({ clock: now, env: { TRUST_PROXY: 'true' } });
    rp = await RelyingParty.register(t, { skipConsent: true });
  });
  after(() => t.close());

  /** The app's next code (the clock moves a step on: each code is accepted once). */
  const appCode = (secret: string) => {
    offset += 30_000;
    return generate({ secret, epoch: Math.floor(now().getTime() / 1000) });
  };

  /** An account whose routine second factor is an authenticator app. */
  async function totpUser(deviceVerification = false): Promise<TotpUser> {
    const user = await createUser(t, { deviceVerification });
    const { secret } = await t.services.totp.begin(user.id, user.email);
    assert.ok(await t.services.totp.confirm(user.id, await appCode(secret)));
    await t.services.accounts.setSecondFactor(user.id, 'totp');
    return { ...user, secret };
  }

  /** A fresh sign-in (prompt=login) up to the page after the password. */
  async function password(agent: UserAgent, user: TestUser, params: Record<string, string> = {}): Promise<{ auth: Authorization; page: Page }> {
    const auth = await rp.authorize({ prompt: 'login', ...params });
    const page = await agent.submit(await agent.visit(auth.url), /\/login$/, { email: user.email, password: user.password });
    return { auth, page };
  }

  async function claimsAt(page: Page, auth: Authorization) {
    assert.ok(page.url.startsWith(REDIRECT_URI), `not back at the RP: ${page.status} ${page.body.slice(0, 600)}`);
    const claims = (await rp.tokens(page.url, auth)).claims()!;
    return { acr: claims.acr, amr: claims.amr as string[] };
  }

  /** The password alone signs in: the routine factor was skipped. */
  async function skipped(agent: UserAgent, user: TestUser, why: string) {
    const { auth, page } = await password(agent, user);
    assert.deepEqual(await claimsAt(page, auth), { acr: ACR.password, amr: ['pwd'] }, why);
  }

  /** The sign-in stops at the second-factor page, for the account's routine factor or an RP's step-up. */
  async function asked(agent: UserAgent, user: TestUser, why: string, params: Record<string, string> = {}) {
    const step = await password(agent, user, params);
    assert.match(step.page.body, /<h1>Verify it is you<\/h1>/, `${why}: ${step.page.url}\n${step.page.body.slice(0, 300)}`);
    assert.match(step.page.body, params.acr_values ? /asks for a stronger sign-in/ : /Your account asks for a second step/, why);
    return step;
  }

  describe('a trusted device', () => {
    let user: TotpUser;
    const browser = client();

    before(async () => { user = await totpUser(); });

    it('is asked for the routine TOTP until it is trusted through the devices page, then skips it (acr pwd, amr pwd)', async () => {
      const first = await asked(browser, user, 'not trusted yet');
      const done = await browser.submit(first.page, /\/factor$/, { code: await appCode(user.secret) });
      assert.deepEqual((await claimsAt(done, first.auth)).amr.includes('otp'), true);

      const devices = await browser.visit(`${t.issuer}/account/security/devices`);
      const verify = await browser.submit(devices, /\/devices\/trust$/, { name: 'My laptop' });
      const code = /^(\d{6}) /.exec(t.services.outbox.list().find((m) => m.to === user.email && /^\d{6} is your Tessera .*code/.test(m.subject ?? ''))!.subject!)![1]!;
      const trusted = await browser.submit(verify, /\/devices\/verify$/, { code });
      assert.match(trusted.body, /This browser is now a trusted device/);

      await skipped(browser, user, 'the trusted device skips the TOTP');
      await asked(client(), user, 'another browser is still asked');
    });

    it('is still challenged when an RP asks for urn:tessera:acr:mfa, and the token says mfa and otp', async () => {
      const { auth, page } = await asked(browser, user, 'step-up', { acr_values: ACR.mfa });
      const done = await browser.submit(page, /\/factor$/, { code: await appCode(user.secret) });
      const { acr, amr } = await claimsAt(done, auth);
      assert.equal(acr, ACR.mfa);
      assert.ok(amr.includes('otp') && amr.includes('mfa'), `amr ${amr}`);
    });

    it('asks for the routine TOTP again once the 30 days of trust have passed', async () => {
      const device = (await t.services.devices.listFor(user.id)).find((d) => d.name === 'My laptop');
      offset += 29 * DAY;
      await skipped(browser, user, 'day 29: still trusted');
      assert.ok(device!.trustedUntil! > now());
      offset += 2 * DAY;
      assert.ok(device!.trustedUntil! < now());
      await asked(browser, user, 'day 31: trust has expired');
      // trusting it again (here directly) makes it skip again
      await t.services.devices.trust(device!.id, 'My laptop', new Date(now().getTime() + DAY));
      await skipped(browser, user, 'trusted again');
    });
  });

  describe('trusted IP entries', () => {
    it('skip the routine TOTP only from a listed range naming it or "all" (IPv4 and IPv6), with the client address from X-Forwarded-For', async () => {
      const user = await totpUser();
      await asked(client('203.0.113.7'), user, 'no entries yet');
      await t.services.trustedIps.add(user.id, '203.0.113.0/24', 'totp');
      await t.services.trustedIps.add(user.id, '198.51.100.0/24', 'email');
      await t.services.trustedIps.add(user.id, '192.0.2.0/24', 'all');
      await t.services.trustedIps.add(user.id, '2001:db8::/48', 'totp');

      await skipped(client('203.0.113.7'), user, 'inside a range naming totp');
      await skipped(client('192.0.2.200'), user, 'inside a range naming all');
      await skipped(client('2001:db8::5'), user, 'inside an IPv6 range');
      await skipped(client('2001:DB8:0:ffff::1'), user, 'IPv6, written otherwise');
      await asked(client('198.51.100.7'), user, 'inside a range naming another factor (email)');
      await asked(client('203.0.114.7'), user, 'outside every range');
      await asked(client('2001:db8:1::5'), user, 'outside the IPv6 /48');
      await asked(client(), user, 'no forwarded address: the proxy itself (127.0.0.1)');
      await asked(client('203.0.113.7, 198.51.100.200'), user, 'a trusted address the client wrote itself before the proxy entry');
    });

    it('ask again once the entry is edited to another range or deleted', async () => {
      const user = await totpUser();
      const entry = await t.services.trustedIps.add(user.id, '203.0.113.0/24', 'totp');
      await skipped(client('203.0.113.7'), user, 'listed');
      await t.services.trustedIps.update(user.id, entry.id, '198.18.0.0/16', 'totp');
      await asked(client('203.0.113.7'), user, 'the entry now names another range');
      await skipped(client('198.18.1.1'), user, 'the new range');
      await t.services.trustedIps.update(user.id, entry.id, '198.18.0.0/16', 'sms');
      await asked(client('198.18.1.1'), user, 'the entry now names another factor');
      await t.services.trustedIps.update(user.id, entry.id, '198.18.0.0/16', 'all');
      await skipped(client('198.18.1.1'), user, 'all again');
      await t.services.trustedIps.remove(user.id, entry.id);
      await asked(client('198.18.1.1'), user, 'deleted');
    });

    it('never skip an RP asking for urn:tessera:acr:mfa', async () => {
      const user = await totpUser();
      await t.services.trustedIps.add(user.id, '203.0.113.0/24', 'all');
      const agent = client('203.0.113.7');
      const { auth, page } = await asked(agent, user, 'step-up from a trusted IP', { acr_values: ACR.mfa });
      const done = await agent.submit(page, /\/factor$/, { code: await appCode(user.secret) });
      assert.equal((await claimsAt(done, auth)).acr, ACR.mfa);
    });

    it('never skip new-device verification: the emailed code comes first, then the TOTP is skipped', async () => {
      const user = await totpUser(true);
      await t.services.trustedIps.add(user.id, '203.0.113.0/24', 'all');
      const agent = client('203.0.113.7');
      const { auth, page } = await password(agent, user);
      assert.match(page.body, /<h1>New device<\/h1>/, page.body.slice(0, 300));
      const mail = t.services.outbox.list().find((m) => m.to === user.email && /^\d{6} is your Tessera .*code/.test(m.subject ?? ''))!;
      const done = await agent.submit(page, /\/device$/, { code: /^(\d{6}) /.exec(mail.subject!)![1]! });
      assert.deepEqual(await claimsAt(done, auth), { acr: ACR.password, amr: ['pwd', 'email'] });
      await skipped(agent, user, 'a known device from a trusted IP');
    });
  });
});
