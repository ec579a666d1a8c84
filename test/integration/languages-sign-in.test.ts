// The sign-in pages in English, Polish and German (README "Languages"): the language an
// application asks for (ui_locales) beats the browser's (Accept-Language), the switcher's choice
// beats both, an unknown language falls back, DEFAULT_LANGUAGE sets the default, and errors and
// the risk sentence appear in the page's language while logs and history keep English.
import assert from 'node:assert/strict';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { createUser, RelyingParty, UserAgent, REDIRECT_URI, type Page, type TestUser } from '../support/flow.ts';
import { eventually } from '../support/mail.ts';
import { assessRisk, riskSentence, type RiskAssessment } from '../../src/policy/risk.ts';
import { riskSentenceIn } from '../../src/interaction/words.ts';

const lang = (page: Page) => /<html lang="([a-z-]+)">/.exec(page.body)?.[1];

describe('the sign-in pages in three languages', () => {
  let t: Tessera;
  let rp: RelyingParty;
  before(async () => {
    t = await startTessera();
    rp = await RelyingParty.register(t);
  });
  after(() => t.close());

  /** The newest code emailed to `user` (matched by recipient, not by arrival order among others). */
  async function emailedCode(user: TestUser, seen: Set<string>): Promise<string> {
    const mail = await eventually(() => t.services.outbox.list().find((m) => m.to === user.email && !seen.has(m.text ?? '') && /\b\d{6}\b/.test(m.text ?? '')), `a code for ${user.email}`);
    seen.add(mail.text ?? '');
    return /\b(\d{6})\b/.exec(mail.text!)![1]!;
  }

  async function emailFactorUser(): Promise<TestUser> {
    const user = await createUser(t);
    await t.services.accounts.setSecondFactor(user.id, 'email');
    return user;
  }

  it('walks a whole sign-in in Polish when the application asks for ui_locales=pl: sign-in, a wrong password, the emailed code, a wrong code, the consent', async () => {
    const user = await emailFactorUser();
    const agent = new UserAgent({ 'accept-language': 'de-DE,de;q=0.9' });
    const login = await agent.visit((await rp.authorize({ ui_locales: 'pl' })).url);
    assert.equal(lang(login), 'pl', 'ui_locales beats Accept-Language');
    assert.match(login.body, /<title>Logowanie · Tessera<\/title>/);
    assert.match(login.body, /<h1>Zaloguj się<\/h1>/);
    assert.match(login.body, /<label for="password">Hasło<\/label>/);
    assert.match(login.body, /Nie pamiętasz hasła\?/);
    const wrong = await agent.submit(login, /\/login$/, { email: user.email, password: 'Wrong#Horse1' });
    assert.equal(lang(wrong), 'pl');
    assert.match(wrong.body, /role="alert">Nieprawidłowy adres e-mail lub hasło\./);
    const seen = new Set<string>();
    const factor = await agent.submit(wrong, /\/login$/, { email: user.email, password: user.password });
    assert.equal(lang(factor), 'pl');
    assert.match(factor.body, /<h1>Potwierdź, że to Ty<\/h1>/);
    assert.match(factor.body, /Przy logowaniu Twoje konto wymaga drugiego kroku\./);
    assert.match(factor.body, /Wysłaliśmy 6-cyfrowy kod e-mailem na adres .+\. Jest ważny przez \d+ minut/);
    assert.match(factor.body, />Potwierdź<\/button>/);
    assert.match(factor.body, />Wyślij kod ponownie<\/button>/);
    const code = await emailedCode(user, seen);
    const badCode = code === '000000' ? '111111' : '000000';
    const refused = await agent.submit(factor, /\/factor$/, { code: badCode });
    assert.equal(refused.status, 400);
    assert.match(refused.body, /role="alert">Ten kod jest nieprawidłowy\. Zostały? \d+ prób/);
    const consent = await agent.submit(refused, /\/factor$/, { code });
    assert.equal(lang(consent), 'pl');
    assert.match(consent.body, /<h1>Zezwolić na dostęp\?<\/h1>/);
    assert.match(consent.body, /<strong>[^<]+<\/strong> prosi o zgodę na:/);
    assert.match(consent.body, /wgląd w Twój adres e-mail/);
    assert.match(consent.body, />Zezwól<\/button>/);
    const done = await agent.submit(consent, /\/confirm$/);
    assert.ok(done.url.startsWith(REDIRECT_URI), 'signed in');
  });

  it('speaks German to a browser that prefers it (Accept-Language: de), on the sign-in and the second-factor page', async () => {
    const user = await emailFactorUser();
    const agent = new UserAgent({ 'accept-language': 'de' });
    const login = await agent.visit((await rp.authorize()).url);
    assert.equal(lang(login), 'de');
    assert.match(login.body, /<h1>Anmelden<\/h1>/);
    assert.match(login.body, /<label for="password">Passwort<\/label>/);
    const factor = await agent.submit(login, /\/login$/, { email: user.email, password: user.password });
    assert.equal(lang(factor), 'de');
    assert.match(factor.body, /<h1>Bestätigen Sie, dass Sie es sind<\/h1>/);
    assert.match(factor.body, /Wir haben einen 6-stelligen Code an .+ gesendet\. Er ist \d+ Minuten gültig\./);
    assert.match(factor.body, /Ich kann diese Methode nicht verwenden/);
  });

  it('keeps the English pages as they were', async () => {
    const user = await emailFactorUser();
    const agent = new UserAgent();
    const login = await agent.visit((await rp.authorize()).url);
    assert.equal(lang(login), 'en');
    assert.match(login.body, /<h1>Sign in<\/h1>\n  <p class="lead">to continue to <strong>[^<]+<\/strong><\/p>/);
    const factor = await agent.submit(login, /\/login$/, { email: user.email, password: user.password });
    assert.match(factor.body, /<p class="lead">Your account asks for a second step when you sign in\.<\/p>/);
    assert.match(factor.body, /<p id="code-sent">We emailed a 6-digit code to [^<]+\. It is valid for \d+ minutes\.<\/p>/);
  });

  it('lets the switcher\'s choice win over ui_locales and Accept-Language, and never sends the switcher off-site', async () => {
    const agent = new UserAgent({ 'accept-language': 'pl' });
    const login = await agent.visit((await rp.authorize({ ui_locales: 'pl' })).url);
    assert.equal(lang(login), 'pl');
    const back = new URL(login.url).pathname;
    const switched = await agent.request(`${t.issuer}/language?to=de&back=${encodeURIComponent(back)}`);
    assert.equal(switched.status, 303);
    assert.equal(switched.headers.get('location'), back);
    const again = await agent.visit(`${t.issuer}${back}`);
    assert.equal(lang(again), 'de');
    assert.match(again.body, /<h1>Anmelden<\/h1>/);
    for (const evil of ['//evil.example/x', '/\\evil.example', 'https://evil.example/']) {
      const res = await agent.request(`${t.issuer}/language?to=pl&back=${encodeURIComponent(evil)}`);
      assert.equal(res.headers.get('location'), '/', evil);
    }
  });

  it('falls back from an unsupported ui_locales to Accept-Language, then to the default', async () => {
    const german = await new UserAgent({ 'accept-language': 'de' }).visit((await rp.authorize({ ui_locales: 'xx tlh' })).url);
    assert.equal(lang(german), 'de');
    const english = await new UserAgent().visit((await rp.authorize({ ui_locales: 'xx' })).url);
    assert.equal(lang(english), 'en');
    assert.match(english.body, /<h1>Sign in<\/h1>/);
  });

  it('shows an error page (a UserFacingError) and the page-not-found page in the page\'s language', async () => {
    const polish = await new UserAgent({ 'accept-language': 'pl' }).visit(`${t.issuer}/interaction/no-such-sign-in`);
    assert.equal(polish.status, 400);
    assert.equal(lang(polish), 'pl');
    assert.match(polish.body, /role="alert">To logowanie wygasło albo zostało już zakończone\. Wróć do aplikacji i zacznij od nowa\.<\/p>/);
    const english = await new UserAgent().request(`${t.issuer}/interaction/no-such-sign-in`);
    assert.match(english.body, /This sign-in has expired or was already completed\. Go back to the application and start again\./);
    const json = await fetch(`${t.issuer}/interaction/no-such-sign-in`, { headers: { accept: 'application/json', 'accept-language': 'de' } });
    assert.equal(((await json.json()) as { error_description: string }).error_description, 'This sign-in has expired or was already completed. Go back to the application and start again.', 'JSON keeps English');
    const missing = await new UserAgent({ 'accept-language': 'de' }).request(`${t.issuer}/nothing-here`);
    assert.equal(missing.status, 404);
    assert.match(missing.body, /<title>Seite nicht gefunden · Tessera<\/title>/);
    assert.match(missing.body, /Die Adresse <code>\/nothing-here<\/code> führt in Tessera nirgendwohin\./);
  });
});

