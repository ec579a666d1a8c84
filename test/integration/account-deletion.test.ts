// Deleting one's own account (issue 20, GDPR Art. 17): asked for in the security center with the
// password, it happens after the grace period (ACCOUNT_DELETION_GRACE_DAYS); signing in before
// then cancels it. After it, no collection holds the account's id or email, except audit entries
// that name it by a pseudonym; its sessions, grants and tokens are dead.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as oidc from 'openid-client';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { createUser, formOn, giveVerifiedPhone, RelyingParty, signInAndGetTokens, UserAgent, type TestUser } from '../support/flow.ts';

const DAY = 86_400_000;

describe('deleting one\'s own account', function () {
  this.timeout(120_000);
  let t: Tessera;
  let offset = 0;
  const now = () => new Date(Date.now() + offset);

  before(async () => { t = await startTessera({ clock: now }); });
  after(() => t.close());

  async function securityCenter(user: TestUser): Promise<UserAgent> {
    const agent = new UserAgent();
    const login = await agent.visit(`${t.issuer}/account/security`);
    await agent.visit((await agent.submit(login, /\/login$/, { email: user.email, password: user.password }, `${t.issuer}/account/`)).url);
    return agent;
  }

  async function askForDeletion(agent: UserAgent, password: string) {
    const page = await agent.visit(`${t.issuer}/account/security/delete`);
    assert.equal(page.status, 200);
    assert.match(page.body, /14 days/);
    return agent.submit(page, /\/account\/security\/delete$/, { password });
  }

  /** Every document of every collection that mentions `needle` (the audit log apart). */
  async function holders(needles: string[]): Promise<string[]> {
    const db = t.services.db.connection.db!;
    const found: string[] = [];
    for (const { name } of await db.listCollections().toArray()) {
      for (const doc of await db.collection(name).find().toArray()) {
        const text = JSON.stringify(doc).toLowerCase();
        if (needles.some((n) => text.includes(n.toLowerCase()))) found.push(`${name}: ${JSON.stringify(doc).slice(0, 160)}`);
      }
    }
    return found;
  }

  it('refuses without the right password, and changes nothing', async () => {
    const user = await createUser(t);
    const agent = await securityCenter(user);
    const refused = await askForDeletion(agent, 'Wrong#Password1');
    assert.equal(refused.status, 400);
    assert.match(refused.body, /Your current password is not right\. Nothing was changed\./);
    assert.equal((await t.services.accounts.findById(user.id))!.deletionScheduledFor, undefined);
  });

  it('a sign-in during the grace period cancels the deletion, and the sweep then deletes nothing', async () => {
    const user = await createUser(t);
    const agent = await securityCenter(user);
    const scheduled = await askForDeletion(agent, user.password);
    assert.match(scheduled.body, /will be deleted on/);
    assert.ok((await t.services.accounts.findById(user.id))!.deletionScheduledFor);
    assert.equal((await t.services.storage.sessionsOf(user.id)).length, 0, 'signed out everywhere');
    offset += 13 * DAY;
    const rp = await RelyingParty.register(t, { skipConsent: true });
    await signInAndGetTokens(rp, user);
    assert.equal((await t.services.accounts.findById(user.id))!.deletionScheduledFor, undefined, 'cancelled by the sign-in');
    offset += 2 * DAY;
    assert.deepEqual(await t.services.deletion.sweep(), []);
    assert.ok(await t.services.accounts.findById(user.id), 'the account stays');
    const cancelled = await t.services.audit.query({ accountId: user.id, type: 'account.deletion_cancelled' });
    assert.equal(cancelled.events.length, 1);
  });

  it('after the grace period: nothing holds the id or email but pseudonymised audit entries; sessions, grants and tokens are dead; the email is free again', async () => {
    const user = await createUser(t, { email: `leaving-${randomBytes(4).toString('hex')}@example.com` });
    // a life in Tessera: a phone, a trusted IP, an organisation, an application with a refresh token, history
    await giveVerifiedPhone(t, user);
    await t.services.trustedIps.add(user.id, '203.0.113.0/24', 'all');
    const org = await t.services.organisations.create(`Org ${randomBytes(3).toString('hex')}`);
    await t.services.organisations.setMember(org.id, user.id, true);
    await t.services.recovery.generate(user.id);
    const rp = await RelyingParty.register(t, { skipConsent: true, grants: ['refresh_token'] });
    const { tokens } = await signInAndGetTokens(rp, user, { scope: 'openid offline_access', prompt: 'consent' });
    assert.ok(tokens.refresh_token);
    // a history longer than a page, so a bucket holds some of it (the head holds only the newest page)
    await t.services.history.append(user.id, ...Array.from({ length: 25 }, (_, i) => ({ id: `earlier-${i}`, at: new Date(Date.now() - 3_600_000 + i * 1000), result: 'wrong_password' as const, factors: ['pwd'] })));

    const agent = await securityCenter(user);
    const before = new Set((await holders([user.id, user.email])).map((h) => h.split(':')[0]));
    for (const c of ['accounts', 'account_emails', 'account_phones', 'trusted_ips', 'organisations', 'recovery_codes', 'devices', 'sign_in_history', 'oidc_grant', 'oidc_session', 'audit_events']) assert.ok(before.has(c), `${c} held it before: ${[...before].join(', ')}`);
    await askForDeletion(agent, user.password);
    offset += 14 * DAY + 60_000;
    assert.deepEqual(await t.services.deletion.sweep(), [user.id]);
    await t.services.audit.flush();

    const left = await holders([user.id, user.email]);
    assert.deepEqual(left.filter((h) => !h.startsWith('audit_events:')), [], 'only the audit log may mention it');
    assert.deepEqual(left, [], 'and the audit log names it by its pseudonym only');
    const audit = await t.services.db.connection.db!.collection('audit_events').find({ 'subject.id': /^deleted-account-/ }).toArray();
    assert.ok(audit.length >= 3, 'the account\'s history stays, pseudonymised');

    await assert.rejects(oidc.refreshTokenGrant(rp.config, tokens.refresh_token!), 'the refresh token is dead');
    assert.equal((await t.services.storage.sessionsOf(user.id)).length, 0);
    assert.equal((await t.services.storage.grantsOf(user.id)).length, 0);
    assert.equal((await t.services.organisations.byId(org.id))!.members.length, 0);
    // the email can make a new account
    await t.services.accounts.create({ email: user.email, password: 'Another#Horse7' });
  });

  it('the sweep finishes a deletion a crash cut short (it is idempotent and drops its index entry last)', async () => {
    const user = await createUser(t);
    const agent = await securityCenter(user);
    await askForDeletion(agent, user.password);
    offset += 15 * DAY;
    // as if a crash left the account gone but the rest not done
    await t.services.accounts.remove(user.id, user.email);
    assert.deepEqual(await t.services.deletion.sweep(), [user.id]);
    assert.deepEqual((await holders([user.id, user.email])).filter((h) => !h.startsWith('audit_events:')), []);
    assert.deepEqual(await t.services.deletion.sweep(), []);
  });

  it('the form fields are what a person needs (no dead end)', async () => {
    const user = await createUser(t);
    const agent = await securityCenter(user);
    const page = await agent.visit(`${t.issuer}/account/security/delete`);
    const form = formOn(page, /\/account\/security\/delete$/);
    assert.ok('_csrf' in form.fields);
    assert.match(page.body, /href="\/account\/security\/data"/, 'a copy first');
    assert.match(page.body, /href="\/account\/security"/, 'a way back');
  });
});
