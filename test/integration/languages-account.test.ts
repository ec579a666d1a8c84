// The security center speaks the person's language: the account's `locale` (profile claim) when it
// has one, Accept-Language when it has none, the switcher over both; times in the page's language
// and the profile's zone. Through real HTTP and the real database.
import assert from 'node:assert/strict';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty } from '../support/flow.ts';
import { h1, lang, notice, signedInAgent, text, type LanguageProfile } from '../support/languages.ts';

describe('the security center in the account\'s language', () => {
  let t: Tessera;
  let rp: RelyingParty;
  const url = (path: string) => `${t.issuer}/account/security${path}`;

  before(async () => {
    t = await startTessera();
    rp = await RelyingParty.register(t, { skipConsent: true });
  });
  after(() => t.close());

  /** An account with these profile claims, signed in from a browser sending `headers`. */
  const signedIn = (profile: LanguageProfile, headers: Record<string, string> = {}) => signedInAgent(t, rp, profile, headers);

  it('shows an account whose locale is pl the Polish overview, devices and sessions pages, times in its zone', async () => {
    const { agent } = await signedIn({ locale: 'pl-PL', zoneinfo: 'Europe/Warsaw' }, { 'accept-language': 'en-GB,en;q=0.9' });
    const overview = await agent.visit(url(''));
    assert.equal(overview.status, 200);
    assert.equal(lang(overview), 'pl');
    assert.equal(h1(overview), 'Bezpieczeństwo');
    assert.match(overview.body, /<nav class="account-nav" aria-label="Centrum bezpieczeństwa">/);
    assert.match(text(overview.body), /Metody logowania Profil i kontakty Urządzenia Sesje i historia Aplikacje Twoje dane/);
    assert.match(text(overview.body), /Zalogowano jako .* Wyloguj się/);
    assert.match(text(overview.body), /Obecnie: wyłączone\./);
    assert.match(text(overview.body), /1 aktywna sesja · automatyczne wylogowanie: najdłuższy czas dozwolony przez serwer\./);
    assert.doesNotMatch(text(overview.body), /Sign-in methods|Two-factor authentication|Nothing was changed/);

    const devices = await agent.visit(url('/devices'));
    assert.equal(lang(devices), 'pl');
    assert.equal(h1(devices), 'Urządzenia');
    assert.match(devices.body, /<span class="tag">ta przeglądarka<\/span>/);
    // the day and time the Polish way (the month's name), in the profile's zone (Warsaw: CET, or CEST in summer)
    assert.match(devices.body, /<dt>Ostatnio używane<\/dt><dd>\d{1,2} (stycznia|lutego|marca|kwietnia|maja|czerwca|lipca|sierpnia|września|października|listopada|grudnia) \d{4}, \d\d:\d\d CES?T<\/dd>/);
    assert.match(devices.body, /<dt>Pierwsze użycie<\/dt><dd>\d{1,2} (stycznia|lutego|marca|kwietnia|maja|czerwca|lipca|sierpnia|września|października|listopada|grudnia) \d{4}<\/dd>/);

    const sessions = await agent.visit(url('/sessions'));
    assert.equal(h1(sessions), 'Aktywne sesje');
    assert.match(text(sessions.body), /Zalogowano \d{1,2} (stycznia|lutego|marca|kwietnia|maja|czerwca|lipca|sierpnia|września|października|listopada|grudnia) \d{4}, \d\d:\d\d CES?T · ostatnia aktywność/);
    assert.match(sessions.body, /<option value="7" >7 dniach<\/option>/);
    const saved = await agent.submit(sessions, /\/sessions\/auto-logout$/, { days: '7' });
    assert.equal(saved.status, 200);
    assert.equal(notice(saved), 'Zapisano: sesje kończą się 7 dni po zalogowaniu, niezależnie od aktywności. Dotyczy to również obecnych sesji.');
  });

  it('refuses a wrong current password in Polish beside the field, and confirms the change in Polish', async () => {
    const { user, agent } = await signedIn({ locale: 'pl' });
    const page = await agent.visit(url('/password'));
    assert.equal(h1(page), 'Hasło');
    assert.match(page.body, /<label for="current">Obecne hasło<\/label>/);
    const refused = await agent.submit(page, /\/security\/password$/, { current: 'Not#The1Password', password: 'Brand#New2Secret', confirm: 'Brand#New2Secret' });
    assert.equal(refused.status, 400);
    assert.match(refused.body, /<input id="current"[^>]*aria-invalid="true" aria-describedby="current-error">/);
    assert.match(refused.body, /<p class="error" id="current-error" role="alert">Obecne hasło jest nieprawidłowe: nic nie zostało zmienione\.<\/p>/);
    const mismatch = await agent.submit(page, /\/security\/password$/, { current: user.password, password: 'Brand#New2Secret', confirm: 'Brand#New3Secret' });
    assert.match(mismatch.body, /<p class="error" id="confirm-error" role="alert">Nowe hasło i jego powtórzenie nie są takie same\.<\/p>/);
    const done = await agent.submit(page, /\/security\/password$/, { current: user.password, password: 'Brand#New2Secret', confirm: 'Brand#New2Secret' });
    assert.equal(done.status, 200);
    assert.equal(notice(done), 'Hasło zostało zmienione.');
  });

  it('follows Accept-Language (German) for an account without a locale', async () => {
    const { agent } = await signedIn({}, { 'accept-language': 'de-DE,de;q=0.9,en;q=0.5' });
    const overview = await agent.visit(url(''));
    assert.equal(lang(overview), 'de');
    assert.equal(h1(overview), 'Sicherheit');
    assert.match(text(overview.body), /Anmeldemethoden Profil und Kontakte Geräte Sitzungen und Verlauf Anwendungen Ihre Daten/);
    assert.match(text(overview.body), /Zwei-Faktor-Authentifizierung/);
    const devices = await agent.visit(url('/devices'));
    assert.equal(h1(devices), 'Geräte');
    // no zone in the profile: the German shape, in UTC
    assert.match(devices.body, /<dt>Zuletzt verwendet<\/dt><dd>\d{1,2}\. (Januar|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember) \d{4}, \d\d:\d\d UTC<\/dd>/);
    const renamed = await agent.submit(devices, /\/rename$/, { name: ' ' });
    assert.equal(renamed.status, 400);
    assert.match(renamed.body, /role="alert">Ein Gerätename hat 1 bis \d+ Zeichen: Es wurde nichts geändert\.<\/p>/);
    assert.match(text(renamed.body), /Es wurde nichts geändert: Grund ansehen/);
  });

  it('lets the account\'s locale win over Accept-Language, and the switcher over both', async () => {
    const { agent } = await signedIn({ locale: 'pl' }, { 'accept-language': 'de' });
    assert.equal(h1(await agent.visit(url(''))), 'Bezpieczeństwo');
    const switched = await agent.visit(`${t.issuer}/language?to=en&back=${encodeURIComponent('/account/security/sessions')}`);
    assert.equal(switched.url, url('/sessions'));
    assert.equal(lang(switched), 'en');
    assert.equal(h1(switched), 'Active sessions');
    // times follow the page's language: "5 December 2026, 20:48 UTC" in English
    assert.match(text(switched.body), /Signed in \d{1,2} [A-Z][a-z]+ \d{4}, \d\d:\d\d UTC · last active/);
    assert.equal(h1(await agent.visit(url(''))), 'Security');
  });
});