describe('DEFAULT_LANGUAGE', () => {
  let t: Tessera;
  before(async () => { t = await startTessera({ env: { DEFAULT_LANGUAGE: 'de' } }); });
  after(() => t.close());

  it('is the language of a page nobody asked a language for', async () => {
    const rp = await RelyingParty.register(t);
    const login = await new UserAgent().visit((await rp.authorize()).url);
    assert.equal(lang(login), 'de');
    assert.match(login.body, /<h1>Anmelden<\/h1>/);
    const polish = await new UserAgent({ 'accept-language': 'pl' }).visit((await rp.authorize()).url);
    assert.equal(lang(polish), 'pl', 'a browser\'s own language still wins');
  });
});

describe('the risk sentence in the page\'s language', () => {
  const settings = { mode: 'enforce', actions: { 'new-device': 'second-factor', 'new-country': 'second-factor', 'impossible-travel': 'second-factor', 'failure-velocity': 'second-factor', 'long-inactivity': 'second-factor', 'session-moved': 'second-factor' }, notify: [], maxSpeedKmh: 900, maxFailuresPerHour: 5, inactiveDays: 90 } as never;
  const now = 1_800_000_000;
  const a: RiskAssessment = assessRisk({
    now, newDevice: true, trusted: { device: false, ip: false },
    here: { country: 'BR', city: 'São Paulo', ll: [-23.55, -46.63] },
    history: { countries: ['PL'], last: { at: now - 2 * 3600, country: 'PL', city: 'Warsaw', ll: [52.23, 21.01] }, failuresLastHour: 7 },
  } as never, settings);

  it('says the same English words as the policy (audit and history keep those), and translates each reason\'s facts', () => {
    assert.deepEqual(a.reasons.map((r) => r.code).sort(), ['failure-velocity', 'impossible-travel', 'new-country', 'new-device']);
    assert.equal(riskSentenceIn('en', a), riskSentence(a));
    const pl = riskSentenceIn('pl', a)!;
    assert.match(pl, /^To logowanie jest nietypowe dla Twojego konta: /);
    assert.match(pl, /pierwsze logowanie z kraju: Brazylia; poprzednie logowanie z kraju: Polska, 2 godz\. temu/);
    assert.match(pl, /7 nieudanych prób logowania w ostatniej godzinie/);
    const de = riskSentenceIn('de', a)!;
    assert.match(de, /erste Anmeldung aus Brasilien; vorherige Anmeldung aus Polen vor 2 Std\./);
    assert.match(de, /São Paulo, Brasilien liegt 10\.\d{3} km vom Ort der vorherigen Anmeldung entfernt \(Warsaw, Polen, vor 2 Std\.\): schneller als 900 km\/h/);
    // an assessment stored before the reasons carried their facts keeps its English fragment
    assert.match(riskSentenceIn('de', { reasons: [{ code: 'new-device', action: 'second-factor', text: 'first sign-in from this device' }] })!, /^Diese Anmeldung ist für Ihr Konto ungewöhnlich: first sign-in from this device\.$/);
  });
});
