// Every OIDC Core §5.1 profile claim (issue 25, Conformance): middle_name, nickname, profile,
// website, gender and birthdate join the others. An admin sets them through the JSON API, the
// command line and the console, the person on the security center's profile page; a real relying
// party (openid-client) receives them through the profile scope at userinfo, and in the ID token
// when it asks with the claims parameter; a claim the account lacks is absent. Wrong values are
// refused, by field, and change nothing.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import * as oidc from 'openid-client';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { tesseraCli } from '../support/cli.ts';
import { RelyingParty, UserAgent, createUser, formOn, signIn, type Page, type TestUser } from '../support/flow.ts';
import { consoleAgent, createAdmin } from '../support/console.ts';
import { COMMAND_LINE } from '../../src/admin/types.ts';

const NEW_CLAIMS = ['middle_name', 'nickname', 'profile', 'website', 'gender', 'birthdate'];
const FULL = {
  givenName: 'Ada', middleName: 'Augusta', familyName: 'Lovelace', nickname: 'Ada', preferredUsername: 'ada',
  profileUrl: 'https://people.example.com/ada', website: 'http://ada.example.org/', gender: 'female', birthdate: '1815-12-10',
  picture: 'https://pictures.example.com/ada.png', zoneinfo: 'Europe/London', locale: 'en-GB',
};

