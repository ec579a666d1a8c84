// Property-based fuzz (fast-check, fixed seed) of every HTML form route through real HTTP on a real
// Tessera: the sign-in steps (/interaction/:uid/login, factor, resend, pin, device, enrolment,
// confirm, abort), every form the account center's pages show (/account/security/...: password,
// PIN, phones, trusted IPs, devices, sessions, authenticator app) and every form of the admin
// console's pages (/admin/...), and the forms of issue 21: "Forgot password?", sign-up, passkey sign-in,
// the passkey offer, the lost second factor's request, the recovery cancel page and the console's
// recovery decisions (each at the step that shows it, and refused before it), the webhook forms of the console and of an organisation admin. Each case posts random fields (known names and random ones),
// repeated keys (a=1&a=2), long values under the 16 kB body limit, unicode and control characters,
// with a valid, missing, forged or doubled CSRF token. Properties: never a 5xx (and nothing logged as
// one); a missing or forged token is a 403 with "This form has expired" and changes nothing; any
// 4xx changes nothing; a body over 16 kB is a 413 with a clear message and changes nothing.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { generate } from 'otplib';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, UserAgent, createUser, giveVerifiedPhone, signIn, type Page, type TestUser } from '../support/flow.ts';
import { eventually } from '../support/mail.ts';

const SEED = 424242;
const RUNS = Number(process.env.FORM_FUZZ_RUNS ?? 100);
const BODY_LIMIT = 16 * 1024;
const EXPIRED = /This form has expired/;

interface Form { action: string; fields: string[]; csrf: string }
type CsrfMode = 'valid' | 'missing' | 'forged' | 'doubled';
interface Case { form: number; csrf: CsrfMode; pairs: [string, string][] }

const text = (html: string) => html.replace(/<[^>]+>/g, ' ').replace(/&#34;|&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&').replace(/\s+/g, ' ').trim();

/** Every POST form on a page: its absolute action, the names of its fields, its CSRF token. */
function formsOn(page: Page): Form[] {
  const forms: Form[] = [];
  for (const m of page.body.matchAll(/<form([^>]*)>([\s\S]*?)<\/form>/g)) {
    const attrs = m[1]!;
    if (!/method="post"/i.test(attrs)) continue;
    const action = /action="([^"]+)"/.exec(attrs)?.[1];
    if (!action) continue;
    const fields = [...new Set([...m[2]!.matchAll(/<(?:input|select|textarea)[^>]*name="([^"]+)"/g)].map((f) => f[1]!))].filter((n) => n !== '_csrf');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(m[2]!)?.[1] ?? '';
    forms.push({ action: new URL(action.replaceAll('&amp;', '&'), page.url).href, fields, csrf });
  }
  return forms;
}

/** A form value: ordinary, unicode (astral, combining, RTL), control characters, long, or numeric-looking. */
const value = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', ' ', '0', '-1', '1e309', 'NaN', 'null', 'true', '[]', '{}', '__proto__', 'constructor', '../../etc/passwd',
    '<script>alert(1)</script>', "' OR 1=1 --", '{"$gt":""}', '\u0000', '\u202e\u0041', '𝕏👩‍💻', 'a\r\nSet-Cookie: x=1', '%00', '999999999999999999999'),
  fc.string({ minLength: 1000, maxLength: 4000 }),
);

function caseFor(forms: Form[]) {
  return fc.record({
    form: fc.nat({ max: forms.length - 1 }),
    csrf: fc.constantFrom<CsrfMode>('valid', 'valid', 'valid', 'valid', 'valid', 'missing', 'forged', 'doubled'),
    known: fc.array(value, { maxLength: 8 }),
    extra: fc.array(fc.tuple(fc.oneof(fc.string({ minLength: 1, maxLength: 12 }), fc.constantFrom('__proto__', 'constructor', 'a[b]', 'a[]', '_csrf[]')), value), { maxLength: 3 }),
    repeat: fc.boolean(),
  }).map(({ form, csrf, known, extra, repeat }): Case => {
    const names = forms[form]!.fields;
    const pairs: [string, string][] = names.map((name, i) => [name, known[i % Math.max(known.length, 1)] ?? '']);
    // a=1&a=2: every known field a second time
    if (repeat) for (const name of names) pairs.push([name, known[0] ?? 'x']);
    return { form, csrf, pairs: [...pairs, ...extra] };
  });
}

