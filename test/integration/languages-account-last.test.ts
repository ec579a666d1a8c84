// The last of the security center in the person's language (see languages-account.test.ts and
// languages-account-more.test.ts): the PIN page with a refused PIN beside its field, the "Your
// data" page with its refusal, an organisation admin's webhook pages (a refusal beside a field, the
// one-time secret page, the endpoint with its delivery log) and the assisted recovery's cancel
// page — in Polish and German, through real HTTP, the real database and a real SMTP listener.
// English stays as it was (the tests of each page assert it).
import assert from 'node:assert/strict';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { createUser, formOn, RelyingParty, signIn, UserAgent, type Page, type TestUser } from '../support/flow.ts';
import { startSmtp, type Smtp } from '../support/mail.ts';
import path from 'node:path';
import ejs from 'ejs';
import { clientInfo } from '../../src/devices/client-info.ts';
import { translator } from '../../src/i18n/index.ts';

const text = (html: string) => html.replace(/<[^>]+>/g, ' ').replace(/&#34;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&').replace(/\s+/g, ' ');
const h1 = (page: Page) => text(/<h1>([\s\S]*?)<\/h1>/.exec(page.body)?.[1] ?? '').trim();
const lang = (page: Page) => /<html lang="([^"]+)"/.exec(page.body)?.[1];
const notice = (page: Page) => text(/<p class="notice" role="status">([\s\S]*?)<\/p>/.exec(page.body)?.[1] ?? '').trim();

