// Exactly once under parallel requests for every single-use thing besides authorization codes and
// refresh tokens (exactly-once.test.ts) and set-password links (user-admin.test.ts): 20 requests
// fired at once (Promise.all), in the store and, where cheap, through real HTTP with one browser's
// cookies, must give exactly one success and exact counters. One-time codes, TOTP codes (one use
// per time step), recovery codes, WebAuthn challenges, PIN attempts (sign-in and screen lock),
// trusted-device registrations and device failure counters.
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { generate } from 'otplib';
import type { Model } from 'mongoose';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, UserAgent, createUser, formOn, REDIRECT_URI, type Page, type TestUser } from '../support/flow.ts';

const PARALLEL = 20;
/** The account's new-device lockout (LOCKOUT_AFTER) at its highest setting. */
const LOCKOUT = 10;
const parallel = <R>(work: (i: number) => Promise<R>, n = PARALLEL) => Promise.all(Array.from({ length: n }, (_, i) => work(i)));
const count = <T>(items: T[], test: (item: T) => boolean) => items.filter(test).length;
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');

describe('exactly once under parallel requests: factors, PINs and devices', function () {
  this.timeout(40_000);
  let now = new Date();
  const clock = () => now;
  /** Device limit 100 (so wrong codes here never block), 20 wrong PINs end a sign-in or session. */
  let t: Tessera;
  /** Device limit 20: the 20th failure blocks. */
  let strict: Tessera;
  /**
   * Device limit 10, the account's lockout for new devices (LOCKOUT_AFTER, at most 10): over HTTP
   * a failure after the lockout is answered but not counted again, so exact counts need ≤ 10 tries.
   */
  let locking: Tessera;
  let rp: RelyingParty;

  before(async () => {
    now = new Date(); // from the start of the run, not the file's load (the expiry purge runs on real time)
    [t, strict, locking] = await Promise.all([
      startTessera({ clock, env: { DEVICE_MAX_FAILURES: '100', PIN_MAX_FAILURES: String(PARALLEL) } }),
      startTessera({ clock, env: { DEVICE_MAX_FAILURES: String(PARALLEL) } }),
      startTessera({ clock, env: { DEVICE_MAX_FAILURES: String(LOCKOUT), LOCKOUT_AFTER: String(LOCKOUT) } }),
    ]);
    rp = await RelyingParty.register(t, { skipConsent: true });
  });
  after(async () => {
    await Promise.all([t?.close(), strict?.close(), locking?.close()]);
  });

  const epoch = () => Math.floor(now.getTime() / 1000);

  async function withTotp(user: TestUser): Promise<string> {
    const { secret } = await t.services.totp.begin(user.id, user.email);
    assert.ok(await t.services.totp.confirm(user.id, await generate({ secret, epoch: epoch() })));
    // the confirming code spent its step: sign-ins use the next one
    now = new Date(now.getTime() + 30_000);
    return secret;
  }

  /** One browser through the password step of a sign-in at `rp`: the page that comes next. */
  async function pastPassword(agent: UserAgent, user: TestUser): Promise<Page> {
    const auth = await rp.authorize();
    const login = await agent.visit(auth.url);
    return agent.submit(login, /\/login$/, { email: user.email, password: user.password });
  }

  /** POSTs the same form `n` (20) times at once with this browser's cookies. */
  async function submitTogether(agent: UserAgent, page: Page, action: RegExp, fields: Record<string, string>, n = PARALLEL): Promise<Page[]> {
    const form = formOn(page, action);
    return parallel(() => agent.request(form.action, { form: { ...form.fields, ...fields } }), n);
  }

  const alertOf = (page: Page) => /role="alert"[^>]*>([\s\S]*?)</.exec(page.body)?.[1]?.trim() ?? '';

  describe('one-time codes (email, SMS, voice)', () => {
    it(`accepts a right code once among ${PARALLEL} parallel entries`, async () => {
      const user = await createUser(t);
      const scope = `scope-${randomBytes(4).toString('hex')}`;
      const { code } = await t.services.challenges.open(scope, 'sign-in', 'email', user.id);
      const results = await parallel(() => t.services.challenges.verify(scope, 'sign-in', 'email', user.id, code!));
      assert.equal(count(results, (r) => r.ok), 1, 'one acceptance');
      assert.equal(count(results, (r) => !r.ok && r.reason === 'used'), PARALLEL - 1, 'the others: already used');
    });

    it(`counts ${PARALLEL} parallel wrong codes exactly up to the attempt limit`, async () => {
      const user = await createUser(t);
      const scope = `scope-${randomBytes(4).toString('hex')}`;
      const { code } = await t.services.challenges.open(scope, 'sign-in', 'sms', user.id);
      const wrong = code === '000000' ? '000001' : '000000';
      const results = await parallel(() => t.services.challenges.verify(scope, 'sign-in', 'sms', user.id, wrong));
      const max = t.config.codes.maxAttempts;
      assert.equal(count(results, (r) => !r.ok && r.reason === 'wrong'), max - 1, 'wrong, tries left: limit − 1 of them');
      assert.equal(count(results, (r) => !r.ok && r.reason === 'locked'), PARALLEL - max + 1, 'the rest: locked');
      const state = await t.services.challenges.peek(scope, 'sign-in', 'sms', user.id);
      assert.equal(state?.failures, max, 'failures counted exactly to the limit');
      assert.equal(state?.locked, true);
    });
  });

  describe('TOTP codes: one use per time step', () => {
    it(`accepts one code once among ${PARALLEL} parallel checks, and no other code of the same step`, async () => {
      const user = await createUser(t);
      const secret = await withTotp(user);
      const code = await generate({ secret, epoch: epoch() });
      const results = await parallel(() => t.services.totp.check(user.id, code));
      assert.equal(count(results, Boolean), 1);
      assert.equal(await t.services.totp.check(user.id, code), false, 'spent for this step');
    });

    it(`signs in once with ${PARALLEL} parallel POSTs of the right code in one interaction (one browser)`, async () => {
      const user = await createUser(t);
      const secret = await withTotp(user);
      await t.services.accounts.setSecondFactor(user.id, 'totp');
      const agent = new UserAgent();
      const factorPage = await pastPassword(agent, user);
      assert.match(factorPage.body, /authenticator app/);
      const code = await generate({ secret, epoch: epoch() });
      const answers = await submitTogether(agent, factorPage, /\/factor$/, { method: 'totp', code });
      assert.equal(count(answers, (a) => a.status >= 500), 0, 'no 5xx');
      assert.equal(count(answers, (a) => a.status >= 300 && a.status < 400), 1, 'one success moves the sign-in on');
      // the others are told the step is already done (409) and count nothing against the browser;
      // one that checked the code in the moment between the winner spending it and recording its
      // proof sees a spent code: the factor page again (400), counted as one wrong code
      // (how many land in that moment depends on the machine's load: the test does not)
      const done = count(answers, (a) => a.status === 409 && /already completed/.test(a.body));
      const late = answers.filter((a) => a.status === 400);
      assert.equal(done + late.length, PARALLEL - 1, 'the others: already done, or the factor page');
      for (const page of late) assert.match(page.body, /That code was already used\./);
      // (before these fixes all 19 counted as wrong codes: a double click could block the browser)
      const [device] = await t.services.devices.listFor(user.id);
      assert.equal(device!.failures, 0, `a right code sent again is no wrong code (${late.length} shown the page)`);
    });
  });

  describe('the password: each sign-in once', () => {
    /** The account's recorded successful sign-ins. */
    const successes = async (user: TestUser) => count((await t.services.history.page(user.id, 0)).entries, (e) => e.result === 'success');

    for (const browser of ['a known browser', 'a new browser'] as const) {
      it(`signs in once with ${PARALLEL} parallel POSTs of the right password in one interaction (${browser})`, async () => {
        const user = await createUser(t);
        const agent = new UserAgent();
        if (browser === 'a known browser') assert.ok((await pastPassword(agent, user)).url.startsWith(REDIRECT_URI), 'signed in once before: the browser is known');
        const before = await successes(user);
        const login = await agent.visit((await rp.authorize({ prompt: 'login' })).url);
        const answers = await submitTogether(agent, login, /\/login$/, { email: user.email, password: user.password });
        assert.equal(count(answers, (a) => a.status >= 500), 0, 'no 5xx');
        assert.equal(count(answers, (a) => a.status === 303), 1, `one goes on to the provider: ${answers.map((a) => a.status).join(' ')}`);
        assert.equal(count(answers, (a) => a.status === 409 && /already completed/.test(a.body)), PARALLEL - 1, 'the others are "already done"');
        await t.services.audit.flush();
        assert.equal(await successes(user) - before, 1, 'one sign-in recorded');
        assert.equal((await t.services.devices.listFor(user.id)).length, 1, 'one registration');
      });
    }
  });

  describe('recovery codes: each once', () => {
    it(`spends each code once among ${PARALLEL} parallel uses (one code; then 10 codes twice each)`, async () => {
      const user = await createUser(t);
      const codes = await t.services.recovery.generate(user.id);
      const same = await parallel(() => t.services.recovery.use(user.id, codes[0]!));
      assert.equal(count(same, Boolean), 1);
      assert.equal(await t.services.recovery.remaining(user.id), codes.length - 1);
      const rest = codes.slice(1);
      const mixed = await parallel((i) => t.services.recovery.use(user.id, rest[i % rest.length]!));
      assert.equal(count(mixed, Boolean), rest.length, 'each of the other codes once');
      assert.equal(await t.services.recovery.remaining(user.id), 0);
    });
  });

  describe('WebAuthn: a ceremony challenge is spent once', () => {
    /** A software passkey without a signature counter (counter 0, as synced passkeys are). */
    function softPasskey() {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const jwk = publicKey.export({ format: 'jwk' });
      // COSE_Key {1: 2 (EC2), 3: -7 (ES256), -1: 1 (P-256), -2: x, -3: y}, CBOR by hand
      const cose = Buffer.concat([Buffer.from([0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20]), Buffer.from(jwk.x!, 'base64url'),
        Buffer.from([0x22, 0x58, 0x20]), Buffer.from(jwk.y!, 'base64url')]);
      const id = b64(randomBytes(16));
      return {
        id,
        stored: { publicKey: b64(cose), counter: 0, transports: [], name: 'Soft passkey', synced: true, createdAt: new Date() },
        assert(challenge: string, origin: string) {
          const rpID = new URL(origin).hostname;
          const clientDataJSON = Buffer.from(JSON.stringify({ type: 'webauthn.get', challenge, origin, crossOrigin: false }));
          // rpIdHash, flags UP|UV, counter 0
          const authData = Buffer.concat([createHash('sha256').update(rpID).digest(), Buffer.from([0x05, 0, 0, 0, 0])]);
          const signature = sign('sha256', Buffer.concat([authData, createHash('sha256').update(clientDataJSON).digest()]), privateKey);
          return JSON.stringify({ id, rawId: id, type: 'public-key', clientExtensionResults: {},
            response: { clientDataJSON: b64(clientDataJSON), authenticatorData: b64(authData), signature: b64(signature) } });
        },
      };
    }

    it(`verifies one signed assertion once among ${PARALLEL} parallel submissions`, async () => {
      const user = await createUser(t);
      const key = softPasskey();
      const Credentials = t.services.db.connection.model('WebAuthnCredentials') as unknown as Model<{ _id: string; creds: Record<string, unknown> }>;
      await Credentials.create({ _id: user.id, creds: { [key.id]: key.stored } });
      const scope = `scope-${randomBytes(4).toString('hex')}`;
      const options = await t.services.webauthn.authenticationOptions(user.id, scope);
      const response = key.assert(options.challenge, new URL(t.issuer).origin);
      const results = await parallel(() => t.services.webauthn.authenticate(user.id, scope, response));
      assert.equal(count(results, (r) => r.ok), 1, 'one acceptance');
      // the passkey itself still works with a new challenge
      const again = await t.services.webauthn.authenticationOptions(user.id, scope);
      now = new Date(now.getTime() + 1000);
      assert.equal((await t.services.webauthn.authenticate(user.id, scope, key.assert(again.challenge, new URL(t.issuer).origin))).ok, true);
    });
  });

  describe('PIN attempts: no lost wrong-PIN counts', () => {
    it(`ends a locked session exactly at the limit: ${PARALLEL} parallel wrong PINs count 1…${PARALLEL}`, async () => {
      const user = await createUser(t);
      await t.services.accounts.setPin(user.id, '4729');
      const account = (await t.services.accounts.findById(user.id))!;
      const uid = `uid-${randomBytes(8).toString('hex')}`;
      await t.services.sessions.signedIn(uid, user.id, { ip: '127.0.0.1', userAgent: 'test' });
      const results = await parallel(() => t.services.sessions.unlock(uid, account, '1111'));
      const left = results.flatMap((r) => (r.outcome === 'wrong' ? [r.left] : [])).sort((a, b) => a - b);
      assert.deepEqual(left, Array.from({ length: PARALLEL - 1 }, (_, i) => i + 1), 'each count from 1 to limit − 1 once');
      assert.equal(count(results, (r) => r.outcome === 'ended'), 1, 'the limit reached once');
    });

    it(`stops a sign-in exactly at the limit: ${PARALLEL} parallel wrong PINs over HTTP (one browser)`, async () => {
      const user = await createUser(t);
      await t.services.accounts.setPin(user.id, '4729');
      await t.services.accounts.setSessionSettings(user.id, { pinAfterSignIn: true });
      const agent = new UserAgent();
      const pinPage = await pastPassword(agent, user);
      assert.match(pinPage.body, /Enter your PIN/);
      const answers = await submitTogether(agent, pinPage, /\/pin$/, { pin: '1111' });
      assert.equal(count(answers, (a) => a.status >= 500), 0, 'no 5xx');
      const left = answers.flatMap((a) => {
        const m = /(\d+) tr(?:y|ies) left/.exec(alertOf(a));
        return m ? [Number(m[1])] : [];
      }).sort((a, b) => a - b);
      assert.deepEqual(left, Array.from({ length: PARALLEL - 1 }, (_, i) => i + 1), 'each count from 1 to limit − 1 once');
      assert.equal(count(answers, (a) => a.status >= 300 && a.status < 400), 1, 'the sign-in stopped once (access_denied)');
      const device = (await t.services.devices.listFor(user.id))[0]!;
      assert.equal(device.failures, PARALLEL, 'every wrong PIN counted toward the device');
    });
  });

  describe('devices: one registration per browser, exact failure counts', () => {
    it(`makes one registration for ${PARALLEL} parallel first sights of one browser`, async () => {
      const user = await createUser(strict);
      const browserId = randomBytes(16).toString('base64url');
      const seen = { ip: '127.0.0.1', browser: 'Firefox', os: 'Linux' };
      const devices = await parallel(() => strict.services.devices.ensure(user.id, browserId, seen));
      assert.equal(new Set(devices.map((d) => d.id)).size, 1, 'every request got the same registration');
      const listed = await strict.services.devices.listFor(user.id);
      assert.deepEqual(listed.map((d) => d.id), [devices[0]!.id], 'one registration listed');
    });

    it(`counts ${PARALLEL} parallel failures exactly and blocks once at the limit (${PARALLEL})`, async () => {
      const user = await createUser(strict);
      const device = await strict.services.devices.ensure(user.id, randomBytes(16).toString('base64url'), { browser: 'Firefox', os: 'Linux' });
      const results = await parallel(() => strict.services.devices.recordFailure(device.id, 'wrong password'));
      assert.equal(count(results, (r) => r.justBlocked), 1, 'one request blocked it');
      const after = (await strict.services.devices.byId(device.id))!;
      assert.equal(after.failures, PARALLEL);
      assert.equal(after.state, 'BLOCKED');
      assert.equal(count(after.history, (h) => h.to === 'BLOCKED'), 1, 'one BLOCKED history entry');
      // twice as many as the limit: several requests see the limit, one moves the device
      const other = await strict.services.devices.ensure(user.id, randomBytes(16).toString('base64url'), { browser: 'Firefox', os: 'Linux' });
      const more = await Promise.all(Array.from({ length: 2 * PARALLEL }, () => strict.services.devices.recordFailure(other.id, 'wrong password')));
      assert.equal(count(more, (r) => r.justBlocked), 1, 'one request blocked it');
      const blocked = (await strict.services.devices.byId(other.id))!;
      assert.ok(blocked.failures >= PARALLEL && blocked.failures <= 2 * PARALLEL, `failures ${blocked.failures}`);
      assert.equal(count(blocked.history, (h) => h.to === 'BLOCKED'), 1, 'one BLOCKED history entry');
    });

    it(`over HTTP: ${LOCKOUT} parallel wrong passwords from one new browser (device limit and account lockout ${LOCKOUT}) → no registration, ${LOCKOUT} failures for the browser, blocked`, async () => {
      const user = await createUser(locking);
      const strictRp = await RelyingParty.register(locking, { skipConsent: true });
      const agent = new UserAgent();
      const login = await agent.visit((await strictRp.authorize()).url);
      const answers = await submitTogether(agent, login, /\/login$/, { email: user.email, password: 'Wrong#Horse1' }, LOCKOUT);
      assert.equal(count(answers, (a) => a.status >= 500), 0, 'no 5xx');
      assert.deepEqual(await locking.services.devices.listFor(user.id), [], 'a browser that proved nothing is no registration');
      const browserId = (await agent.jar.getCookies(locking.issuer)).find((c) => c.key.endsWith('tessera.device'))!.value;
      assert.deepEqual((await locking.services.devices.beforePassword(user.id, user.email, browserId)).ghost, { failures: LOCKOUT, blocked: true }, 'every failure counted once');
      assert.ok(!answers.some((a) => a.url.startsWith(REDIRECT_URI)));
    });
  });
});
