// The profile page of the security center (issue 20): the name and the standard claims, each
// error beside its field, nothing saved while one is wrong, recent authentication as for every change.
import assert from 'node:assert/strict';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { createUser, formOn, UserAgent, type Page, type TestUser } from '../support/flow.ts';

describe('the profile page', function () {
  this.timeout(60_000);
  let t: Tessera;
  let offset = 0;
  before(async () => { t = await startTessera({ clock: () => new Date(Date.now() + offset) }); });
  after(() => t.close());

  async function signedIn(user: TestUser): Promise<{ agent: UserAgent; page: Page }> {
    const agent = new UserAgent();
    const login = await agent.visit(`${t.issuer}/account/security`);
    await agent.visit((await agent.submit(login, /\/login$/, { email: user.email, password: user.password }, `${t.issuer}/account/`)).url);
    return { agent, page: await agent.visit(`${t.issuer}/account/security/profile`) };
  }
  const post = (agent: UserAgent, page: Page, fields: Record<string, string>) => {
    const form = formOn(page, /\/account\/security\/profile$/);
    return agent.request(form.action, { form: { ...form.fields, name: 'Test User', givenName: '', familyName: '', preferredUsername: '', locale: '', zoneinfo: '', ...fields } });
  };

  it('refuses wrong values beside their fields and saves nothing', async () => {
    const user = await createUser(t);
    const { agent, page } = await signedIn(user);
    assert.equal(page.status, 200);
    const refused = await post(agent, page, { name: 'Ada Lovelace', locale: 'not a locale!', zoneinfo: 'Mars/Olympus' });
    assert.equal(refused.status, 400);
    assert.match(refused.body, /Nothing was saved: correct the fields marked below\./);
    assert.match(refused.body, /id="locale"[^>]*aria-invalid="true" aria-describedby="locale-error">\s*<p class="error" id="locale-error">Language &#34;not a locale!&#34; is not a language tag such as en-GB\.<\/p>/);
    assert.match(refused.body, /id="zoneinfo"[^>]*aria-invalid="true" aria-describedby="zoneinfo-error">\s*<p class="error" id="zoneinfo-error">Time zone &#34;Mars\/Olympus&#34; is not a time zone such as Europe\/Paris\.<\/p>/);
    assert.match(refused.body, /value="Ada Lovelace"/, 'what was typed is kept');
    assert.equal((await t.services.accounts.findById(user.id))!.name, 'Test User', 'nothing saved');
  });

  it('saves the name and the claims (an empty field clears it), shows them on the overview, and audits the change', async () => {
    const user = await createUser(t);
    const { agent, page } = await signedIn(user);
    const saved = await post(agent, page, { name: 'Ada Lovelace', givenName: 'Ada', familyName: 'Lovelace', locale: 'en-GB', zoneinfo: 'Europe/London' });
    assert.equal(saved.status, 200);
    assert.match(saved.body, /Your profile was saved/);
    const account = (await t.services.accounts.findById(user.id))!;
    assert.equal(account.name, 'Ada Lovelace');
    assert.deepEqual({ g: account.profile.givenName, f: account.profile.familyName, l: account.profile.locale, z: account.profile.zoneinfo }, { g: 'Ada', f: 'Lovelace', l: 'en-GB', z: 'Europe/London' });
    assert.match((await agent.visit(`${t.issuer}/account/security`)).body, /Ada Lovelace · Europe\/London/);
    // the pages' times are now in that zone
    assert.match((await agent.visit(`${t.issuer}/account/security/history`)).body, /<time>\d{1,2} [A-Z][a-z]+ \d{4}, \d\d:\d\d (GMT|BST)<\/time>/);
    assert.match((await agent.visit(`${t.issuer}/account/security/sessions`)).body, /\d{1,2} [A-Z][a-z]+ \d{4}, \d\d:\d\d (GMT|BST)/);
    assert.match((await agent.visit(`${t.issuer}/account/security/devices`)).body, /<dt>Last used<\/dt><dd>\d{1,2} [A-Z][a-z]+ \d{4}, \d\d:\d\d (GMT|BST)<\/dd>/);
    const cleared = await post(agent, await agent.visit(`${t.issuer}/account/security/profile`), { name: 'Ada Lovelace', givenName: 'Ada' });
    assert.equal(cleared.status, 200);
    assert.equal((await t.services.accounts.findById(user.id))!.profile.zoneinfo, undefined, 'an empty field clears it');
    await t.services.audit.flush();
    assert.equal((await t.services.audit.query({ accountId: user.id, type: 'account.profile_changed' })).events.length, 2);
  });

  it('asks for the current password once the re-authentication window is over', async () => {
    const user = await createUser(t);
    const { agent, page } = await signedIn(user);
    offset += (t.config.account.reauthMinutes + 1) * 60_000;
    const fresh = await agent.visit(`${t.issuer}/account/security/profile`);
    const refused = await post(agent, fresh, { name: 'Someone Else' });
    assert.equal(refused.status, 400);
    assert.match(refused.body, /id="profile-password-error">Your current password is not right, or is needed/);
    assert.equal((await t.services.accounts.findById(user.id))!.name, 'Test User');
    assert.equal((await post(agent, page, { name: 'Someone Else', password: user.password })).status, 200);
    assert.equal((await t.services.accounts.findById(user.id))!.name, 'Someone Else');
  });
});
