// Product polish (issue 20), "three codes in a row": a first sign-in from a new browser that must
// also step up (set up an app, or use one) asks for one emailed code, not one for the new device
// and another before the setup. The token's acr/amr still say exactly what was proven.
import assert from 'node:assert/strict';
import { generate } from 'otplib';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { REDIRECT_URI, RelyingParty, UserAgent, createUser, formOn, giveVerifiedPhone, type Page, type TestUser } from '../support/flow.ts';
import { ACR } from '../../src/policy/assurance.ts';

const appCode = (secret: string, steps = 0) => generate({ secret, epoch: Math.floor(Date.now() / 1000) + steps * 30 });

describe('a new browser that must step up: one emailed code', () => {
  let t: Tessera;
  let rp: RelyingParty;
  before(async () => {
    t = await startTessera();
    rp = await RelyingParty.register(t, { skipConsent: true });
  });
  after(() => t.close());

  /** The emailed sign-in codes sent to `to` (by recipient and subject), oldest first. */
  const emailedCodes = (to: string) => t.services.outbox.list()
    .filter((m) => m.channel === 'email' && m.to === to && /^\d{6} is your Tessera sign-in code$/.test(m.subject ?? ''))
    .map((m) => m.subject!.slice(0, 6)).reverse();

  const has = (page: Page, action: RegExp) => { try { formOn(page, action); return true; } catch { return false; } };

  /**
   * Walks a sign-in from the password to the relying party the way a person would: each page's one
   * form answered (an emailed code is the one sent for it, never "the last email"). Returns the
   * callback, the emailed codes the person typed (`before`: those typed in earlier sign-ins), and
   * the pages seen (with each page's text).
   */
  async function walk(agent: UserAgent, url: string, user: TestUser, app?: { secret: string }, before: string[] = [], setup: Record<string, string> = {}) {
    let page = await agent.submit(await agent.visit(url), /\/login$/, { email: user.email, password: user.password });
    const typed: string[] = [];
    const seen: string[] = [];
    const bodies: Record<string, string> = {};
    const emailedCode = () => {
      const fresh = emailedCodes(user.email).filter((c) => !typed.includes(c) && !before.includes(c));
      assert.equal(fresh.length, 1, `one new emailed code for this page (${seen.at(-1)})`);
      typed.push(fresh[0]!);
      return fresh[0]!;
    };
    let secret = app?.secret;
    for (let steps = 0; !page.url.startsWith(REDIRECT_URI); steps++) {
      assert.ok(steps < 8, `the sign-in ends (stuck at ${seen.at(-1)}: ${page.status} ${page.body.slice(0, 300)})`);
      if (has(page, /\/device$/)) {
        seen.push('new-device');
        bodies['new-device'] = page.body;
        page = await agent.submit(page, /\/device$/, { method: 'email', code: emailedCode() });
      } else if (has(page, /\/enrol\/email$/)) {
        seen.push('enrol-email');
        bodies['enrol-email'] = page.body;
        page = await agent.submit(page, /\/enrol\/email$/, { code: emailedCode() });
      } else if (has(page, /\/enrol\/totp$/)) {
        seen.push('enrol-app');
        bodies['enrol-app'] = page.body;
        secret = /<code class="key"[^>]*>([A-Z2-7 ]+)<\/code>/.exec(page.body)![1]!.replaceAll(' ', '');
        page = await agent.submit(page, /\/enrol\/totp$/, { code: await appCode(secret), ...setup });
      } else if (has(page, /\/enrol\/continue$/)) {
        // a first second factor's recovery codes, shown once (recovery-after-enrolment.test.ts)
        seen.push('recovery-codes');
        page = await agent.submit(page, /\/enrol\/continue$/);
      } else if (has(page, /\/factor$/)) {
        seen.push('app');
        bodies['app'] = page.body;
        page = await agent.submit(page, /\/factor$/, { method: 'totp', code: await appCode(secret!, 1) });
      } else {
        assert.fail(`an unexpected page after ${seen.join(', ')}: ${page.status} ${page.body.slice(0, 400)}`);
      }
    }
    return { callback: page.url, typed, seen, bodies };
  }

  it('asks for one emailed code, then the app setup, when a new browser signs in where the application asks for mfa and the account has no second factor', async () => {
    const user = await createUser(t, { deviceVerification: true });
    const agent = new UserAgent();
    const auth = await rp.authorize({ acr_values: ACR.mfa });
    const { callback, typed, seen, bodies } = await walk(agent, auth.url, user);
    assert.equal(typed.length, 1, `emailed codes asked: ${typed.length} (pages: ${seen.join(' → ')})`);
    assert.deepEqual(seen, ['new-device', 'enrol-app', 'recovery-codes'], 'the code that verified the device also proved the account for the setup');
    assert.doesNotMatch(bodies['enrol-app']!, /code sent to your phone/);
    assert.equal(emailedCodes(user.email).length, 1, 'one code was emailed');
    const claims = (await rp.tokens(callback, auth)).claims()!;
    assert.equal(claims.acr, ACR.mfa);
    assert.deepEqual([...(claims.amr as string[])].sort(), ['email', 'mfa', 'otp', 'pwd'], 'the emailed code once, the app as the second factor');
    const [device] = await t.services.devices.listFor(user.id);
    assert.ok(device?.verifiedAt, 'the browser is a verified device');
  });

  it('makes the app the routine method when the setup\'s "every sign-in" box stays ticked (the default), and the sign-in still ends', async () => {
    const user = await createUser(t, { deviceVerification: true });
    const auth = await rp.authorize({ acr_values: ACR.mfa });
    const agent = new UserAgent();
    const { callback, seen, bodies } = await walk(agent, auth.url, user, undefined, [], { everySignIn: 'on' });
    assert.match(bodies['enrol-app']!, /<input type="checkbox" name="everySignIn" value="on" checked> Ask for a code from the app at every sign-in/, 'offered, ticked');
    assert.deepEqual(seen, ['new-device', 'enrol-app', 'recovery-codes']);
    assert.equal((await rp.tokens(callback, auth)).claims()!.acr, ACR.mfa, 'this sign-in carried the new stamp on');
    assert.equal((await t.services.accounts.findById(user.id))!.secondFactor, 'totp');
    assert.ok(t.services.outbox.list().some((m) => m.to === user.email && /every sign-in now asks for it/.test(m.text ?? '')), 'the person is told');
    // left unticked (the walk above sends no box in the other tests): nothing routine is turned on
    const other = await createUser(t, { deviceVerification: true });
    const plain = await rp.authorize({ acr_values: ACR.mfa });
    await walk(new UserAgent(), plain.url, other);
    assert.equal((await t.services.accounts.findById(other.id))!.secondFactor, undefined);
  });

  it('does the same for a client whose minimum is mfa', async () => {
    const strict = await RelyingParty.register(t, { skipConsent: true, minimumAcr: ACR.mfa });
    const user = await createUser(t, { deviceVerification: true });
    const auth = await strict.authorize();
    const { callback, typed, seen } = await walk(new UserAgent(), auth.url, user);
    assert.equal(typed.length, 1, `emailed codes asked: ${typed.length} (pages: ${seen.join(' → ')})`);
    assert.equal((await strict.tokens(callback, auth)).claims()!.acr, ACR.mfa);
  });

  it('asks for one emailed code and then the app when the account already has one: the emailed code never stands for the app', async () => {
    const user = await createUser(t, { deviceVerification: true });
    await giveVerifiedPhone(t, user);
    const enrolment = await t.services.totp.begin(user.id, user.email);
    assert.ok(await t.services.totp.confirm(user.id, await appCode(enrolment.secret)));
    const auth = await rp.authorize({ acr_values: ACR.mfa });
    const { callback, typed, seen, bodies } = await walk(new UserAgent(), auth.url, user, { secret: enrolment.secret });
    assert.deepEqual(seen, ['new-device', 'app']);
    assert.match(bodies.app!, /The emailed code verified this browser, but it is not enough for this stronger sign-in, so this step is needed too\./, 'the page says why');
    assert.equal(typed.length, 1);
    const claims = (await rp.tokens(callback, auth)).claims()!;
    assert.equal(claims.acr, ACR.mfa);
    assert.deepEqual([...(claims.amr as string[])].sort(), ['email', 'mfa', 'otp', 'pwd']);
  });

  it('asks a known browser with prompt=login for the password first, then the emailed code and the setup (nothing else proved the account this time)', async () => {
    const user = await createUser(t, { deviceVerification: true });
    const agent = new UserAgent();
    const plain = await rp.authorize();
    const first = await walk(agent, plain.url, user);
    assert.deepEqual(first.seen, ['new-device']);
    const auth = await rp.authorize({ acr_values: ACR.mfa, prompt: 'login' });
    const { callback, seen } = await walk(agent, auth.url, user, undefined, first.typed);
    assert.deepEqual(seen, ['enrol-email', 'enrol-app', 'recovery-codes']);
    assert.equal((await rp.tokens(callback, auth)).claims()!.acr, ACR.mfa);
  });

  it('asks a browser verified by a text message for an emailed code before a security key is added, and says why', async () => {
    const user = await createUser(t, { deviceVerification: true });
    const phone = await giveVerifiedPhone(t, user);
    const agent = new UserAgent();
    const auth = await rp.authorize({ acr_values: ACR.phr });
    const device = await agent.submit(await agent.visit(auth.url), /\/login$/, { email: user.email, password: user.password });
    assert.ok(formOn(device, /\/device$/), 'the new-device code first');
    const byText = await agent.visit(`${device.url}?method=sms`);
    const texted = t.services.outbox.list().find((m) => m.channel === 'sms' && m.to === phone && /sign-in code/.test(m.text));
    assert.ok(texted, JSON.stringify(t.services.outbox.list().filter((m) => m.channel === 'sms')));
    const offer = await agent.submit(byText, /\/device$/, { method: 'sms', code: texted.text.slice(0, 6) });
    assert.match(offer.body, /Set up a stronger sign-in/);
    assert.match(offer.body, /The code sent to your phone verified this browser; a new way to sign in also needs a code sent to your account's email address, so that your password and phone alone cannot add one\./);
    assert.ok(formOn(offer, /\/enrol\/email$/), 'the emailed code is asked');
  });
});