function bodyOf(form: Form, c: Case): string {
  const params = new URLSearchParams();
  if (c.csrf === 'valid') params.append('_csrf', form.csrf);
  if (c.csrf === 'forged') params.append('_csrf', `${form.csrf.slice(0, -4)}AAAA`);
  if (c.csrf === 'doubled') { params.append('_csrf', form.csrf); params.append('_csrf', form.csrf); }
  for (const [k, v] of c.pairs) params.append(k, v);
  let body = params.toString();
  // stay under the body limit: this property is about content, the 413 has its own test
  if (Buffer.byteLength(body) >= BODY_LIMIT) body = body.slice(0, BODY_LIMIT - 64).replace(/%[0-9A-F]?$/i, '');
  return body;
}

describe('form routes fuzzed with fast-check', function () {
  this.timeout(180_000);
  let offset = 0;
  const now = () => new Date(Date.now() + offset);
  let t: Tessera;
  let rp: RelyingParty;
  let user: TestUser;
  let admin: TestUser & { secret: string };
  let hook = '';
  let orgHook = '';
  const failures: unknown[] = [];
  const figures: string[] = [];

  before(async () => {
    // random passwords on forms that confirm a change: the session's guessing limit (5) would end it
    // sign-up on; "Forgot password?" and sign-up codes asked for from this one address a hundred times over
    t = await startTessera({ clock: now, env: { REAUTH_MAX_FAILURES: '1000', SIGNUP_ENABLED: 'true', RESET_PER_IP_HOUR: '100000', RESEND_PER_HOUR: '1000' }, log: (err) => { failures.push(err); console.error('    [tessera 500]', err); } });
    rp = await RelyingParty.register(t, { skipConsent: true });
    user = await createUser(t, { email: 'fuzzed@example.com' });
    await giveVerifiedPhone(t, user);
    await t.services.trustedIps.add(user.id, '203.0.113.0/24', '').catch(() => undefined);
    const a = await createUser(t, { email: 'fuzz-admin@example.com', name: 'Fuzz Admin' });
    await t.services.accounts.setRole(a.id, 'admin');
    const { secret } = await t.services.totp.begin(a.id, a.email);
    assert.ok(await t.services.totp.confirm(a.id, await generate({ secret, epoch: Math.floor(Date.now() / 30_000) * 30 })));
    admin = { ...a, secret };
    // the fuzzed person administers an organisation with a webhook endpoint (its security-center
    // section), and the console has an endpoint for all accounts
    const org = await t.services.organisations.create('Fuzz Org');
    await t.services.organisations.setMember(org.id, user.id, true);
    orgHook = (await t.services.webhooks.endpoints.create({ url: 'https://hooks.example.com/org', description: '', types: ['password.changed'], organisationId: org.id })).endpoint.id;
    hook = (await t.services.webhooks.endpoints.create({ url: 'https://hooks.example.com/all', description: '', types: ['admin.action'] })).endpoint.id;
  });
  after(async () => {
    if (figures.length) console.log(`    fast-check: ${figures.join('; ')}`);
    await t?.close();
  });
  afterEach(() => assert.deepEqual(failures.splice(0), [], 'never a 5xx'));

  /** What a refused request must not change: the accounts, their devices, phones, sessions, clients, organisations. */
  async function snapshot(): Promise<string> {
    const [u, a, clients, organisations, devices, adminDevices, phones, ips, webhooks] = await Promise.all([
      t.services.accounts.findById(user.id), t.services.accounts.findById(admin.id), t.services.clients.list(), t.services.organisations.list(),
      t.services.devices.listFor(user.id), t.services.devices.listFor(admin.id), t.services.phones.list(user.id), t.services.trustedIps.list(user.id),
      t.services.webhooks.endpoints.list(),
    ]);
    const strip = (acc: unknown) => JSON.parse(JSON.stringify(acc ?? null), (k, v) => (/^(lastSeenAt|lastUsedAt|updatedAt|lastSignInAt)$/.test(k) ? undefined : v));
    return JSON.stringify({ u: strip(u), a: strip(a), clients, organisations, devices: strip(devices), adminDevices: strip(adminDevices), phones, ips, webhooks, sessions: await t.services.sessions.list(u!, undefined).then((l) => l.map((x) => x.ref)).catch(() => 'n/a') });
  }

  async function post(agent: UserAgent, target: string, body: string): Promise<Page> {
    const headers: Record<string, string> = { accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded' };
    const cookie = await agent.jar.getCookieString(target);
    if (cookie) headers.cookie = cookie;
    const res = await fetch(target, { method: 'POST', headers, body, redirect: 'manual' });
    return { url: target, status: res.status, headers: res.headers, body: await res.text() };
  }

  /** Runs the property over `forms` as `agent`; returns the number of runs. */
  async function fuzz(family: string, agent: UserAgent, forms: Form[], fresh?: () => Promise<{ agent: UserAgent; forms: Form[] }>): Promise<void> {
    assert.ok(forms.length > 0, `${family}: no forms found`);
    let runs = 0;
    const statuses = new Map<number, number>();
    await fc.assert(fc.asyncProperty(caseFor(forms), async (c) => {
      runs++;
      // the sign-in steps: a new interaction each run (an abort or a finished step ends the old one)
      if (fresh) ({ agent, forms } = await fresh());
      const form = forms[c.form]!;
      const before = await snapshot();
      const res = await post(agent, form.action, bodyOf(form, c));
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (process.env.FORM_FUZZ_DEBUG) console.log(res.status, c.csrf, new URL(form.action).pathname, res.headers.get('location') ?? '', text(/role="alert">([\s\S]*?)<\/(?:p|ul)>/.exec(res.body)?.[1] ?? /<h1[^>]*>([\s\S]*?)<\/h1>/.exec(res.body)?.[1] ?? '').slice(0, 120));
      const where = `${family}: POST ${new URL(form.action).pathname} csrf=${c.csrf} → ${res.status}`;
      assert.ok(res.status < 500, `${where}\n${text(res.body).slice(0, 300)}`);
      assert.equal(failures.length, 0, `${where}: a 5xx was logged`);
      if (c.csrf === 'missing' || c.csrf === 'forged') {
        assert.equal(res.status, 403, where);
        assert.match(text(res.body), EXPIRED, where);
      }
      if (res.status >= 400) {
        assert.ok(text(res.body).length > 0, `${where}: an empty error page`);
        assert.equal(await snapshot(), before, `${where}: a refused request changed something`);
      }
    }), { seed: SEED, numRuns: RUNS, endOnFailure: true });

    // over the body limit: 413 with a message, nothing changed, for every form
    for (const form of forms) {
      const before = await snapshot();
      const res = await post(agent, form.action, `_csrf=${encodeURIComponent(form.csrf)}&${form.fields[0] ?? 'x'}=${'A'.repeat(BODY_LIMIT + 10)}`);
      assert.equal(res.status, 413, `${family}: POST ${form.action} with ${BODY_LIMIT + 10} bytes`);
      assert.match(text(res.body), /too large/i);
      assert.equal(await snapshot(), before);
    }
    figures.push(`${family} ${runs} runs over ${forms.length} forms (+${forms.length} oversized), statuses ${[...statuses].sort().map(([s, n]) => `${s}×${n}`).join(' ')}`);
  }

  /** Every form on these pages, once each (the same action from two pages counts once). */
  async function formsOf(agent: UserAgent, paths: string[]): Promise<Form[]> {
    const all = new Map<string, Form>();
    for (const path of paths) {
      const page = await agent.visit(`${t.issuer}${path}`);
      assert.equal(page.status, 200, `${path}: ${page.status}`);
      for (const form of formsOn(page)) if (!all.has(form.action)) all.set(form.action, form);
    }
    return [...all.values()];
  }

  it('sign-in steps: login, codes, second factor, PIN, device, enrolment, consent, abort', async () => {
    // every step's route, with the fields its page has; a step not reached yet must refuse as well
    const steps: [string, string[]][] = [
      ['/login', ['email', 'password']], ['/factor', ['code', 'method', 'channel']], ['/resend', ['method', 'channel']],
      ['/pin', ['pin']], ['/device', ['code', 'method']], ['/device/resend', ['method']], ['/enrol/email', ['code']],
      ['/enrol/totp', ['code']], ['/enrol/decline', []], ['/enrol/continue', []], ['/confirm', []], ['/abort', []],
      // issue 21's steps, before the sign-in reached them
      ['/passkey', ['response']], ['/passkey/options', []], ['/lost-factor', ['message']], ['/passkey-offer', ['response']], ['/passkey-offer/options', []],
      ['/passkey-offer/not-now', []], ['/forgot/code', ['code']], ['/forgot/resend', ['method']], ['/forgot/factor', ['method', 'code']],
      ['/forgot/password', ['password', 'confirm']], ['/sign-up/code', ['code']], ['/sign-up/resend', []],
    ];
    const fresh = async () => {
      const agent = new UserAgent();
      const login = await agent.visit((await rp.authorize()).url);
      const [form] = formsOn(login).filter((f) => /\/login$/.test(f.action));
      assert.ok(form, 'a sign-in form');
      const base = form.action.replace(/\/login$/, '');
      return { agent, forms: steps.map(([path, fields]) => ({ action: base + path, fields, csrf: form.csrf })) };
    };
    const first = await fresh();
    await fuzz('sign-in', first.agent, first.forms, fresh);
  });

  /** The sign-in page of a new authorization in a new browser (or `agent`), and the interaction's base path. */
  async function signInPage(agent = new UserAgent()) {
    const login = await agent.visit((await rp.authorize()).url);
    const [form] = formsOn(login).filter((f) => /\/login$/.test(f.action));
    assert.ok(form, 'a sign-in form');
    return { agent, login, form, base: form.action.replace(/\/login$/, '') };
  }
  const formsAt = (base: string, csrf: string, steps: [string, string[]][]): Form[] => steps.map(([path, fields]) => ({ action: base + path, fields, csrf }));
  /** The newest email to `to` whose subject matches, once it is in the outbox. */
  const mailTo = (to: string, subject: RegExp) => eventually(() => t.services.outbox.list().find((m) => m.to === to && subject.test(m.subject ?? '')), `an email to ${to}`);

  it('forgot password (issue 21): the address, the code, resend, the second step, the new password', async () => {
    let n = 0;
    const fresh = async () => {
      const { agent, login, form, base } = await signInPage();
      const forgot = await agent.visit(new URL(/href="(\/interaction\/[^"]+\/forgot)"/.exec(login.body)![1]!, t.issuer).href);
      const forms = formsAt(base, form.csrf, [['/forgot', ['email', 'channel']], ['/forgot/code', ['code']], ['/forgot/resend', ['method']],
        ['/forgot/factor', ['method', 'code']], ['/forgot/password', ['password', 'confirm', 'username']]]);
      // a third of the runs at the address, a third at the code, a third at the new password
      const stage = n++ % 3;
      if (stage === 0) return { agent, forms };
      const person = await createUser(t);
      // the code by email when the run goes on to the new password (the tests have no phone provider)
      const codePage = await agent.submit(forgot, /\/forgot$/, { email: person.email, channel: stage === 1 && n % 2 ? 'sms' : 'email' });
      if (stage === 2) {
        const mail = await mailTo(person.email, /password reset code/);
        assert.match((await agent.submit(codePage, /\/forgot\/code$/, { code: /(\d{6})/.exec(mail.subject ?? '')![1]! })).body, /Choose a new password/);
      }
      return { agent, forms };
    };
    const first = await fresh();
    await fuzz('forgot-password', first.agent, first.forms, fresh);
  });

  it('sign-up (issue 21, SIGNUP_ENABLED): the form, its code and resend', async () => {
    let n = 0;
    const fresh = async () => {
      const { agent, login, form, base } = await signInPage();
      const page = await agent.visit(new URL(/href="(\/interaction\/[^"]+\/sign-up)"/.exec(login.body)![1]!, t.issuer).href);
      const [signUp] = formsOn(page).filter((f) => /\/sign-up$/.test(f.action));
      assert.ok(signUp, 'the sign-up form');
      if (n++ % 2) await agent.submit(page, /\/sign-up$/, { email: `new-${n}-${Date.now()}@example.com`, name: 'New Person', password: 'Quartz#Lantern77', confirm: 'Quartz#Lantern77' });
      return { agent, forms: formsAt(base, form.csrf, [['/sign-up', signUp.fields], ['/sign-up/code', ['code']], ['/sign-up/resend', []]]) };
    };
    const first = await fresh();
    await fuzz('sign-up', first.agent, first.forms, fresh);
  });

  it('passkey sign-in and the passkey offer after a password sign-in (issue 21)', async () => {
    const { agent, form, base } = await signInPage();
    await fuzz('passkey-sign-in', agent, formsAt(base, form.csrf, [['/passkey', ['response']], ['/passkey/options', []]]));
    // the offer: a password sign-in in a browser whose page said it can make a passkey, by an account without one
    const person = await createUser(t);
    const offered = async () => {
      const browser = new UserAgent();
      await browser.jar.setCookie('tessera.passkey-capable=1', t.issuer);
      const start = await signInPage(browser);
      const offer = await browser.submit(start.login, /\/login$/, { email: person.email, password: person.password });
      assert.match(offer.body, /passkey-offer\/not-now/, 'the offer is shown');
      return { agent: browser, forms: formsAt(start.base, start.form.csrf, [['/passkey-offer', ['response']], ['/passkey-offer/options', []], ['/passkey-offer/not-now', []]]) };
    };
    const first = await offered();
    await fuzz('passkey-offer', first.agent, first.forms, offered);
  });

  it('lost second factor: the assisted recovery request, the cancel page, the console\'s decisions (issue 21)', async () => {
    // a person whose sign-in needs the authenticator app, at that step
    const person = await createUser(t);
    const { secret } = await t.services.totp.begin(person.id, person.email);
    assert.ok(await t.services.totp.confirm(person.id, await generate({ secret, epoch: Math.floor(now().getTime() / 30_000) * 30 })));
    await t.services.accounts.setSecondFactor(person.id, 'totp');
    const atFactor = async () => {
      const start = await signInPage();
      const factor = await start.agent.submit(start.login, /\/login$/, { email: person.email, password: person.password });
      assert.match(factor.body, /action="[^"]*\/factor"/, 'at the second-factor step');
      // (once a request is open, the page shows it instead of the form: the POST answers that it is)
      assert.equal((await start.agent.visit(`${start.base}/lost-factor`)).status, 200);
      return { agent: start.agent, forms: formsAt(start.base, start.form.csrf, [['/lost-factor', ['message']]]) };
    };
    const first = await atFactor();
    await fuzz('lost-factor', first.agent, first.forms, atFactor);

    // approved by an administrator: the cancel link of its notice
    const other = await createUser(t);
    assert.ok((await t.services.assistedRecovery.request((await t.services.accounts.findById(other.id))!, { ip: '203.0.113.7', browser: 'Firefox', os: 'Linux' }, 'lost phone')).ok);
    assert.ok(await t.services.assistedRecovery.approve({ id: admin.id, label: admin.email }, other.id, 'Called back on the HR number.'));
    const notice = await mailTo(other.email, /will be reset/);
    const cancel = new UserAgent();
    const cancelForms = await formsOf(cancel, [`/account/recovery/cancel?token=${/cancel\?token=([\w.-]+)/.exec(notice.text)![1]!}`]);
    await fuzz('recovery-cancel', cancel, cancelForms);
  });

  it('account center: password, PIN, phones, trusted IPs, devices, sessions, authenticator app, organisation webhooks', async () => {
    const agent = new UserAgent();
    await signIn(agent, (await rp.authorize()).url, user);
    const forms = await formsOf(agent, ['/account/security', '/account/security/password', '/account/security/pin', '/account/security/phones',
      '/account/security/ips', '/account/security/devices', '/account/security/sessions', '/account/security/totp',
      '/account/security/organisation/webhooks/new', `/account/security/organisation/webhooks/${orgHook}`,
      `/account/security/organisation/webhooks/${orgHook}/rotate`, `/account/security/organisation/webhooks/${orgHook}/delete`]);
    await fuzz('account', agent, forms);
  });

  it('admin console: clients, users, devices, organisations, webhooks', async () => {
    const agent = new UserAgent();
    let page = await agent.visit(`${t.issuer}/admin`);
    page = await agent.submit(page, /\/login$/, { email: admin.email, password: admin.password });
    offset += 30_000; // the next step's code
    page = await agent.submit(page, /\/factor$/, { code: await generate({ secret: admin.secret, epoch: Math.floor(now().getTime() / 30_000) * 30 }) });
    assert.equal(page.status, 200, text(page.body).slice(0, 300));
    const organisations = await t.services.organisations.list();
    const devices = await t.services.devices.listFor(user.id);
    // an open assisted recovery request: its page has the approve and reject forms
    const asking = await createUser(t);
    assert.ok((await t.services.assistedRecovery.request((await t.services.accounts.findById(asking.id))!, { ip: '203.0.113.9', browser: 'Firefox', os: 'Linux' }, 'lost my phone')).ok);
    const forms = await formsOf(agent, ['/admin', '/admin/clients', '/admin/clients/new', `/admin/clients/${rp.clientId}`, `/admin/clients/${rp.clientId}/rotate`,
      `/admin/clients/${rp.clientId}/delete`, '/admin/users', '/admin/users/new', `/admin/users/${user.id}`, '/admin/organisations',
      `/admin/organisations/${organisations[0]!.id}`, '/admin/recoveries', `/admin/recoveries/${asking.id}`,
      '/admin/webhooks/new', `/admin/webhooks/${hook}`, `/admin/webhooks/${hook}/rotate`, `/admin/webhooks/${hook}/delete`, ...(devices[0] ? [`/admin/devices/${devices[0].id}/remove`] : [])]);
    await fuzz('admin', agent, forms);
  });
});
