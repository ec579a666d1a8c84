// More of the security center in the person's language (the overview, devices, sessions and
// password pages are in languages-account.test.ts): the profile with a refusal beside its field,
// the session history with its times the language's way, phone numbers, trusted IPs, connected
// applications, deleting the account, the unlock page's wording and the set-password link's page —
// in Polish and German, through real HTTP and the real database. English stays as it was.
import assert from 'node:assert/strict';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty } from '../support/flow.ts';
import { h1, lang, notice, signedInAgent, text, type LanguageProfile } from '../support/languages.ts';

describe('more of the security center in the account\'s language', () => {
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

  it('shows the Polish profile, with a bad time zone refused in Polish beside its field', async () => {
    const { user, agent } = await signedIn({ locale: 'pl' });
    const page = await agent.visit(url('/profile'));
    assert.equal(lang(page), 'pl');
    assert.equal(h1(page), 'Profil');
    assert.match(page.body, /<label for="zoneinfo">Strefa czasowa <span class="muted">Np\. Europe\/Warsaw\./);
    assert.match(text(page.body), /Logujesz się adresem \S+@\S+ ; otrzymują go aplikacje, które o niego poproszą\./);
    assert.match(page.body, /<h2 id="change-email-heading">Zmień adres e-mail<\/h2>/);
    const refused = await agent.submit(page, /\/security\/profile$/, { name: 'Anna Nowak', zoneinfo: 'Mars/Olympus', password: user.password });
    assert.equal(refused.status, 400);
    assert.match(refused.body, /<p class="error" role="alert">Nic nie zostało zapisane: popraw zaznaczone niżej pola\.<\/p>/);
    assert.match(refused.body, /<input id="zoneinfo"[^>]*aria-invalid="true" aria-describedby="zoneinfo-error">/);
    assert.match(refused.body, /<p class="error" id="zoneinfo-error">„Mars\/Olympus” nie jest strefą czasową, taką jak Europe\/Warsaw\.<\/p>/);
    const saved = await agent.submit(page, /\/security\/profile$/, { name: 'Anna Nowak', locale: 'pl', zoneinfo: 'Europe/Warsaw', password: user.password });
    assert.equal(notice(saved), 'Profil został zapisany. Aplikacje zobaczą zmiany przy następnym zapytaniu.');
    assert.doesNotMatch(text(saved.body), /Email address|Nothing was|Save\b/);
  });

  it('shows the German session history, its times the German way in the profile\'s zone', async () => {
    const { agent } = await signedIn({ zoneinfo: 'Europe/Berlin' }, { 'accept-language': 'de-DE,de;q=0.9' });
    const history = await agent.visit(url('/history'));
    assert.equal(lang(history), 'de');
    assert.equal(h1(history), 'Anmeldeverlauf');
    assert.match(text(history.body), /Jeder Anmeldeversuch bei Ihrem Konto, die neuesten zuerst\./);
    assert.match(history.body, /<time>\d{1,2}\. (Januar|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember) \d{4}, \d\d:\d\d MES?Z<\/time><\/span> <span class="tag ">Angemeldet<\/span>/);
    assert.match(text(history.body), /Gerät: .* · Passwort/);
    assert.doesNotMatch(text(history.body), /Signed in|Device:|password/);
  });

  it('shows the English history in the profile\'s zone, the English way ("5 December 2026, 21:48 CET", "Signed in")', async () => {
    const { agent } = await signedIn({ zoneinfo: 'Europe/Berlin' }, { 'accept-language': 'en' });
    const history = await agent.visit(url('/history'));
    assert.match(history.body, /<time>\d{1,2} [A-Z][a-z]+ \d{4}, \d\d:\d\d CES?T<\/time><\/span> <span class="tag ">Signed in<\/span>/);
    assert.match(text(history.body), /Device: .* · password/);
  });

  it('adds a phone number in Polish, and refuses a bad one in Polish beside the field', async () => {
    const { user, agent } = await signedIn({ locale: 'pl' });
    const page = await agent.visit(url('/phones'));
    assert.equal(h1(page), 'Numery telefonów');
    assert.match(page.body, /<label for="number">Numer telefonu<\/label>/);
    const refused = await agent.submit(page, /\/security\/phones$/, { number: '0612345678', password: user.password });
    assert.equal(refused.status, 400);
    assert.match(text(refused.body), /Nic nie zostało zmienione: zobacz dlaczego \./);
    // the parser's own reason, in Polish
    assert.match(refused.body, /<p class="error" id="number-error" role="alert">Wpisz numer w formacie międzynarodowym, zaczynając od \+ i kodu kraju \(np\. \+48 600 123 456\)\. Nic nie zostało zmienione\.<\/p>/);
    const invalid = await agent.submit(page, /\/security\/phones$/, { number: '+33 6 12 34 56', password: user.password });
    assert.match(invalid.body, /role="alert">„\+33 6 12 34 56” nie jest prawidłowym numerem telefonu \(kraj: Francja\): sprawdź kod kraju i cyfry\. Nic nie zostało zmienione\.<\/p>/);
    const added = await agent.submit(page, /\/security\/phones$/, { number: '+48 600 123 456', password: user.password });
    assert.equal(added.status, 200);
    assert.equal(notice(added), 'Dodano +48 600 123 456. Zweryfikuj go teraz: wyślemy kod SMS-em lub zadzwonimy.');
    assert.match(added.body, /<h2>Zweryfikuj \+48 600 123 456<\/h2>/);
    assert.match(text(added.body), /Komórkowy · dodano \d{1,2} (stycznia|lutego|marca|kwietnia|maja|czerwca|lipca|sierpnia|września|października|listopada|grudnia) \d{4}/);
    assert.match(added.body, /<span class="tag pending">Niezweryfikowany<\/span>/);
  });

  it('adds a trusted IP in German and lists the connected applications in German', async () => {
    const { user, agent } = await signedIn({ locale: 'de-AT' });
    const ips = await agent.visit(url('/ips'));
    assert.equal(h1(ips), 'Vertrauenswürdige IP-Adressen');
    const added = await agent.submit(ips, /\/security\/ips$/, { range: '203.0.113.0/24', skips: 'all', password: user.password });
    assert.equal(notice(added), '203.0.113.0/24 wurde hinzugefügt (entfällt: alle zweiten Faktoren und die PIN).');
    assert.match(text(added.body), /Entfällt: Alle zweiten Faktoren und die PIN hinzugefügt am \d{1,2}\. (Januar|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember) \d{4}/);
    const wide = await agent.submit(ips, /\/security\/ips$/, { range: '10.0.0.0/1', skips: 'all', password: user.password });
    assert.equal(wide.status, 400);
    assert.match(wide.body, /<p class="error" id="range-error" role="alert">Einem so großen Bereich \(\/1\) kann nicht vertraut werden: Der größte erlaubte ist \/16 für IPv4\. Geben Sie den Bereich Ihres eigenen Netzes oder eine einzelne Adresse ein\. Es wurde nichts geändert\.<\/p>/);

    const apps = await agent.visit(url('/apps'));
    assert.equal(h1(apps), 'Verbundene Anwendungen');
    assert.match(text(apps.body), /Erlaubt: wer Sie sind/);
    assert.match(text(apps.body), /Zugriff erteilt \d{1,2}\. (Januar|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember) \d{4}, \d\d:\d\d UTC/);
  });

  it('explains deletion in German, refuses a wrong password in German, and schedules it with the German date', async () => {
    const { user, agent } = await signedIn({}, { 'accept-language': 'de' });
    const page = await agent.visit(url('/delete'));
    assert.equal(h1(page), 'Konto löschen');
    assert.match(text(page.body), /Die Löschung erfolgt \d+ Tage nach Ihrer Anfrage\./);
    assert.match(page.body, /<button type="submit" class="danger">Mein Konto in \d+ Tagen löschen<\/button>/);
    const refused = await agent.submit(page, /\/security\/delete$/, { password: 'Not#The1Password' });
    assert.equal(refused.status, 400);
    assert.match(refused.body, /<p class="error" id="password-error" role="alert">Ihr aktuelles Passwort ist nicht richtig\. Es wurde nichts geändert\.<\/p>/);
    const done = await agent.submit(page, /\/security\/delete$/, { password: user.password });
    assert.equal(h1(done), 'Ihr Konto wird gelöscht');
    assert.match(text(done.body), new RegExp(`Das Konto ${user.email.replace(/[.+]/g, '\\$&')} wird gelöscht am \\d{1,2}\\. (Januar|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember) \\d{4} \\. Sie wurden überall abgemeldet`));
  });

  it('names each broken rule in Polish on the password page', async () => {
    const { user, agent } = await signedIn({ locale: 'pl' });
    const page = await agent.visit(url('/password'));
    const refused = await agent.submit(page, /\/security\/password$/, { current: user.password, password: 'short', confirm: 'short' });
    assert.equal(refused.status, 400);
    assert.match(refused.body, /<li>Nowe hasło musi zawierać co najmniej 8 znaków\.<\/li>/);
    assert.match(refused.body, /<li>Nowe hasło musi zawierać wielką literę\.<\/li>/);
    assert.match(refused.body, /<li>Nowe hasło musi zawierać cyfrę\.<\/li>/);
    assert.doesNotMatch(refused.body, /The new password needs/);
  });
});
