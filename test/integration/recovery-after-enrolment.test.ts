// Product polish (issue 20): a first second factor comes with recovery codes, shown once, wherever
// it is set up — an authenticator app or a security key set up during a sign-in (then Continue
// carries the sign-in on to the application, once), and a first security key in the security
// center (as a first authenticator app there already did). An account that has codes keeps them.
// Security keys are answered by a key in software (attestation "none"), as a browser would.
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { generate } from 'otplib';
import { isoCBOR } from '@simplewebauthn/server/helpers';
import type { AddressInfo } from 'node:net';
import { freshDatabaseName, startTessera, type Tessera } from '../support/tessera.ts';
import { REDIRECT_URI, RelyingParty, UserAgent, createUser, formOn, type Page, type TestUser } from '../support/flow.ts';
import { eventually } from '../support/mail.ts';
import { ACR } from '../../src/policy/assurance.ts';

const CODE = /<li><code>([A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4})<\/code><\/li>/g;
const codesOn = (page: Page) => [...page.body.matchAll(CODE)].map((m) => m[1]!);
const text = (html: string) => html.replace(/<[^>]+>/g, ' ').replace(/&#39;/g, "'").replace(/&#34;|&quot;/g, '"').replace(/&amp;/g, '&').replace(/\s+/g, ' ').trim();
const appCode = (secret: string, steps = 0) => generate({ secret, epoch: Math.floor(Date.now() / 1000) + steps * 30 });
const has = (page: Page, action: RegExp) => { try { formOn(page, action); return true; } catch { return false; } };

describe('recovery codes with a first second factor', () => {
  let t: Tessera;
  let rp: RelyingParty;
  before(async () => {
    t = await startTessera();
    rp = await RelyingParty.register(t, { skipConsent: true, name: 'Bank' });
  });
  after(() => t.close());

  /** The newest emailed sign-in code sent to `to`. */
  const emailedCode = (to: string) => /^(\d{6}) is your Tessera sign-in code$/.exec(t.services.outbox.list().find((m) => m.to === to && /sign-in code$/.test(m.subject ?? ''))?.subject ?? '')![1]!;
  /** The security notices emailed to `to` that say `change`. */
  const notices = (to: string, change: string) => t.services.outbox.list().filter((m) => m.to === to && m.subject === 'Security change on your Tessera account' && m.text.includes(change));

  /** A security key in software: the registration answer (JSON) a browser sends for these options. */
  function softKey(options: { challenge: string }): string {
    const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
    const coseKey = isoCBOR.encode(new Map<number, number | Uint8Array>([[1, 2], [3, -7], [-1, 1], [-2, Buffer.from(jwk.x!, 'base64url')], [-3, Buffer.from(jwk.y!, 'base64url')]]));
    const id = randomBytes(16);
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(id.length);
    const authData = Buffer.concat([createHash('sha256').update(new URL(t.issuer).hostname).digest(), Buffer.from([0x41]), Buffer.alloc(4), Buffer.alloc(16), idLength, id, Buffer.from(coseKey)]);
    const attestationObject = isoCBOR.encode(new Map<string, unknown>([['fmt', 'none'], ['attStmt', new Map()], ['authData', new Uint8Array(authData)]]) as never);
    const clientDataJSON = Buffer.from(JSON.stringify({ type: 'webauthn.create', challenge: options.challenge, origin: new URL(t.issuer).origin }));
    return JSON.stringify({
      id: id.toString('base64url'), rawId: id.toString('base64url'), type: 'public-key', clientExtensionResults: {},
      response: { clientDataJSON: clientDataJSON.toString('base64url'), attestationObject: Buffer.from(attestationObject).toString('base64url'), transports: ['usb'] },
    });
  }

  /** What the page's script does before it submits a key form: fetch the options (CSRF header), answer them. */
  async function keyAnswer(agent: UserAgent, page: Page, form: RegExp): Promise<string> {
    const tag = [...page.body.matchAll(/<form[^>]*>/g)].map((m) => m[0]).find((f) => form.test(/action="([^"]+)"/.exec(f)?.[1] ?? ''));
    const url = new URL(/data-options-url="([^"]+)"/.exec(tag ?? '')![1]!, page.url).href;
    const res = await fetch(url, { method: 'POST', headers: { accept: 'application/json', 'csrf-token': formOn(page, form).fields._csrf!, cookie: await agent.jar.getCookieString(url) } });
    assert.equal(res.status, 200, `the key's options: ${res.status}`);
    return softKey(await res.json() as { challenge: string });
  }

  /** A sign-in that needs `acr` walked to its setup page (the password, then the emailed code). */
  async function toSetup(agent: UserAgent, user: TestUser, acr: string) {
    const auth = await rp.authorize({ acr_values: acr });
    const offer = await agent.submit(await agent.visit(auth.url), /\/login$/, { email: user.email, password: user.password });
    assert.match(offer.body, /your account has none yet/);
    const choose = await agent.submit(offer, /\/enrol\/email$/, { code: emailedCode(user.email) });
    return { auth, offer, choose };
  }

  /** Sets an authenticator app up during a sign-in that asks for mfa: the page after the setup. */
  async function setUpAppInSignIn(user: TestUser) {
    const agent = new UserAgent();
    const { auth, choose } = await toSetup(agent, user, ACR.mfa);
    const secret = /<code class="key">([A-Z2-7 ]+)<\/code>/.exec(choose.body)![1]!.replaceAll(' ', '');
    const after = await agent.submit(choose, /\/enrol\/totp$/, { code: await appCode(secret) });
    return { agent, auth, choose, after, secret };
  }

  /** Sets a security key up during a sign-in that asks for phr: the page after the setup. */
  async function setUpKeyInSignIn(user: TestUser) {
    const agent = new UserAgent();
    const { auth, choose } = await toSetup(agent, user, ACR.phr);
    const response = await keyAnswer(agent, choose, /\/enrol\/webauthn$/);
    const after = await agent.submit(choose, /\/enrol\/webauthn$/, { response, name: 'Blue key' });
    return { agent, auth, after };
  }

  /** The interaction's own page again (a reload, or the back button). */
  const interactionPage = (agent: UserAgent, page: Page) => agent.visit(formOn(page, /\/enrol\/continue$/).action.replace(/\/enrol\/continue$/, ''));

  it('shows ten codes once after an app is set up in a sign-in, emails the account, and Continue reaches the application at mfa', async () => {
    const user = await createUser(t);
    const { agent, auth, choose, after, secret } = await setUpAppInSignIn(user);
    assert.equal(after.status, 200, text(after.body).slice(0, 300));
    assert.match(after.body, /<h1>Save your recovery codes<\/h1>/);
    assert.match(after.body, /Your authenticator app is set up\./);
    const codes = codesOn(after);
    assert.equal(codes.length, 10);
    assert.equal(new Set(codes).size, 10);
    assert.equal(await t.services.recovery.remaining(user.id), 10, 'the ten shown are the account\'s codes');
    // kept as on the security center's page: a text file, Copy and Print (a static script)
    const file = decodeURIComponent(/href="data:text\/plain;charset=utf-8,([^"]+)" download="tessera-recovery-codes\.txt"/.exec(after.body)![1]!);
    assert.ok(file.includes(user.email) && codes.every((c) => file.includes(c)), file);
    assert.match(after.body, /data-copy="recovery-codes"/);
    assert.match(after.body, /data-print/);
    assert.match(after.body, /<script src="\/static\/copy\.js"><\/script>/);
    assert.match(after.body, /<button type="submit">Continue to Bank<\/button>/);
    await eventually(() => notices(user.email, 'Recovery codes were created for your account.').length === 1, 'the notice email');
    await t.services.audit.flush();
    const { events } = await t.services.audit.query({ accountId: user.id, type: 'mfa.changed' });
    assert.deepEqual(events.map((e) => e.details?.change), ['Recovery codes were created for your account.']);

    // a reload shows neither the codes nor the setup again, and makes none
    const reload = await interactionPage(agent, after);
    assert.equal(reload.status, 200);
    assert.match(reload.body, /<h1>Your recovery codes were shown once<\/h1>/);
    assert.match(text(reload.body), /create new ones in your security center once you are signed in/);
    assert.ok(codes.every((c) => !reload.body.includes(c)), 'no code on the page again');
    assert.ok(!has(reload, /\/enrol\/(totp|webauthn|email)$/), 'no setup form again');
    const setUpAgain = await agent.submit(choose, /\/enrol\/totp$/, { code: await appCode(secret, 1) });
    assert.equal(setUpAgain.status, 400, 'the setup form sent again is refused');
    assert.match(text(setUpAgain.body), /This step of the sign-in is already done/);
    assert.equal(await t.services.recovery.remaining(user.id), 10);

    const done = await agent.submit(reload, /\/enrol\/continue$/);
    assert.ok(done.url.startsWith(REDIRECT_URI), `reached the application: ${done.status} ${text(done.body).slice(0, 200)}`);
    const claims = (await rp.tokens(done.url, auth)).claims()!;
    assert.equal(claims.acr, ACR.mfa);
    assert.deepEqual([...(claims.amr as string[])].sort(), ['email', 'mfa', 'otp', 'pwd']);

    // Continue a second time (the application has the sign-in): refused, clearly, nothing made again
    const again = await agent.submit(after, /\/enrol\/continue$/);
    assert.equal(again.status, 400);
    assert.match(text(again.body), /This sign-in has expired or was already completed\. Go back to the application and start again\./);
    assert.equal(await t.services.recovery.remaining(user.id), 10);
    assert.equal(notices(user.email, 'Recovery codes were created').length, 1, 'one notice');
  });

  it('accepts one of the codes shown later, instead of the app (amr rcode)', async () => {
    const user = await createUser(t);
    const { agent, after } = await setUpAppInSignIn(user);
    const [code] = codesOn(after);
    assert.ok((await agent.submit(after, /\/enrol\/continue$/)).url.startsWith(REDIRECT_URI));
    const browser = new UserAgent();
    const auth = await rp.authorize({ acr_values: ACR.mfa });
    const factor = await browser.submit(await browser.visit(auth.url), /\/login$/, { email: user.email, password: user.password });
    const recovery = await browser.visit(`${factor.url.split('?')[0]}?method=recovery`);
    assert.match(recovery.body, /Enter one of your recovery codes/);
    const done = await browser.submit(recovery, /\/factor$/, { code: code! });
    assert.ok(done.url.startsWith(REDIRECT_URI), text(done.body).slice(0, 200));
    const claims = (await rp.tokens(done.url, auth)).claims()!;
    assert.equal(claims.acr, ACR.mfa);
    assert.deepEqual(claims.amr, ['pwd', 'rcode', 'mfa']);
    assert.equal(await t.services.recovery.remaining(user.id), 9);
  });

  it('starts over without the codes page when the password is sent again on the same sign-in', async () => {
    const user = await createUser(t);
    const agent = new UserAgent();
    const auth = await rp.authorize({ acr_values: ACR.mfa });
    const login = await agent.visit(auth.url);
    const offer = await agent.submit(login, /\/login$/, { email: user.email, password: user.password });
    const choose = await agent.submit(offer, /\/enrol\/email$/, { code: emailedCode(user.email) });
    const secret = /<code class="key">([A-Z2-7 ]+)<\/code>/.exec(choose.body)![1]!.replaceAll(' ', '');
    assert.equal(codesOn(await agent.submit(choose, /\/enrol\/totp$/, { code: await appCode(secret) })).length, 10);
    // the sign-in form sent again (another tab): the account now has an app, which this start asks for
    const factor = await agent.submit(login, /\/login$/, { email: user.email, password: user.password });
    assert.ok(has(factor, /\/factor$/), `the app's step: ${factor.status} ${text(factor.body).slice(0, 200)}`);
    assert.ok(!has(factor, /\/enrol\/continue$/));
    const done = await agent.submit(factor, /\/factor$/, { method: 'totp', code: await appCode(secret, 1) });
    assert.equal((await rp.tokens(done.url, auth)).claims()!.acr, ACR.mfa);
  });

  it('takes Continue once: of two sent at once, one reaches the application and the other is told the step is done', async () => {
    const user = await createUser(t);
    const { agent, after } = await setUpAppInSignIn(user);
    const form = formOn(after, /\/enrol\/continue$/);
    const answers = await Promise.all([0, 1].map(() => agent.request(form.action, { form: form.fields })));
    const statuses = answers.map((a) => a.status).sort();
    assert.deepEqual(statuses, [303, 409], answers.map((a) => `${a.status} ${text(a.body).slice(0, 120)}`).join(' / '));
    const won = answers.find((a) => a.status === 303)!;
    const callback = (await agent.visit(new URL(won.headers.get('location')!, won.url).href)).url;
    assert.ok(callback.startsWith(REDIRECT_URI), callback);
  });

  it('refuses Continue where nothing was set up (400, saying what to do), and the sign-in goes on as before', async () => {
    const user = await createUser(t);
    const agent = new UserAgent();
    const { auth, offer, choose } = await toSetup(agent, user, ACR.mfa);
    const action = formOn(offer, /\/enrol\/decline$/).action.replace(/decline$/, 'continue');
    for (const page of [offer, choose]) {
      const refused = await agent.request(action, { form: { _csrf: formOn(page, /\/enrol\/decline$/).fields._csrf! } });
      assert.equal(refused.status, 400);
      assert.match(text(refused.body), /Nothing was set up in this sign-in to continue from\. Go back to the sign-in page and finish the step it shows, or go back to the application and start again\./);
    }
    assert.equal(await t.services.recovery.remaining(user.id), 0, 'no codes were made');
    const secret = /<code class="key">([A-Z2-7 ]+)<\/code>/.exec(choose.body)![1]!.replaceAll(' ', '');
    const codes = await agent.submit(choose, /\/enrol\/totp$/, { code: await appCode(secret) });
    assert.equal(codesOn(codes).length, 10);
    const done = await agent.submit(codes, /\/enrol\/continue$/);
    assert.equal((await rp.tokens(done.url, auth)).claims()!.acr, ACR.mfa);
  });

  it('goes on to the consent page after Continue when the application asks for consent', async () => {
    const asking = await RelyingParty.register(t, { name: 'Shop' });
    const user = await createUser(t);
    const agent = new UserAgent();
    const auth = await asking.authorize({ acr_values: ACR.mfa });
    const offer = await agent.submit(await agent.visit(auth.url), /\/login$/, { email: user.email, password: user.password });
    const choose = await agent.submit(offer, /\/enrol\/email$/, { code: emailedCode(user.email) });
    const secret = /<code class="key">([A-Z2-7 ]+)<\/code>/.exec(choose.body)![1]!.replaceAll(' ', '');
    const codes = await agent.submit(choose, /\/enrol\/totp$/, { code: await appCode(secret) });
    assert.match(codes.body, /Continue to Shop/);
    const consent = await agent.submit(codes, /\/enrol\/continue$/);
    assert.ok(has(consent, /\/confirm$/), `the consent page: ${consent.status} ${text(consent.body).slice(0, 200)}`);
    assert.ok(!has(consent, /\/enrol\/continue$/), 'the consent page, not the codes page');
    const again = await agent.submit(codes, /\/enrol\/continue$/);
    assert.equal(again.status, 409, 'Continue again, while the consent waits');
    assert.match(text(again.body), /This sign-in step was already completed/);
    assert.ok(has(await agent.visit(consent.url), /\/confirm$/), 'a reload shows the consent page');
    const done = await agent.submit(consent, /\/confirm$/);
    assert.equal((await asking.tokens(done.url, auth)).claims()!.acr, ACR.mfa);
  });

  it('shows codes once after a security key is set up in a sign-in that asks for phr, then reaches the application at phr', async () => {
    const user = await createUser(t);
    const { agent, auth, after } = await setUpKeyInSignIn(user);
    assert.equal(after.status, 200, text(after.body).slice(0, 300));
    assert.match(after.body, /Your security key is set up\./);
    assert.equal(codesOn(after).length, 10);
    assert.equal((await t.services.webauthn.list(user.id)).length, 1);
    const reload = await interactionPage(agent, after);
    assert.match(reload.body, /were shown once/);
    assert.equal(codesOn(reload).length, 0);
    const done = await agent.submit(reload, /\/enrol\/continue$/);
    const claims = (await rp.tokens(done.url, auth)).claims()!;
    assert.equal(claims.acr, ACR.phr);
    assert.equal((await t.services.webauthn.list(user.id)).length, 1, 'the key was added once');
  });

  it('shows no new codes to an account that has some: the key set up goes straight on, and the codes it had still work', async () => {
    const user = await createUser(t);
    const kept = await t.services.recovery.generate(user.id);
    const { auth, after } = await setUpKeyInSignIn(user);
    assert.ok(after.url.startsWith(REDIRECT_URI), `no codes page: ${after.status} ${text(after.body).slice(0, 200)}`);
    assert.equal((await rp.tokens(after.url, auth)).claims()!.acr, ACR.phr);
    assert.equal(await t.services.recovery.remaining(user.id), 10);
    assert.equal(notices(user.email, 'Recovery codes were created').length, 0);
    assert.equal(await t.services.recovery.use(user.id, kept[0]!), true, 'an old code still works');
  });

  describe('the security center', () => {
    /** Signed in to the security center: its overview page. */
    async function securityCenter(user: TestUser) {
      const agent = new UserAgent();
      const login = await agent.visit(`${t.issuer}/account/security`);
      const overview = await agent.visit((await agent.submit(login, /\/login$/, { email: user.email, password: user.password }, `${t.issuer}/account/`)).url);
      return { agent, overview };
    }
    const addKey = async (agent: UserAgent, overview: Page, user: TestUser, name: string) => agent.submit(overview, /\/account\/security\/webauthn$/, {
      name, password: user.password, response: await keyAnswer(agent, overview, /\/account\/security\/webauthn$/),
    });

    it('shows codes once after the first security key, and not after the second', async () => {
      const user = await createUser(t);
      const { agent, overview } = await securityCenter(user);
      const first = await addKey(agent, overview, user, 'Desk key');
      assert.equal(first.status, 200, text(first.body).slice(0, 300));
      assert.match(text(first.body), /"Desk key" was added/);
      const codes = codesOn(first);
      assert.equal(codes.length, 10, text(first.body).slice(0, 300));
      assert.equal(await t.services.recovery.remaining(user.id), 10);
      await eventually(() => notices(user.email, 'Recovery codes were created for your account.').length === 1, 'the notice email');

      const second = await addKey(agent, await agent.visit(`${t.issuer}/account/security`), user, 'Spare key');
      assert.match(text(second.body), /"Spare key" was added/);
      assert.equal(codesOn(second).length, 0, 'no new codes: the account has them');
      assert.equal((await t.services.webauthn.list(user.id)).length, 2);
      assert.equal(await t.services.recovery.use(user.id, codes[0]!), true, 'the first codes still work');
    });
  });
});

