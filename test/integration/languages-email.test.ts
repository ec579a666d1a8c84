// Emails and text messages in the reader's language (README "Emails and text messages"), through
// real HTTP, a real SMTP server and the fake SMS provider: the account's `locale` picks the
// language (Polish, German), its `zoneinfo` the time zone of the dates; an account without a
// locale gets DEFAULT_LANGUAGE; the HTML part names its language (<html lang>).
import assert from 'node:assert/strict';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { startFakeTwilio, type FakeTwilio } from '../support/fake-twilio.ts';
import { REDIRECT_URI, RelyingParty, UserAgent, createUser, giveVerifiedPhone, type Page, type TestUser } from '../support/flow.ts';
import { partOf, startSmtp, type ReceivedMail, type Smtp } from '../support/mail.ts';

const FIREFOX_ON_LINUX = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';

/** The Subject header, unfolded and with its RFC 2047 encoded words decoded. */
function subjectOf(mail: ReceivedMail): string {
  const header = /^Subject: (.*(?:\r\n[ \t].*)*)/m.exec(mail.raw)?.[1] ?? '';
  return header.replace(/\?=\r\n[ \t]+=\?/g, '?==?').replace(/\r\n[ \t]+/g, ' ')
    .replace(/=\?utf-8\?([QB])\?([^?]*)\?=/gi, (_, how: string, text: string) => (how.toUpperCase() === 'B'
      ? Buffer.from(text, 'base64').toString('utf8')
      : Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9A-F]{2})/gi, (__, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8')));
}

/** A moment as the language writes it in the zone, the zone named ("5 marca 2026, 14:05 CET"). */
const localTime = (at: Date, language: string, zone: string) => {
  const tag = language === 'en' ? 'en-GB' : language;
  return `${new Intl.DateTimeFormat(tag, { timeZone: zone, dateStyle: 'long' }).format(at)}, ${new Intl.DateTimeFormat(tag, { timeZone: zone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZoneName: 'short' }).format(at)}`;
};
/** Polish months as a date names them (the genitive). */
const POLISH_DATE = /\d{1,2} (stycznia|lutego|marca|kwietnia|maja|czerwca|lipca|sierpnia|września|października|listopada|grudnia) \d{4}, \d\d:\d\d/;

const signedIn = (page: Page) => page.url.startsWith(REDIRECT_URI) && page.url.includes('code=');

describe('emails and text messages in the account\'s language', function () {
  this.timeout(180_000);
  // one fixed moment for everything the emails date (codes stay valid: the test is far shorter)
  const at = new Date(Math.floor(Date.now() / 60_000) * 60_000);
  let smtp: Smtp;
  let twilio: FakeTwilio;
  let t: Tessera;
  let rp: RelyingParty;
  const failures: unknown[] = [];

  before(async () => {
    smtp = await startSmtp();
    twilio = await startFakeTwilio();
    t = await startTessera({
      clock: () => at, log: (err) => failures.push(err),
      env: { SMTP_URL: smtp.url, SMS_PROVIDER: 'twilio', TWILIO_ACCOUNT_SID: twilio.account.sid, TWILIO_AUTH_TOKEN: twilio.account.token, TWILIO_FROM: twilio.account.from, TWILIO_API_BASE: twilio.apiBase },
    });
    rp = await RelyingParty.register(t, { skipConsent: true });
  });
  after(async () => { await t.close(); await twilio.close(); await smtp.close(); });
  afterEach(() => assert.deepEqual(failures.splice(0), [], 'never a 500'));

  /** An account whose profile names a language and a time zone. */
  async function userIn(server: Tessera, profile: { locale?: string; zoneinfo?: string }, options: { deviceVerification?: boolean } = {}): Promise<TestUser> {
    const user = await createUser(server, options);
    if (Object.keys(profile).length) await server.services.accounts.updateProfile(user.email, profile);
    return user;
  }

  /** A fresh sign-in from a new Firefox up to the page after the password. */
  async function password(server: Tessera, app: RelyingParty, user: TestUser, agent = new UserAgent({ 'user-agent': FIREFOX_ON_LINUX })): Promise<Page> {
    const page = await agent.visit((await app.authorize({ prompt: 'login' })).url);
    return agent.submit(page, /\/login$/, { email: user.email, password: user.password });
  }

  const mailTo = (mailbox: Smtp, user: TestUser, subject: RegExp) => mailbox.waitFor(user.email, (m) => subject.test(subjectOf(m)));

  it('writes a Polish account\'s sign-in code, new-device notice and password-changed notice in Polish, dated in its time zone', async () => {
    const user = await userIn(t, { locale: 'pl-PL', zoneinfo: 'Europe/Warsaw' }, { deviceVerification: true });
    const agent = new UserAgent({ 'user-agent': FIREFOX_ON_LINUX });
    const step = await password(t, rp, user, agent);

    const codeMail = await mailTo(smtp, user, /^\d{6} to Twój kod logowania do Tessera$/);
    const code = /^(\d{6})/.exec(subjectOf(codeMail))![1]!;
    const codeText = partOf(codeMail, 'text/plain');
    assert.match(codeText, /^Użyj tego kodu, aby dokończyć logowanie do Tessera z nowego urządzenia:/);
    assert.match(codeText, /Kod wygasa za \d+ minut/);
    const codeHtml = partOf(codeMail, 'text/html');
    assert.match(codeHtml, /<html lang="pl">/);
    assert.match(codeHtml, new RegExp(`<p[^>]*>${code}</p>`));
    assert.match(codeHtml, /Nie udostępniaj go nikomu/);
    assert.doesNotMatch(codeText + codeHtml, /Use this code|expires in/, 'no English left');

    assert.ok(signedIn(await agent.submit(step, /\/device$/, { code })), 'the Polish code signs in');
    await t.services.notices.settled();
    const notice = await mailTo(smtp, user, /^Nowe logowanie do Twojego konta Tessera$/);
    const noticeText = partOf(notice, 'text/plain');
    assert.match(noticeText, /^Ktoś właśnie zalogował się na Twoje konto Tessera z nowego urządzenia\./);
    assert.ok(noticeText.includes(`Kiedy:         ${localTime(at, 'pl', 'Europe/Warsaw')}`), noticeText);
    // a Polish date, in Warsaw time (winter or summer), the zone named
    assert.match(noticeText, new RegExp(`Kiedy:\\s+${POLISH_DATE.source} CES?T\\r?\\n`));
    assert.match(noticeText, /Przeglądarka:\s+Firefox 128 w systemie Linux/);
    assert.match(noticeText, /Gdzie:\s+nieznana lokalizacja \(w przybliżeniu\)/);
    const noticeHtml = partOf(notice, 'text/html');
    assert.match(noticeHtml, /<html lang="pl">/);
    assert.match(noticeHtml, /<title>Nowe logowanie do Twojego konta Tessera<\/title>/);
    assert.ok(noticeHtml.includes(`<td>${localTime(at, 'pl', 'Europe/Warsaw')}</td>`));
    assert.match(noticeHtml, />Zabezpiecz moje konto</);

    const form = await agent.visit(`${t.issuer}/account/security/password`);
    const changed = await agent.submit(form, /\/security\/password$/, { current: user.password, password: 'Brand#NewHorse7', confirm: 'Brand#NewHorse7' });
    assert.equal(changed.status, 200);
    const security = await mailTo(smtp, user, /^Zmiana zabezpieczeń Twojego konta Tessera$/);
    const securityText = partOf(security, 'text/plain');
    assert.match(securityText, /^Twoje hasło zostało zmienione\.\r?\n/);
    assert.ok(securityText.includes(`Tę zmianę wprowadzono na Twoim koncie Tessera ${localTime(at, 'pl', 'Europe/Warsaw')} z przeglądarki Firefox 128 w systemie Linux`), securityText);
    const securityHtml = partOf(security, 'text/html');
    assert.match(securityHtml, /<html lang="pl">/);
    assert.match(securityHtml, /<p>Twoje hasło zostało zmienione\.<\/p>/);
  });

  it('texts a German account its sign-in code in German and emails its new-device notice in German, dated in its time zone', async () => {
    const user = await userIn(t, { locale: 'de', zoneinfo: 'Europe/Berlin' });
    const number = await giveVerifiedPhone(t, user, '+49 151 23456789');
    await t.services.accounts.setSecondFactor(user.id, 'sms');
    const agent = new UserAgent({ 'user-agent': FIREFOX_ON_LINUX });
    const step = await password(t, rp, user, agent);
    assert.equal(step.status, 200);
    const texts = twilio.accepted.filter((r) => r.resource === 'Messages' && r.form.To === number);
    assert.equal(texts.length, 1, 'one text');
    const said = /^(\d{6}) ist Ihr Anmeldecode für Tessera\. Er läuft in \d+ Minuten ab\. Geben Sie ihn nicht weiter\.$/.exec(texts[0]!.form.Body!);
    assert.ok(said, texts[0]!.form.Body);
    assert.ok(signedIn(await agent.submit(step, /\/factor$/, { code: said[1]! })), 'the German code signs in');
    await t.services.notices.settled();

    const notice = await mailTo(smtp, user, /^Neue Anmeldung bei Ihrem Tessera-Konto$/);
    const text = partOf(notice, 'text/plain');
    assert.match(text, /^Bei Ihrem Tessera-Konto hat sich gerade jemand von einem neuen Gerät angemeldet\./);
    assert.ok(text.includes(`Wann:     ${localTime(at, 'de', 'Europe/Berlin')}`), text);
    assert.match(text, /Browser:\s+Firefox 128 unter Linux/);
    const html = partOf(notice, 'text/html');
    assert.match(html, /<html lang="de">/);
    assert.match(html, />Mein Konto sichern</);
  });

  it('writes to an account without a locale in the default language: English here, Polish with DEFAULT_LANGUAGE=pl (in UTC without a zone)', async () => {
    const english = await userIn(t, {});
    await password(t, rp, english);
    const inEnglish = await mailTo(smtp, english, /^New sign-in to your Tessera account$/);
    assert.match(partOf(inEnglish, 'text/html'), /<html lang="en">/);
    assert.ok(partOf(inEnglish, 'text/plain').includes(`When:     ${localTime(at, 'en', 'UTC')}`));
    assert.match(partOf(inEnglish, 'text/plain'), /When: {5}\d{1,2} [A-Z][a-z]+ \d{4}, \d\d:\d\d UTC/);

    const mailbox = await startSmtp();
    const polish = await startTessera({ clock: () => at, log: (err) => failures.push(err), env: { SMTP_URL: mailbox.url, DEFAULT_LANGUAGE: 'pl' } });
    try {
      const app = await RelyingParty.register(polish, { skipConsent: true });
      const user = await userIn(polish, {});
      await password(polish, app, user);
      const notice = await mailTo(mailbox, user, /^Nowe logowanie do Twojego konta Tessera$/);
      assert.match(partOf(notice, 'text/html'), /<html lang="pl">/);
      assert.ok(partOf(notice, 'text/plain').includes(`Kiedy:         ${localTime(at, 'pl', 'UTC')}`));
      // an account that names a language still gets its own
      const german = await userIn(polish, { locale: 'de-AT' });
      await password(polish, app, german);
      assert.match(partOf(await mailTo(mailbox, german, /^Neue Anmeldung bei Ihrem Tessera-Konto$/), 'text/html'), /<html lang="de">/);
    } finally {
      await polish.close();
      await mailbox.close();
    }
  });
});