describe('every standard profile claim (OIDC Core §5.1)', function () {
  this.timeout(120_000);
  let t: Tessera;
  let rp: RelyingParty;
  let dataDir: string;
  const failures: unknown[] = [];

  before(async () => {
    t = await startTessera({ log: (err) => { failures.push(err); console.error('    [tessera 500]', err); } });
    rp = await RelyingParty.register(t, { skipConsent: true });
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'tessera-cli-'));
  });
  after(async () => {
    await t?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  afterEach(() => assert.deepEqual(failures.splice(0), [], 'never a 500'));

  async function tokensFor(user: TestUser, params: Record<string, string>) {
    const auth = await rp.authorize(params);
    return rp.tokens(await signIn(new UserAgent(), auth.url, user), auth);
  }

  it('advertises every profile claim in discovery', () => {
    const supported = rp.config.serverMetadata().claims_supported ?? [];
    for (const claim of ['name', 'family_name', 'given_name', 'middle_name', 'nickname', 'preferred_username', 'profile', 'picture', 'website', 'gender', 'birthdate', 'zoneinfo', 'locale', 'updated_at']) {
      assert.ok(supported.includes(claim), claim);
    }
  });

  it('releases them through the profile scope at userinfo, and in the ID token when the claims parameter asks', async () => {
    const user = await createUser(t, { name: 'Ada Lovelace' });
    await t.services.admin.users.update(COMMAND_LINE, user.id, { profile: FULL });
    const tokens = await tokensFor(user, { scope: 'openid profile' });
    const info = await oidc.fetchUserInfo(rp.config, tokens.access_token, user.id);
    assert.deepEqual(
      { middle_name: info.middle_name, nickname: info.nickname, profile: info.profile, website: info.website, gender: info.gender, birthdate: info.birthdate },
      { middle_name: 'Augusta', nickname: 'Ada', profile: 'https://people.example.com/ada', website: 'http://ada.example.org/', gender: 'female', birthdate: '1815-12-10' },
    );
    assert.equal(info.given_name, 'Ada');
    assert.equal(tokens.claims()!.birthdate, undefined, 'the ID token carries no profile claims unless asked for');

    const asked = await tokensFor(user, { scope: 'openid', claims: JSON.stringify({ id_token: { birthdate: null, website: null, middle_name: { essential: true } } }) });
    const id = asked.claims()!;
    assert.deepEqual([id.birthdate, id.website, id.middle_name], ['1815-12-10', 'http://ada.example.org/', 'Augusta']);
    assert.equal(id.nickname, undefined, 'only what was asked for');
    const bare = await oidc.fetchUserInfo(rp.config, asked.access_token, user.id);
    for (const claim of NEW_CLAIMS) assert.equal(bare[claim], undefined, `${claim} not released without the profile scope`);
  });

  it('leaves out a claim the account does not hold (nothing empty, nothing null)', async () => {
    const user = await createUser(t, { name: 'Plain Person' });
    const info = await oidc.fetchUserInfo(rp.config, (await tokensFor(user, { scope: 'openid profile' })).access_token, user.id);
    assert.deepEqual(Object.keys(info).sort(), ['name', 'sub', 'updated_at']);
  });

  it('keeps a birthdate without the year (0000-MM-DD) and a year alone, and refuses a day that does not exist', async () => {
    const user = await createUser(t);
    for (const birthdate of ['0000-02-29', '1990']) {
      await t.services.admin.users.update(COMMAND_LINE, user.id, { profile: { birthdate } });
      const info = await oidc.fetchUserInfo(rp.config, (await tokensFor(user, { scope: 'openid profile' })).access_token, user.id);
      assert.equal(info.birthdate, birthdate);
    }
    await assert.rejects(t.services.admin.users.update(COMMAND_LINE, user.id, { profile: { birthdate: '1990-02-29' } }), /not a real date/);
    assert.equal((await t.services.accounts.findById(user.id))!.profile.birthdate, '1990', 'unchanged');
  });

  describe('the admin JSON API (PATCH /users/{userId})', () => {
    let token: string;
    before(async () => {
      const created = await t.services.clients.create({ clientId: 'claims-bot', redirectUris: [], grants: ['client_credentials'] });
      await t.services.clients.grantAdminApi('claims-bot');
      token = (await request(t.issuer).post('/token').auth('claims-bot', created.clientSecret!).type('form').send({ grant_type: 'client_credentials', scope: 'admin' })).body.access_token;
    });
    const patch = (userId: string, body: object) => request(t.issuer).patch(`/admin/api/v1/users/${userId}`).set('Authorization', `Bearer ${token}`).send(body);

    it('sets the claims (an empty string clears one), answers with them, and audits who did it', async () => {
      const user = await createUser(t);
      const res = await patch(user.id, { name: 'Ada Lovelace', profile: { ...FULL, address: { locality: 'London' } } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.user.name, 'Ada Lovelace');
      assert.deepEqual(res.body.user.profile, { ...FULL, address: { locality: 'London' } });
      const cleared = await patch(user.id, { profile: { gender: '', website: '' } });
      assert.equal(cleared.status, 200);
      assert.equal(cleared.body.user.profile.gender, undefined);
      assert.equal(cleared.body.user.profile.website, undefined);
      assert.equal(cleared.body.user.profile.birthdate, '1815-12-10', 'fields left out stay');
      await t.services.audit.flush();
      const [event] = (await t.services.audit.query({ type: 'admin.user.updated', accountId: user.id })).events;
      assert.deepEqual([event?.actor.type, event?.actor.id], ['client', 'claims-bot']);
    });

    it('refuses wrong values naming the field, and changes nothing', async () => {
      const user = await createUser(t);
      await t.services.admin.users.update(COMMAND_LINE, user.id, { profile: { website: 'https://kept.example/' } });
      for (const [profile, field] of [
        [{ website: 'javascript:alert(1)' }, 'profile.website'], [{ profileUrl: 'ftp://x.example/me' }, 'profile.profileUrl'],
        [{ birthdate: '2001-02-29' }, 'profile.birthdate'], [{ birthdate: '10.12.1815' }, 'profile.birthdate'], [{ gender: 'x'.repeat(51) }, 'profile.gender'],
        [{ middleName: 'a\u0000b' }, 'profile.middleName'], [{ nickname: 'n'.repeat(101) }, 'profile.nickname'],
      ] as const) {
        // a good value beside the wrong one: it is not saved either
        const res = await patch(user.id, { profile: { ...('website' in profile ? {} : { website: 'https://changed.example/' }), ...profile } });
        assert.equal(res.status, 400, JSON.stringify(res.body));
        assert.ok(res.body.details.some((d: { path: string }) => d.path === field), `${field}: ${JSON.stringify(res.body.details)}`);
      }
      assert.equal((await t.services.accounts.findById(user.id))!.profile.website, 'https://kept.example/');
    });
  });

  it('the command line sets and clears them (user update)', async () => {
    const user = await createUser(t);
    const set = await tesseraCli(t, dataDir, 'user', 'update', '--email', user.email, '--middle-name', 'Augusta', '--nickname', 'Ada', '--profile-url', 'https://people.example.com/ada',
      '--website', 'https://ada.example.org/', '--gender', 'female', '--birthdate', '0000-12-10', '--json');
    assert.equal(set.code, 0, set.stderr);
    assert.deepEqual(JSON.parse(set.stdout).profile, { middleName: 'Augusta', nickname: 'Ada', profileUrl: 'https://people.example.com/ada', website: 'https://ada.example.org/', gender: 'female', birthdate: '0000-12-10' });
    const refused = await tesseraCli(t, dataDir, 'user', 'update', '--email', user.email, '--birthdate', '1815-13-10', '--website', 'javascript:alert(1)');
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /birthdate "1815-13-10" is not a real date/);
    assert.match(refused.stderr, /website must be an http or https URL/);
    const cleared = await tesseraCli(t, dataDir, 'user', 'update', '--email', user.email, '--gender', '', '--json');
    assert.equal(cleared.code, 0, cleared.stderr);
    assert.equal(JSON.parse(cleared.stdout).profile.gender, undefined);
    assert.equal(JSON.parse(cleared.stdout).profile.birthdate, '0000-12-10');
  });

  describe('the admin console (the account page\'s profile form)', () => {
    let agent: UserAgent;
    before(async () => {
      agent = await consoleAgent(t, await createAdmin(t, { name: 'Grace Admin' }));
    });
    const profileForm = (page: Page) => formOn(page, /\/profile#profile$/);

    it('shows every claim with its name, saves them, and the relying party receives them', async () => {
      const user = await createUser(t, { name: 'Ada Lovelace' });
      const page = await agent.visit(`${t.issuer}/admin/users/${user.id}`);
      for (const claim of ['given_name', 'middle_name', 'nickname', 'profile', 'website', 'gender', 'birthdate', 'address.locality']) assert.match(page.body, new RegExp(`<code>${claim}</code>`), claim);
      const form = profileForm(page);
      const saved = await agent.submit(page, /\/profile#profile$/, { ...form.fields, name: 'Ada Lovelace', ...FULL, 'address-locality': 'London' }, `${t.issuer}/admin/users/${user.id}?done=profile-saved`);
      assert.match(saved.url, /done=profile-saved/);
      const account = (await t.services.accounts.findById(user.id))!;
      assert.deepEqual({ ...account.profile }, { ...FULL, address: { locality: 'London' } });
      const info = await oidc.fetchUserInfo(rp.config, (await tokensFor(user, { scope: 'openid profile' })).access_token, user.id);
      assert.equal(info.nickname, 'Ada');
      await t.services.audit.flush();
      assert.equal((await t.services.audit.query({ type: 'admin.user.updated', accountId: user.id })).events[0]?.actor.type, 'admin');
    });

    it('shows each wrong value beside its field and saves nothing', async () => {
      const user = await createUser(t, { name: 'Ada Lovelace' });
      const page = await agent.visit(`${t.issuer}/admin/users/${user.id}`);
      const res = await agent.request(profileForm(page).action, { form: { ...profileForm(page).fields, name: 'Someone Else', birthdate: '1815-02-30', website: 'javascript:alert(1)', nickname: 'Ada' } });
      assert.equal(res.status, 400);
      assert.match(res.body, /Nothing was saved: correct the fields marked below\./);
      assert.match(res.body, /id="birthdate"[^>]*aria-describedby="birthdate-hint birthdate-error" aria-invalid="true">[\s\S]*?<p class="error" id="birthdate-error">Birthdate &#34;1815-02-30&#34; is not a real date\.<\/p>/);
      assert.match(res.body, /<p class="error" id="website-error">Website must be an http or https URL\.<\/p>/);
      assert.match(res.body, /value="Someone Else"/, 'what was typed is kept');
      const account = (await t.services.accounts.findById(user.id))!;
      assert.equal(account.name, 'Ada Lovelace');
      assert.equal(account.profile.nickname, undefined);
    });
  });

  describe('the person\'s own profile page', () => {
    async function signedIn(user: TestUser) {
      const agent = new UserAgent();
      const login = await agent.visit(`${t.issuer}/account/security`);
      await agent.visit((await agent.submit(login, /\/login$/, { email: user.email, password: user.password }, `${t.issuer}/account/`)).url);
      return { agent, page: await agent.visit(`${t.issuer}/account/security/profile`) };
    }

    it('saves the new claims and refuses wrong ones beside their fields, in the page\'s language', async () => {
      const user = await createUser(t, { name: 'Ada Lovelace' });
      const { agent, page } = await signedIn(user);
      for (const field of ['middleName', 'nickname', 'profileUrl', 'website', 'gender', 'birthdate']) assert.match(page.body, new RegExp(`<input id="${field}" name="${field}"`), field);
      const form = formOn(page, /\/account\/security\/profile$/);
      const saved = await agent.request(form.action, { form: { ...form.fields, name: 'Ada Lovelace', middleName: 'Augusta', nickname: 'Ada', profileUrl: 'https://people.example.com/ada', website: 'https://ada.example.org/', gender: 'female', birthdate: '1815-12-10' } });
      assert.equal(saved.status, 200);
      assert.match(saved.body, /Your profile was saved/);
      assert.match(saved.body, /id="birthdate" name="birthdate" type="text" value="1815-12-10"/);
      const account = (await t.services.accounts.findById(user.id))!;
      assert.deepEqual([account.profile.middleName, account.profile.gender, account.profile.profileUrl], ['Augusta', 'female', 'https://people.example.com/ada']);

      await t.services.accounts.updateProfile(user.email, { locale: 'de-DE' });
      const german = await agent.visit(`${t.issuer}/account/security/profile`);
      const refused = await agent.request(form.action, { form: { ...formOn(german, /\/account\/security\/profile$/).fields, name: 'Ada Lovelace', website: 'ftp://ada.example.org/', birthdate: '1815-02-30' } });
      assert.equal(refused.status, 400);
      assert.match(refused.body, /<p class="error" id="website-error">Die Website muss eine Webadresse sein, die mit https:\/\/ oder http:\/\/ beginnt\.<\/p>/);
      assert.match(refused.body, /<p class="error" id="birthdate-error">Das Geburtsdatum „1815-02-30“ ist kein echtes Datum: Prüfen Sie Monat und Tag\.<\/p>/);
      assert.equal((await t.services.accounts.findById(user.id))!.profile.website, 'https://ada.example.org/', 'nothing saved');
    });
  });
});