describe('a crash while an app set up in a sign-in gets its codes', function () {
  this.timeout(180_000);

  it('leaves, after any of its writes, a sign-in the person finishes at mfa and an app that works', async () => {
    let total: number | undefined;
    for (let n = 0; total === undefined || n < total; n++) {
      const database = freshDatabaseName('codes');
      const secrets = { cookieKeys: [randomBytes(32).toString('base64url')], encryptionKey: randomBytes(32).toString('base64') };
      const crashing = await startTessera({ database, secrets, testDatabase: { faults: true }, log: () => {}, serviceLog: () => {} });
      const port = (crashing.server.address() as AddressInfo).port;
      const faults = crashing.services.db.faults!;
      const user = await createUser(crashing);
      const clientId = (await crashing.services.clients.create({ clientId: `rp-${randomBytes(4).toString('hex')}`, redirectUris: [REDIRECT_URI], public: true, skipConsent: true })).clientId;
      const agent = new UserAgent();
      let secret: string;
      let interaction: string;
      let auth: Awaited<ReturnType<RelyingParty['authorize']>>;
      try {
        auth = await (await RelyingParty.discover(crashing.issuer, clientId)).authorize({ acr_values: ACR.mfa });
        const offer = await agent.submit(await agent.visit(auth.url), /\/login$/, { email: user.email, password: user.password });
        const code = /^(\d{6})/.exec(crashing.services.outbox.list().find((m) => m.to === user.email && /sign-in code$/.test(m.subject ?? ''))!.subject!)![1]!;
        const choose = await agent.submit(offer, /\/enrol\/email$/, { code });
        secret = /<code class="key">([A-Z2-7 ]+)<\/code>/.exec(choose.body)![1]!.replaceAll(' ', '');
        const form = formOn(choose, /\/enrol\/totp$/);
        interaction = form.action.replace(/\/enrol\/totp$/, '');
        const setUp = async () => agent.request(form.action, { form: { ...form.fields, code: await appCode(secret) } });
        if (total === undefined) {
          // the uninterrupted run: how many writes the setup makes (the app, the flow, the codes, the audit)
          const before = faults.writes;
          assert.equal((await setUp()).status, 200);
          await crashing.services.audit.flush();
          total = faults.writes - before;
          assert.ok(total >= 3, `${total} writes`);
          n = -1;
          continue;
        }
        faults.crashAfter(n);
        await setUp();
        await crashing.services.audit.flush().catch(() => {});
        assert.ok(faults.crashed, `the setup reached its write ${n + 1}`);
      } finally {
        crashing.server.closeAllConnections();
        await new Promise<void>((resolve) => crashing.server.close(() => resolve()));
        await crashing.services.close().catch(() => {});
      }

      const t = await startTessera({ database, secrets, port });
      try {
        const rp = await RelyingParty.discover(t.issuer, clientId);
        // the person reloads the sign-in page: the setup again (nothing was recorded), or Continue
        let page = await agent.visit(interaction);
        if (has(page, /\/enrol\/totp$/)) {
          secret = /<code class="key">([A-Z2-7 ]+)<\/code>/.exec(page.body)![1]!.replaceAll(' ', '');
          page = await agent.submit(page, /\/enrol\/totp$/, { code: await appCode(secret) });
        }
        if (has(page, /\/enrol\/continue$/)) page = await agent.submit(page, /\/enrol\/continue$/);
        assert.ok(page.url.startsWith(REDIRECT_URI), `after a crash after write ${n}: ${page.status} ${text(page.body).slice(0, 300)}`);
        assert.equal((await rp.tokens(page.url, auth)).claims()!.acr, ACR.mfa);
        assert.ok([0, 10].includes(await t.services.recovery.remaining(user.id)));
        // the app set up works for the next sign-in
        const next = await rp.authorize({ acr_values: ACR.mfa });
        const browser = new UserAgent();
        const factor = await browser.submit(await browser.visit(next.url), /\/login$/, { email: user.email, password: user.password });
        const done = await browser.submit(factor, /\/factor$/, { method: 'totp', code: await appCode(secret, 1) });
        assert.ok(done.url.startsWith(REDIRECT_URI), `the app after a crash after write ${n}: ${text(done.body).slice(0, 300)}`);
      } finally {
        await t.close();
      }
    }
  });
});