describe('the last of the security center in the account\'s language', function () {
  this.timeout(60_000);
  let t: Tessera;
  let rp: RelyingParty;
  let smtp: Smtp;
  const url = (path: string) => `${t.issuer}${path}`;

  before(async () => {
    smtp = await startSmtp();
    t = await startTessera({ env: { SMTP_URL: smtp.url } });
    rp = await RelyingParty.register(t, { skipConsent: true });
  });
  after(async () => {
    await t.close();
    await smtp.close();
  });

  /** An account with these profile claims, signed in from a browser sending `headers`. */
  async function signedIn(profile: { locale?: string }, headers: Record<string, string> = {}, user?: TestUser): Promise<{ user: TestUser; agent: UserAgent }> {
    const who = user ?? await createUser(t);
    if (profile.locale) await t.services.accounts.updateProfile(who.email, profile);
    const agent = new UserAgent(headers);
    await signIn(agent, (await rp.authorize()).url, who);
    return { user: who, agent };
  }

  it('shows the Polish PIN page and refuses a sequence in Polish beside the PIN field', async () => {
    const { user, agent } = await signedIn({ locale: 'pl' });
    const page = await agent.visit(url('/account/security/pin'));
    assert.equal(lang(page), 'pl');
    assert.equal(h1(page), 'PIN i blokada ekranu');
    assert.match(page.body, /<h2>Ustaw PIN<\/h2>/);
    assert.match(text(page.body), /Od \d+ do \d+ cyfr, bez ciągów i powtórzeń, takich jak 1234 czy 1111\./);
    assert.match(page.body, /<label for="repeat">Powtórz nowy PIN<\/label>/);
    assert.match(page.body, /<option value="5" >Po 5 minutach bezczynności<\/option>/);
    assert.match(page.body, /<option value="no" selected>Nie<\/option>/);
    const refused = await agent.submit(page, /\/security\/pin$/, { pin: '123456', repeat: '123456', password: user.password });
    assert.equal(refused.status, 400);
    assert.match(text(refused.body), /Nic nie zostało zmienione: zobacz dlaczego \./);
    assert.match(refused.body, /<input id="pin"[^>]*aria-invalid="true" aria-describedby="pin-error">/);
    assert.match(refused.body, /<p class="error" id="pin-error" role="alert">Ten PIN to ciąg kolejnych cyfr \(jak 1234 lub 9876\): wybierz taki, który trudniej odgadnąć\. PIN nie został zmieniony\.<\/p>/);
    const set = await agent.submit(page, /\/security\/pin$/, { pin: '604918', repeat: '604918', password: user.password });
    assert.equal(set.status, 200);
    assert.match(set.body, /<h2>Zmień PIN<\/h2>/);
    assert.match(set.body, /<h2>Usuń PIN<\/h2>/);
    assert.doesNotMatch(text(set.body), /New PIN|When to ask|Screen lock|minutes of inactivity|Remove PIN/);
  });

  it('shows the German PIN page', async () => {
    const { agent } = await signedIn({}, { 'accept-language': 'de-DE,de;q=0.9' });
    const page = await agent.visit(url('/account/security/pin'));
    assert.equal(h1(page), 'PIN und Bildschirmsperre');
    assert.match(page.body, /<label for="after">PIN nach der Anmeldung abfragen<\/label>/);
    assert.match(page.body, />Ja: nach Passwort und zweitem Faktor<\/option>/);
    assert.match(page.body, /<option value="0" [^>]*>Aus<\/option>/);
    assert.match(text(page.body), /Legen Sie zuerst eine PIN fest\./);
  });

  it('explains the download in German and refuses a wrong password in German beside the field', async () => {
    const { user, agent } = await signedIn({}, { 'accept-language': 'de' });
    const page = await agent.visit(url('/account/security/data'));
    assert.equal(lang(page), 'de');
    assert.equal(h1(page), 'Ihre Daten');
    assert.match(text(page.body), new RegExp(`Laden Sie eine Kopie von allem herunter, was Tessera über Ihr Konto \\(${user.email.replace(/[.+]/g, '\\$&')}\\) speichert`));
    assert.match(text(page.body), /Anmeldeverlauf : jeder gespeicherte Anmeldeversuch \(die letzten \d+\)/);
    assert.match(page.body, /<h2>Was sie nie enthält<\/h2>/);
    assert.match(page.body, /<button type="submit">Meine Daten herunterladen<\/button>/);
    const refused = await agent.submit(page, /\/security\/data$/, { password: 'Not#The1Password' });
    assert.equal(refused.status, 400);
    assert.match(refused.body, /<p class="error" role="alert" id="data-password-error">Ihr aktuelles Passwort ist nicht richtig: Es wurde nichts heruntergeladen\.<\/p>/);
    assert.doesNotMatch(text(refused.body), /What the file holds|Download my data|Current password/);
  });

  it('shows the Polish data page', async () => {
    const { agent } = await signedIn({ locale: 'pl' });
    const page = await agent.visit(url('/account/security/data'));
    assert.equal(h1(page), 'Twoje dane');
    assert.match(page.body, /<h2>Co zawiera plik<\/h2>/);
    assert.match(text(page.body), /Historia logowań : każda przechowywana próba logowania \(najnowsze, maksymalnie \d+\)/);
    assert.match(page.body, /<button type="submit">Pobierz moje dane<\/button>/);
  });

  describe('an organisation admin\'s webhooks', () => {
    const BASE = '/account/security/organisation/webhooks';

    async function admin(profile: { locale?: string }, headers: Record<string, string> = {}): Promise<UserAgent> {
      const org = await t.services.organisations.create(`Org ${Math.random().toString(36).slice(2, 8)}`);
      const user = await createUser(t);
      await t.services.organisations.setMember(org.id, user.id, true);
      return (await signedIn(profile, headers, user)).agent;
    }
    function send(agent: UserAgent, page: Page, fields: Record<string, string>): Promise<Page> {
      const form = formOn(page, /\/organisation\/webhooks$/);
      return agent.request(form.action, { form: { ...form.fields, ...fields } });
    }

    it('refuses in Polish beside the fields, then shows the Polish secret page and endpoint', async () => {
      const agent = await admin({ locale: 'pl' });
      const list = await agent.visit(url(BASE));
      assert.equal(h1(list), 'Webhooki organizacji');
      assert.match(text(list.body), /Twoja organizacja nie ma jeszcze punktów końcowych webhooków\./);
      const page = await agent.visit(url(`${BASE}/new`));
      assert.equal(h1(page), 'Nowy punkt końcowy webhooka');
      assert.match(page.body, /> Logowanie z nowego urządzenia \(przeglądarka potwierdziła swoją tożsamość\)<\/label>/);
      const none = await send(agent, page, { url: 'https://siem.example.com/tessera' });
      assert.equal(none.status, 400);
      assert.match(none.body, /<p>Nic nie zostało zapisane\. Popraw:<\/p><ul><li><a href="#types-legend">Wysyłane zdarzenia<\/a><\/li><\/ul>/);
      assert.match(none.body, /<p class="error" id="types-error">Wybierz co najmniej jeden typ zdarzeń\.<\/p>/);
      const http = await send(agent, page, { url: 'http://siem.example.com/tessera', type_password_reset: 'on' });
      assert.equal(http.status, 400);
      assert.match(http.body, /<input id="url"[^>]*aria-describedby="url-hint url-error" aria-invalid="true">/);
      assert.match(http.body, /<p class="error" id="url-error">Adres URL musi zaczynać się od https:\/\/ \(http jest dozwolone tylko przy włączonym WEBHOOK_ALLOW_HTTP\)\. Nic nie zostało zapisane\.<\/p>/);
      assert.equal(await t.services.db.connection.collection('webhook_endpoints').countDocuments({ url: 'http://siem.example.com/tessera' }), 0, 'nothing saved');

      const made = await send(agent, page, { url: 'https://siem.example.com/tessera', type_password_reset: 'on' });
      assert.equal(made.status, 201);
      assert.equal(h1(made), 'Punkt końcowy webhooka zarejestrowany');
      assert.match(made.body, /<strong>Skopiuj sekret teraz\.<\/strong> Jest widoczny tylko na tej stronie/);
      assert.match(made.body, /<dt>Sekret do podpisywania<\/dt><dd><code class="secret" id="webhook-secret">whsec_/);
      assert.match(made.body, /nagłówek <code>webhook-signature<\/code> każdego żądania/);
      assert.match(made.body, /<p class="back"><a href="\/account\/security\/organisation\/webhooks">← Webhooki organizacji<\/a><\/p>/);
      const href = /<a href="(\/account\/security\/organisation\/webhooks\/whk_[\w-]+)">Sekret skopiowany: otwórz punkt końcowy<\/a>/.exec(made.body)?.[1];
      assert.ok(href, 'the way on, in Polish');

      const endpoint = await agent.visit(url(href));
      assert.equal(h1(endpoint), 'Punkt końcowy webhooka');
      assert.match(endpoint.body, /<h2>Ostatnie dostarczenia<\/h2>\s*<p>Do tego punktu końcowego nic jeszcze nie wysłano\.<\/p>/);
      assert.match(endpoint.body, /name="type_password_reset" value="on" checked> Hasło zresetowane \(zapomniane hasło lub przez administratora\)<\/label>/);
      const rotate = await agent.visit(url(`${href}/rotate`));
      assert.equal(h1(rotate), 'Wymień sekret do podpisywania');
      assert.match(rotate.body, /<button type="submit" class="danger">Wymień sekret<\/button>\s*<a href="[^"]+">Anuluj<\/a>/);
    });

    it('shows the German list, form and a refusal beside the description', async () => {
      const agent = await admin({}, { 'accept-language': 'de' });
      const page = await agent.visit(url(`${BASE}/new`));
      assert.equal(lang(page), 'de');
      assert.equal(h1(page), 'Neuer Webhook-Endpunkt');
      assert.match(page.body, /<p class="hint" id="url-hint">Nur https\. Private, Loopback- und Link-Local-Adressen werden abgelehnt\.<\/p>/);
      const long = await send(agent, page, { url: 'https://siem.example.com/tessera', description: 'x'.repeat(501), type_device_blocked: 'on' });
      assert.equal(long.status, 400);
      assert.match(long.body, /<p class="error" id="description-error">Die Beschreibung hat höchstens 500 Zeichen\. Es wurde nichts gespeichert\.<\/p>/);
      const made = await send(agent, page, { url: 'https://siem.example.com/de', type_device_blocked: 'on' });
      assert.equal(h1(made), 'Webhook-Endpunkt registriert');
      const list = await agent.visit(url(BASE));
      assert.equal(h1(list), 'Webhooks der Organisation');
      assert.match(text(list.body), /https:\/\/siem\.example\.com\/de An Ereignisse: device\.blocked/);
    });
  });

  describe('the assisted recovery\'s cancel page', () => {
    it('says in Polish that a bad link is not valid', async () => {
      const page = await new UserAgent({ 'accept-language': 'pl-PL,pl;q=0.9' }).visit(url('/account/recovery/cancel?token=nope'));
      assert.equal(page.status, 400);
      assert.equal(lang(page), 'pl');
      assert.equal(h1(page), 'Anulowanie wspomaganego odzyskiwania');
      assert.match(page.body, /<p class="error" role="alert">Ten link do anulowania jest nieprawidłowy\. Nic nie zostało zmienione\.<\/p>/);
    });

    it('shows a request and cancels it in German, its date the German way', async () => {
      const user = await createUser(t);
      const account = (await t.services.accounts.findById(user.id))!;
      const since = smtp.received.length;
      const opened = await t.services.assistedRecovery.request(account, clientInfo('203.0.113.9', 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0'), '');
      assert.ok(opened.ok);
      const mail = await smtp.waitFor(user.email, /\/account\/recovery\/cancel\?token=/, since);
      const link = /https?:\/\/[^\s"<>]+\/account\/recovery\/cancel\?token=[\w.-]+/.exec(mail.text)![0];
      const agent = new UserAgent({ 'accept-language': 'de-CH,de;q=0.8' });
      const page = await agent.visit(link);
      assert.equal(page.status, 200);
      assert.equal(h1(page), 'Unterstützte Wiederherstellung abbrechen');
      assert.match(text(page.body), new RegExp(`Für das Konto ${user.email.replace(/[.+]/g, '\\$&')} wurde am \\d{1,2}\\. (Januar|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember) \\d{4}, \\d\\d:\\d\\d UTC eine unterstützte Wiederherstellung angefordert\\.`));
      assert.match(text(page.body), /Sie wartet auf die Entscheidung eines Administrators\./);
      const done = await agent.submit(page, /\/recovery\/cancel$/, {});
      assert.equal(done.status, 200);
      assert.equal(h1(done), 'Wiederherstellung abgebrochen');
      assert.match(notice(done), /^Die unterstützte Wiederherstellung von \S+ ist abgebrochen\. Es wurde nichts entfernt/);
      assert.match(done.body, /<a href="\/account\/security">[^<]+<\/a>/);
      assert.equal((await t.services.assistedRecovery.get(user.id))?.state, 'cancelled');
    });
  });

  describe('the delivery log (one partial, two areas)', () => {
    const partial = path.resolve(import.meta.dirname, '../../views/partials/webhook-deliveries.ejs');
    const deliveries = [
      { at: new Date('2026-03-15T13:05:00Z'), type: 'password.reset', attempt: 1, outcome: 'delivered', status: 204, durationMs: 12 },
      { at: new Date('2026-03-15T13:06:00Z'), type: 'password.reset', attempt: 2, outcome: 'failed', status: 500 },
    ];
    const render = (here: string) => ejs.renderFile(partial, { deliveries, atHeading: 'Czas', at: (d: Date) => d.toISOString(), t: translator('pl'), here });

    it('speaks the page\'s language in the security center', async () => {
      const html = await render('/account/security/organisation/webhooks/whk_abcdefghijkl');
      assert.match(html, /<th role="columnheader">Zdarzenie<\/th><th role="columnheader">Próba<\/th><th role="columnheader">Wynik<\/th>/);
      assert.match(html, /data-label="Wynik">Dostarczono \(204\), 12 ms</);
      assert.match(html, /data-label="Wynik">Niepowodzenie: HTTP 500</);
      assert.match((await ejs.renderFile(partial, { deliveries: [], t: translator('de'), here: '/account/security/organisation/webhooks/whk_abcdefghijkl' })), /<p>An diesen Endpunkt wurde noch nichts gesendet\.<\/p>/);
    });

    it('stays English in the admin console, whatever the browser\'s language', async () => {
      const html = await render('/admin/webhooks/whk_abcdefghijkl');
      assert.match(html, /aria-label="Latest deliveries"/);
      assert.match(html, /<th role="columnheader">Event<\/th><th role="columnheader">Attempt<\/th><th role="columnheader">Result<\/th>/);
      assert.match(html, /data-label="Result">Delivered \(204\), 12 ms</);
      assert.match(html, /data-label="Result">Failed: HTTP 500</);
    });
  });
});
