// Branding per application (issue 24): an application's name, logo, colour and policy/terms/support
// links on its sign-in and consent pages (published as its standard metadata), the installation's
// branding everywhere else; a colour that fails WCAG AA with white and a logo that is too large,
// not an image or an SVG are refused (console and API) with nothing saved; an uploaded logo is
// served by Tessera with its strict type, nosniff and a year's cache under its content hash.
import assert from 'node:assert/strict';
import { generate } from 'otplib';
import request from 'supertest';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, UserAgent, createUser, formOn, type Page, type TestUser } from '../support/flow.ts';
import { brandColourProblem, contrastRatio, shadeForDark, DARK_SURFACE } from '../../src/policy/brand-colour.ts';

/** A 1×1 PNG. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');
const SVG = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>');
const BIG_PNG = Buffer.concat([PNG, Buffer.alloc(101 * 1024)]);

const BRANDED = {
  name: 'Acme Shop', brandColor: '#0b5d1e', policyUri: 'https://acme.example/privacy', tosUri: 'https://acme.example/terms',
  supportUri: 'https://acme.example/help', logoUri: 'https://cdn.acme.example/logo.png',
};

describe('branding per application', () => {
  let t: Tessera;
  let offset = 0;
  const now = () => new Date(Date.now() + offset);
  const failures: unknown[] = [];
  const url = (path: string) => `${t.issuer}${path}`;

  before(async () => {
    t = await startTessera({ clock: now, log: (err) => { failures.push(err); console.error('    [tessera 500]', err); } });
  });
  after(() => t?.close());
  afterEach(() => assert.deepEqual(failures.splice(0), [], 'never a 500'));

  /** The sign-in page of a new authorization for `rp`. */
  const signInPage = async (rp: RelyingParty, agent = new UserAgent()) => ({ agent, page: await agent.visit((await rp.authorize()).url) });

  describe('the contrast rule (pure)', () => {
    it('takes a colour only when white text on it reaches 4.5:1, and gives the dark theme a lighter shade that reads', () => {
      assert.equal(brandColourProblem('#3b5bdb'), undefined, "today's colour");
      assert.equal(brandColourProblem('#0b5d1e'), undefined);
      assert.deepEqual(brandColourProblem('#ffcc00'), { kind: 'contrast', ratio: '1.51' });
      assert.equal(brandColourProblem('#777777')?.kind, 'contrast', '4.48:1 is not 4.5:1');
      assert.equal(brandColourProblem('#767676'), undefined, '4.54:1');
      for (const bad of ['red', '#fff', '#12345g', '3b5bdb', '#3b5bdb ']) assert.equal(brandColourProblem(bad)?.kind, 'format', bad);
      for (const c of ['#3b5bdb', '#000000', '#0b5d1e', '#7a1fa2']) assert.ok(contrastRatio(shadeForDark(c), DARK_SURFACE) >= 4.5, c);
    });
  });

  describe('the pages shown for an application', () => {
    it("show a branded client's name, logo, colour stylesheet and its privacy, terms and support links on sign-in and consent", async () => {
      const rp = await RelyingParty.register(t, BRANDED);
      const user = await createUser(t);
      const { agent, page } = await signInPage(rp);
      for (const p of [page]) {
        assert.match(p.body, /<p class="brand"><img class="brand-logo" src="https:\/\/cdn.acme.example\/logo.png" alt="" height="40"> Acme Shop<\/p>/);
        assert.match(p.body, /<link rel="stylesheet" href="\/branding\/colour\/0b5d1e.css">/);
        assert.match(p.body, /<title>[^<]* · Acme Shop<\/title>/);
        assert.match(p.body, /<a href="https:\/\/acme.example\/privacy" rel="noopener noreferrer">Privacy policy<\/a>/);
        assert.match(p.body, /<a href="https:\/\/acme.example\/terms" rel="noopener noreferrer">Terms of use<\/a>/);
        assert.match(p.body, /<a href="https:\/\/acme.example\/help" rel="noopener noreferrer">Help and support<\/a>/);
      }
      const consent = await agent.submit(page, /\/login$/, { email: user.email, password: user.password });
      assert.match(consent.body, /action="[^"]*\/confirm"/, 'the consent page');
      assert.match(consent.body, /Acme Shop<\/p>/);
      assert.match(consent.body, /href="\/branding\/colour\/0b5d1e.css"/);
      assert.match(consent.body, /href="https:\/\/acme.example\/privacy"/);
      assert.match(consent.body, /href="https:\/\/acme.example\/terms"/);

      const css = await request(t.issuer).get('/branding/colour/0b5d1e.css');
      assert.equal(css.status, 200);
      assert.match(css.headers['content-type']!, /^text\/css/);
      assert.match(css.text, /^:root \{ --brand: #0b5d1e; --brand-on-dark: #[0-9a-f]{6}; \}$/m);
      assert.match(css.headers['cache-control']!, /max-age=31536000/);
      // only a colour that could have been saved becomes a stylesheet
      for (const bad of ['ffcc00.css', 'zzzzzz.css', '0b5d1e.js']) assert.equal((await request(t.issuer).get(`/branding/colour/${bad}`)).status, 404, bad);
    });

    it('translate the links with the page (Polish, German)', async () => {
      const rp = await RelyingParty.register(t, BRANDED);
      const pl = await new UserAgent().visit((await rp.authorize({ ui_locales: 'pl' })).url);
      assert.match(pl.body, />Polityka prywatności</);
      const de = await new UserAgent({ 'accept-language': 'de' }).visit((await rp.authorize()).url);
      assert.match(de.body, />Datenschutzerklärung</);
    });

    it("publish the links and logo as the client's standard metadata (policy_uri, tos_uri, logo_uri)", async () => {
      const rp = await RelyingParty.register(t, BRANDED);
      const client = await t.services.provider.Client.find(rp.clientId);
      const metadata = client!.metadata();
      assert.equal(metadata.policy_uri, BRANDED.policyUri);
      assert.equal(metadata.tos_uri, BRANDED.tosUri);
      assert.equal(metadata.logo_uri, BRANDED.logoUri);
      assert.equal(metadata.client_name, 'Acme Shop');
    });

    it("show an unbranded client the installation's branding (and Tessera's own pages too)", async () => {
      const rp = await RelyingParty.register(t);
      const { page } = await signInPage(rp);
      assert.match(page.body, /<p class="brand">Tessera<\/p>/);
      assert.doesNotMatch(page.body, /\/branding\/colour\//);
      assert.doesNotMatch(page.body, /class="brand-links"/);
      assert.match(page.body, /<title>[^<]* · Tessera<\/title>/);
    });

    it("use the installation's settings (BRAND_NAME, BRAND_LOGO_URL, BRAND_COLOR) where the application sets nothing", async () => {
      const other = await startTessera({ env: { BRAND_NAME: 'Contoso ID', BRAND_LOGO_URL: 'https://contoso.example/logo.png', BRAND_COLOR: '#7a1fa2' } });
      try {
        const rp = await RelyingParty.register(other);
        const page = await new UserAgent().visit((await rp.authorize()).url);
        assert.match(page.body, /<p class="brand"><img class="brand-logo" src="https:\/\/contoso.example\/logo.png" alt="" height="40"> Contoso ID<\/p>/);
        assert.match(page.body, /href="\/branding\/colour\/7a1fa2.css"/);
        const own = await new UserAgent().visit(`${other.issuer}/nothing-here`);
        assert.match(own.body, /<title>Page not found · Contoso ID<\/title>/);
        assert.match(own.body, /Contoso ID<\/p>/);
        // an application with its own name and colour: its own, and no installation logo beside its name
        const named = await RelyingParty.register(other, { name: 'Acme Shop', brandColor: '#0b5d1e' });
        const namedPage = await new UserAgent().visit((await named.authorize()).url);
        assert.match(namedPage.body, /<p class="brand">Acme Shop<\/p>/);
        assert.match(namedPage.body, /href="\/branding\/colour\/0b5d1e.css"/);
      } finally {
        await other.close();
      }
      await assert.rejects(startTessera({ env: { BRAND_COLOR: '#ffcc00' } }), /brand/i, 'a low-contrast installation colour stops the start');
    });
  });

  describe('the admin API', () => {
    let bot: string;
    const PREFIX = '/admin/api/v1';
    before(async () => {
      const created = await t.services.clients.create({ clientId: 'brand-bot', redirectUris: [], grants: ['client_credentials'] });
      await t.services.clients.grantAdminApi('brand-bot');
      const token = await request(t.issuer).post('/token').auth('brand-bot', created.clientSecret!).type('form').send({ grant_type: 'client_credentials', scope: 'admin' });
      bot = token.body.access_token;
    });
    const api = (method: 'get' | 'post' | 'patch' | 'put', path: string, body?: object) => {
      const req = request(t.issuer)[method](PREFIX + path).set('Authorization', `Bearer ${bot}`);
      return body ? req.send(body) : req;
    };

    it('sets and clears the branding fields, and refuses a low-contrast colour with a sentence that says what to do (nothing saved)', async () => {
      const made = await api('post', '/clients', { clientId: 'api-branded', redirectUris: ['https://rp.example/cb'], ...BRANDED });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      assert.equal(made.body.client.brandColor, '#0b5d1e');
      assert.equal(made.body.client.policyUri, BRANDED.policyUri);
      const low = await api('patch', '/clients/api-branded', { brandColor: '#ffcc00' });
      assert.equal(low.status, 400);
      assert.equal(low.body.details[0].path, 'brandColor');
      assert.match(low.body.details[0].message, /contrast of only 1\.51:1 with white.*4\.5:1 \(WCAG AA\): choose a darker colour/);
      const refusedCreate = await api('post', '/clients', { clientId: 'api-pale', redirectUris: ['https://rp.example/cb'], brandColor: '#ffcc00' });
      assert.equal(refusedCreate.status, 400);
      assert.equal((await api('get', '/clients/api-pale')).status, 404, 'nothing made');
      assert.equal((await api('get', '/clients/api-branded')).body.client.brandColor, '#0b5d1e', 'nothing changed');
      const http = await api('patch', '/clients/api-branded', { policyUri: 'http://acme.example/privacy' });
      assert.equal(http.status, 400);
      assert.equal(http.body.details[0].path, 'policyUri');
      const cleared = await api('patch', '/clients/api-branded', { brandColor: null, supportUri: null });
      assert.equal(cleared.status, 200);
      assert.equal(cleared.body.client.brandColor, undefined);
      assert.equal(cleared.body.client.supportUri, undefined);
      assert.equal(cleared.body.client.tosUri, BRANDED.tosUri);
    });

    it('stores an uploaded logo and serves it with its strict type, nosniff and a year-long cache under its content hash', async () => {
      await api('post', '/clients', { clientId: 'api-logo', redirectUris: ['https://rp.example/cb'] });
      const up = await api('put', '/clients/api-logo/logo', { image: PNG.toString('base64') });
      assert.equal(up.status, 200, JSON.stringify(up.body));
      const logoUri = up.body.client.logoUri as string;
      assert.match(logoUri, new RegExp(`^${t.issuer}/branding/logos/[0-9a-f]{64}\\.png$`));
      const img = await request(t.issuer).get(new URL(logoUri).pathname).buffer(true);
      assert.equal(img.status, 200);
      assert.equal(img.headers['content-type'], 'image/png');
      assert.equal(img.headers['x-content-type-options'], 'nosniff');
      assert.match(img.headers['cache-control']!, /max-age=31536000, immutable/);
      assert.ok(Buffer.compare(img.body as Buffer, PNG) === 0);
      // the wrong extension for the content, or an unknown hash: not found
      assert.equal((await request(t.issuer).get(new URL(logoUri).pathname.replace('.png', '.jpg'))).status, 404);
      const { page } = await signInPage(await RelyingParty.register(t, { logoUri }));
      assert.match(page.body, new RegExp(`<img class="brand-logo" src="${logoUri}"`));
    });

    it('refuses a logo that is too large, not an image, or an SVG (nothing saved)', async () => {
      await api('post', '/clients', { clientId: 'api-bad-logo', redirectUris: ['https://rp.example/cb'] });
      const before = await t.services.db.connection.db!.collection('brand_logos').countDocuments();
      for (const [what, bytes, message] of [
        ['too large', BIG_PNG, /the limit is 100 KB/],
        ['not an image', Buffer.from('hello, I am text'), /not a PNG, JPEG or WebP image/],
        ['an SVG', SVG, /SVG logos are not accepted/],
      ] as const) {
        const res = await api('put', '/clients/api-bad-logo/logo', { image: bytes.toString('base64') });
        assert.equal(res.status, 400, what);
        assert.match(res.body.error_description, message, what);
      }
      assert.equal((await api('get', '/clients/api-bad-logo')).body.client.logoUri, undefined);
      assert.equal(await t.services.db.connection.db!.collection('brand_logos').countDocuments(), before, 'no image stored');
      const notBase64 = await api('put', '/clients/api-bad-logo/logo', { image: 'not base64!' });
      assert.equal(notBase64.status, 400);
    });
  });

  describe('the console', () => {
    async function makeAdmin(): Promise<TestUser & { secret: string }> {
      const user = await createUser(t, { name: 'Brand Admin' });
      await t.services.accounts.setRole(user.id, 'admin');
      const { secret } = await t.services.totp.begin(user.id, user.email);
      assert.ok(await t.services.totp.confirm(user.id, await generate({ secret, epoch: Math.floor(now().getTime() / 30_000) * 30 })));
      return { ...user, secret };
    }
    async function signInToConsole(agent: UserAgent, admin: TestUser & { secret: string }): Promise<void> {
      let page = await agent.visit(url('/admin'));
      page = await agent.submit(page, /\/login$/, { email: admin.email, password: admin.password });
      offset += 30_000; // the next step's code (each code is accepted once)
      page = await agent.submit(page, /\/factor$/, { code: await generate({ secret: admin.secret, epoch: Math.floor(now().getTime() / 30_000) * 30 }) });
      assert.equal(page.status, 200, page.body.slice(0, 300));
    }
    /** Posts the client page's logo form as multipart/form-data with this file. */
    async function upload(agent: UserAgent, page: Page, file: Buffer, name: string, type: string): Promise<Page> {
      const form = formOn(page, /\/logo$/);
      const body = new FormData();
      body.set('_csrf', form.fields._csrf!);
      body.set('logo', new Blob([file], { type }), name);
      const res = await fetch(form.action, { method: 'POST', body, redirect: 'manual', headers: { cookie: await agent.jar.getCookieString(form.action), accept: 'text/html' } });
      return { url: form.action, status: res.status, headers: res.headers, body: await res.text() };
    }

    it('saves the branding fields, refuses a low-contrast colour beside the form (nothing saved), and takes a logo upload', async () => {
      const agent = new UserAgent();
      await signInToConsole(agent, await makeAdmin());
      await t.services.clients.create({ clientId: 'console-branded', redirectUris: ['https://rp.example/cb'] });
      let page = await agent.visit(url('/admin/clients/console-branded'));
      assert.match(page.body, /name="brandColor"/);
      const fields = { redirectUris: 'https://rp.example/cb', pkce: 'required', authMethod: 'client_secret_basic', name: 'Console Shop' };
      const low = await agent.submit(page, /\/admin\/clients\/console-branded$/, { ...fields, brandColor: '#ffcc00', policyUri: BRANDED.policyUri });
      assert.equal(low.status, 400);
      assert.match(low.body, /contrast of only 1\.51:1 with white.*choose a darker colour\. Nothing was saved\./);
      assert.match(low.body, /value="#ffcc00"/, 'the typed value is shown again');
      let stored = await t.services.clients.find('console-branded');
      assert.equal(stored?.brandColor, undefined);
      assert.equal(stored?.policyUri, undefined, 'nothing saved');

      page = await agent.visit(url('/admin/clients/console-branded'));
      const saved = await agent.submit(page, /\/admin\/clients\/console-branded$/, { ...fields, ...BRANDED, name: 'Console Shop' }, url('/never'));
      assert.equal(saved.status, 200, saved.body.slice(0, 400));
      stored = await t.services.clients.find('console-branded');
      assert.equal(stored?.brandColor, '#0b5d1e');
      assert.equal(stored?.supportUri, BRANDED.supportUri);

      page = await agent.visit(url('/admin/clients/console-branded'));
      for (const [what, bytes, name, type, message] of [
        ['too large', BIG_PNG, 'big.png', 'image/png', /the limit is 100 KB/],
        ['not an image', Buffer.from('plain text'), 'logo.png', 'image/png', /not a PNG, JPEG or WebP image/],
        ['an SVG', SVG, 'logo.svg', 'image/svg+xml', /SVG logos are not accepted/],
      ] as const) {
        const res = await upload(agent, page, bytes, name, type);
        assert.equal(res.status, 400, `${what}: ${res.body.slice(0, 300)}`);
        assert.match(res.body, message, what);
        assert.match(res.body, /Nothing was saved/, what);
      }
      assert.equal((await t.services.clients.find('console-branded'))?.logoUri, BRANDED.logoUri, 'the logo is unchanged');
      const ok = await upload(agent, page, PNG, 'logo.png', 'image/png');
      assert.equal(ok.status, 302, ok.body.slice(0, 300));
      assert.match((await t.services.clients.find('console-branded'))?.logoUri ?? '', /\/branding\/logos\/[0-9a-f]{64}\.png$/);
    });
  });
});
