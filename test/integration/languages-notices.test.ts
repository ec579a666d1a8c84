// The notices whose words come from elsewhere, in the reader's language (README "Emails and text
// messages"): the sentence naming a security change (written by the page that made it, in English
// for the audit log), the risk rules' reasons in an unusual-sign-in email (from their facts) and the
// assisted-recovery notices (email and text). Real HTTP, a real SMTP server and the outbox.
import assert from 'node:assert/strict';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { REDIRECT_URI, RelyingParty, UserAgent, createUser, giveVerifiedPhone, type TestUser } from '../support/flow.ts';
import { startSmtp, type ReceivedMail, type Smtp } from '../support/mail.ts';
import type { RiskReason } from '../../src/policy/risk.ts';

const FIREFOX_ON_LINUX = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
const SEEN = { ip: '203.0.113.9', browser: 'Firefox 128', os: 'Linux' };

describe('security, unusual-sign-in and recovery notices in the account\'s language', function () {
  this.timeout(180_000);
  const at = new Date(Math.floor(Date.now() / 60_000) * 60_000);
  let smtp: Smtp;
  let t: Tessera;
  let rp: RelyingParty;
  const failures: unknown[] = [];

  before(async () => {
    smtp = await startSmtp();
    t = await startTessera({ clock: () => at, log: (err) => failures.push(err), env: { SMTP_URL: smtp.url } });
    rp = await RelyingParty.register(t, { skipConsent: true });
  });
  after(async () => { await t.close(); await smtp.close(); });
  afterEach(() => assert.deepEqual(failures.splice(0), [], 'never a 500'));

  async function userIn(locale: string): Promise<TestUser> {
    const user = await createUser(t);
    await t.services.accounts.updateProfile(user.email, { locale });
    return user;
  }

  /** Signed in to the security center from Firefox. */
  async function signedIn(user: TestUser): Promise<UserAgent> {
    const agent = new UserAgent({ 'user-agent': FIREFOX_ON_LINUX });
    const page = await agent.visit((await rp.authorize({ prompt: 'login' })).url);
    const done = await agent.submit(page, /\/login$/, { email: user.email, password: user.password });
    assert.ok(done.url.startsWith(REDIRECT_URI), 'signed in');
    return agent;
  }

  /** The test SMTP server keeps the message as latin-1 text: its UTF-8 words, readable. */
  const textOf = (m: ReceivedMail) => Buffer.from(m.text, 'latin1').toString('utf8');
  const mailWith = async (user: TestUser, words: string) => textOf(await smtp.waitFor(user.email, (m) => textOf(m).includes(words)));

  it('names a security change in Polish and German in the email, and in English in the audit log', async () => {
    const polish = await userIn('pl-PL');
    const agent = await signedIn(polish);
    const set = await agent.submit(await agent.visit(`${t.issuer}/account/security/pin`), /\/security\/pin$/, { pin: '482915', repeat: '482915', password: polish.password });
    assert.equal(set.status, 200);
    const mail = await mailWith(polish, 'Na Twoim koncie ustawiono PIN.');
    assert.doesNotMatch(mail, /A PIN was set/);
    const { events } = await t.services.audit.query({ accountId: polish.id, type: 'pin.changed', limit: 10 });
    assert.deepEqual(events.map((e) => e.details?.change), ['A PIN was set for your account.'], 'the audit log keeps English');

    const german = await userIn('de');
    const browser = await signedIn(german);
    await browser.submit(await browser.visit(`${t.issuer}/account/security/pin`), /\/security\/pin$/, { pin: '482915', repeat: '482915', password: german.password });
    const settings = await browser.submit(await browser.visit(`${t.issuer}/account/security/pin`), /\/security\/pin\/settings$/, { afterSignIn: 'yes', screenLock: '5', password: german.password });
    assert.equal(settings.status, 200);
    // a value translated inside the sentence ("ja", the minutes)
    await mailWith(german, 'Ihre PIN-Einstellungen wurden geändert. PIN nach der Anmeldung: ja; Bildschirmsperre: nach 5 Minuten Inaktivität.');
  });

  it('writes the risk rules\' reasons of an unusual sign-in in the account\'s language, from their facts', async () => {
    const reason: RiskReason = { code: 'new-country', action: 'second-factor', text: 'first sign-in from Germany', vars: { country: 'DE' } };
    const polish = await userIn('pl');
    t.services.notices.unusualSignIn(polish.id, SEEN, [reason], 'no-such-device');
    const english = await createUser(t);
    t.services.notices.unusualSignIn(english.id, SEEN, [reason], 'no-such-device');
    await t.services.notices.settled();
    const mail = await mailWith(polish, 'Pierwsze logowanie z kraju: Niemcy');
    assert.doesNotMatch(mail, /first sign-in/i);
    // English as the rule wrote it
    await mailWith(english, '  - First sign-in from Germany');
  });

  it('tells a German account about its assisted recovery in German, by email and by text', async () => {
    const user = await userIn('de-AT');
    await giveVerifiedPhone(t, user, '+49 151 23456789');
    const account = (await t.services.accounts.findById(user.id))!;
    const opened = await t.services.assistedRecovery.request(account, SEEN, 'Telefon verloren');
    assert.ok(opened.ok);
    const asked = await mailWith(user, 'Jemand, der Ihr Passwort kannte, hat am');
    assert.match(asked, /Wiederherstellung abbrechen: http:\/\/\S+\/account\/recovery\/cancel\?token=/);
    assert.doesNotMatch(asked, /Someone who knew|Cancel the recovery/);

    await t.services.assistedRecovery.approve({ id: 'admin-1', label: 'admin@example.com' }, user.id, 'called back');
    const approved = await mailWith(user, 'Ein Administrator hat die unterstützte Wiederherstellung Ihres Kontos genehmigt.');
    assert.match(approved, /\(Der Link öffnet eine Seite mit einer Schaltfläche „Abbrechen“; er funktioniert einmal, bis \d{1,2}\. (Januar|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember) \d{4}, \d{2}:\d{2} UTC\.\)/);
    const texted = async () => t.services.outbox.list().find((m) => m.channel === 'sms' && /unterstützte Wiederherstellung/.test(m.text));
    for (let i = 0; i < 50 && !(await texted()); i++) await new Promise((r) => setTimeout(r, 100));
    assert.match((await texted())?.text ?? '', /^Tessera: Ihre zweiten Faktoren werden nach .* zurückgesetzt \(unterstützte Wiederherstellung\)\. Nicht Sie\? Abbrechen: http/);
  });
});
