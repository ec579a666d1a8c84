// More of the sign-in pages in Polish and German (README "Languages"): "Forgot password?" with its
// errors beside the fields, sign-up and its code page, the setup offer and the recovery codes
// after it, and the device pages an email links to (unblock, "This wasn't me"), which speak the
// language of the account the link names. English stays as it was (the pages' own tests).
import assert from 'node:assert/strict';
import { generate } from 'otplib';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { createUser, formOn, RelyingParty, UserAgent, signIn, type Page, type TestUser } from '../support/flow.ts';
import { eventually } from '../support/mail.ts';
import { ACR } from '../../src/policy/assurance.ts';
import { capAdvice } from '../../src/interaction/cap-advice.ts';
import { withCapAdvice } from '../../src/interaction/words.ts';

const lang = (page: Page) => /<html lang="([a-z-]+)">/.exec(page.body)?.[1];
const h1 = (page: Page) => /<h1>([^<]*)<\/h1>/.exec(page.body)?.[1];
/** The error shown beside field `id` (the field points to it). */
const besideField = (page: Page, id: string) => {
  assert.match(page.body, new RegExp(`id="${id}"[^>]* aria-invalid="true" aria-describedby="${id}-error"`), `${id} points to its error`);
  return new RegExp(`id="${id}-error" role="alert">([^<]*)<`).exec(page.body)?.[1];
};

describe('more sign-in pages in Polish and German', function () {
  this.timeout(120_000);
  let t: Tessera;
  let rp: RelyingParty;
  before(async () => {
    t = await startTessera({ env: { SIGNUP_ENABLED: 'true', RESEND_PER_HOUR: '1000', CODE_LOCKOUT_AFTER: '100' } });
    rp = await RelyingParty.register(t, { skipConsent: true, name: 'Bank' });
  });
  after(() => t.close());

  /** The newest 6-digit code emailed to `to` not seen before (matched by recipient, not by arrival order). */
  async function emailedCode(to: string, seen: Set<string>): Promise<string> {
    const mail = await eventually(() => t.services.outbox.list().find((m) => m.to === to && !seen.has(m.text ?? '') && /\b\d{6}\b/.test(m.text ?? '')), `a code for ${to}`);
    seen.add(mail.text ?? '');
    return /\b(\d{6})\b/.exec(mail.text!)![1]!;
  }

  async function forgotForm(agent: UserAgent, params: Record<string, string> = {}): Promise<Page> {
    const login = await agent.visit((await rp.authorize(params)).url);
    const href = /<a href="([^"]+\/forgot)"/.exec(login.body)?.[1];
    assert.ok(href, 'the sign-in page links to "Forgot password?"');
    return agent.visit(new URL(href, login.url).href);
  }

  it('walks "Forgot password?" in Polish: the form, an address refused beside its field, the code, a wrong code, the new password and its rules', async () => {
    const user = await createUser(t);
    const seen = new Set<string>();
    const agent = new UserAgent({ 'accept-language': 'de' });
    const form = await forgotForm(agent, { ui_locales: 'pl' });
    assert.equal(lang(form), 'pl');
    assert.match(form.body, /<title>Nie pamiętasz hasła · Bank<\/title>/);
    assert.equal(h1(form), 'Nie pamiętasz hasła?');
    assert.match(form.body, /Ustaw nowe, a potem przejdź do <strong>Bank<\/strong>\./);
    assert.match(form.body, />Wyślij mi kod e-mailem<\/button>/);
    const refused = await agent.submit(form, /\/forgot$/, { email: 'not-an-address' });
    assert.equal(refused.status, 400);
    assert.equal(besideField(refused, 'email'), 'Wpisz adres e-mail, którym się logujesz, np. imie@example.com.');
    const code = await agent.submit(refused, /\/forgot$/, { email: user.email, channel: 'email' });
    assert.equal(h1(code), 'Wpisz kod');
    assert.match(code.body, new RegExp(`Jeśli do adresu <strong>${user.email.replace(/[.+]/g, '\\$&')}</strong> jest przypisane konto, wysłaliśmy na niego 6-cyfrowy kod\\. Kod jest ważny przez \\d+ minut`));
    const right = await emailedCode(user.email, seen);
    const wrong = await agent.submit(code, /\/forgot\/code$/, { code: right === '000000' ? '111111' : '000000' });
    assert.equal(wrong.status, 400);
    assert.match(besideField(wrong, 'code') ?? '', /^Ten kod jest nieprawidłowy\. Zostały? \d+ prób/);
    const password = await agent.submit(wrong, /\/forgot\/code$/, { code: right });
    assert.equal(h1(password), 'Ustaw nowe hasło');
    assert.match(password.body, /<p>Wymagania dla nowego hasła:<\/p>/);
    assert.match(password.body, /<li>co najmniej 8 znaków<\/li>/);
    assert.match(password.body, /<label for="new-password">Nowe hasło<\/label>/);
    const weak = await agent.submit(password, /\/forgot\/password$/, { password: 'abcdefgh', confirm: 'abcdefgh' });
    assert.equal(weak.status, 400);
    assert.match(weak.body, /<li>Nowe hasło nie spełnia wymagania: wielka litera\.<\/li>/);
    const mismatch = await agent.submit(weak, /\/forgot\/password$/, { password: 'Brand#New#Horse7', confirm: 'Brand#New#Horse8' });
    assert.equal(besideField(mismatch, 'confirm'), 'Nowe hasło i jego powtórzenie nie są takie same.');
  });

  it('says "Forgot password?" in German to a browser that prefers it, errors beside the field included', async () => {
    const agent = new UserAgent({ 'accept-language': 'de-DE,de;q=0.9' });
    const form = await forgotForm(agent);
    assert.equal(lang(form), 'de');
    assert.equal(h1(form), 'Passwort vergessen?');
    assert.match(form.body, /<label for="email">E-Mail<\/label>|<label for="email">E-Mail-Adresse<\/label>/);
    assert.match(form.body, />Code per E-Mail senden<\/button>/);
    const refused = await agent.submit(form, /\/forgot$/, { email: 'nobody' });
    assert.equal(besideField(refused, 'email'), 'Geben Sie die E-Mail-Adresse ein, mit der Sie sich anmelden, zum Beispiel name@example.com.');
    const code = await agent.submit(refused, /\/forgot$/, { email: 'nobody@example.com', channel: 'sms' });
    assert.equal(h1(code), 'Code eingeben');
    assert.match(code.body, /Wenn zu <strong>nobody@example\.com<\/strong> ein Konto mit bestätigter Mobilnummer gehört, haben wir einen 6-stelligen Code per SMS an diese Nummer gesendet\. Er ist \d+ Minuten gültig/);
    assert.match(code.body, />Code stattdessen per E-Mail senden<\/button>/);
  });

  it('shows sign-up in German and Polish: the form, the rules, refusals beside their fields, and the code page', async () => {
    const agent = new UserAgent({ 'accept-language': 'de' });
    const login = await agent.visit((await rp.authorize()).url);
    const href = /<a href="([^"]+\/sign-up)">/.exec(login.body)![1]!;
    const form = await agent.visit(new URL(href, login.url).href);
    assert.equal(lang(form), 'de');
    assert.match(form.body, /<title>Konto erstellen · Bank<\/title>/);
    assert.match(form.body, /<p class="lead">um mit <strong>Bank<\/strong> fortzufahren<\/p>|<p class="lead">[^<]*<strong>Bank<\/strong>[^<]*<\/p>/);
    assert.match(form.body, /<li>einen Großbuchstaben<\/li>/);
    const f = formOn(form, /\/sign-up$/);
    const refused = await agent.request(f.action, { form: { ...f.fields, email: 'kein-adresse', name: '', password: 'Horse#Battery9Staple', confirm: 'Horse#Battery9Staple' } });
    assert.equal(refused.status, 400);
    assert.equal(besideField(refused, 'email'), '„kein-adresse“ ist keine E-Mail-Adresse.');
    assert.equal(besideField(refused, 'name'), 'Geben Sie Ihren Namen ein.');
    const mismatch = await agent.request(f.action, { form: { ...f.fields, email: `neu-${Date.now()}@example.com`, name: 'Jana', password: 'Horse#Battery9Staple', confirm: 'Horse#Battery9Stable' } });
    assert.equal(besideField(mismatch, 'confirm'), 'Das Passwort und seine Wiederholung stimmen nicht überein.');

    const polish = new UserAgent({ 'accept-language': 'pl' });
    const plLogin = await polish.visit((await rp.authorize()).url);
    const plForm = await polish.visit(new URL(/<a href="([^"]+\/sign-up)">/.exec(plLogin.body)![1]!, plLogin.url).href);
    assert.equal(h1(plForm), 'Załóż konto');
    const pf = formOn(plForm, /\/sign-up$/);
    const weak = await polish.request(pf.action, { form: { ...pf.fields, email: `nowy-${Date.now()}@example.com`, name: 'Jan', password: 'short', confirm: 'short' } });
    assert.match(besideField(weak, 'password') ?? '', /^Hasło nie spełnia wymagań: co najmniej 8 znaków, wielka litera/);
    const address = `nowa-${Date.now()}@example.com`;
    const sent = await polish.request(pf.action, { form: { ...pf.fields, email: address, name: 'Anna', password: 'Horse#Battery9Staple', confirm: 'Horse#Battery9Staple' } });
    const code = await polish.visit(new URL(sent.headers.get('location')!, pf.action).href);
    assert.equal(lang(code), 'pl');
    assert.equal(h1(code), 'Potwierdź adres e-mail');
    assert.match(code.body, new RegExp(`Wysłaliśmy 6-cyfrowy kod e-mailem na adres ${address.replace(/[.+]/g, '\\$&')}\\.`));
    assert.match(code.body, />Utwórz moje konto<\/button>/);
  });

  it('offers the setup and shows the recovery codes in German (ui_locales=de)', async () => {
    const user: TestUser = await createUser(t);
    const seen = new Set<string>();
    const agent = new UserAgent();
    const offer = await agent.submit(await agent.visit((await rp.authorize({ acr_values: ACR.mfa, ui_locales: 'de' })).url), /\/login$/, { email: user.email, password: user.password });
    assert.equal(lang(offer), 'de');
    assert.match(offer.body, /<strong>Bank<\/strong> verlangt einen zweiten Faktor, und Ihr Konto hat noch keinen\./);
    assert.match(offer.body, /Bestätigen Sie zuerst, dass es Ihr Konto ist\. Wir haben einen 6-stelligen Code an .+ gesendet\./);
    assert.match(offer.body, /<label for="code">Code aus der E-Mail<\/label>/);
    assert.match(offer.body, />Nicht jetzt \(die Anwendung meldet Sie dann nicht an\)<\/button>/);
    const choose = await agent.submit(offer, /\/enrol\/email$/, { code: await emailedCode(user.email, seen) });
    assert.match(choose.body, /<h2>Authenticator-App<\/h2>/);
    const secret = /<code class="key">([A-Z2-7 ]+)<\/code>/.exec(choose.body)![1]!.replaceAll(' ', '');
    const refused = await agent.submit(choose, /\/enrol\/totp$/, { code: '000000' });
    assert.match(refused.body, /role="alert">Dieser Code ist nicht richtig\. Geben Sie den Code ein, den Ihre App jetzt anzeigt\.<\/p>/);
    const codes = await agent.submit(refused, /\/enrol\/totp$/, { code: await generate({ secret }) });
    assert.equal(h1(codes), 'Speichern Sie Ihre Wiederherstellungscodes');
    assert.match(codes.body, /role="status">Ihre Authenticator-App ist eingerichtet\.<\/p>/);
    assert.match(codes.body, /<button type="submit">Weiter zu Bank<\/button>/);
    const file = decodeURIComponent(/href="data:text\/plain;charset=utf-8,([^"]+)"/.exec(codes.body)![1]!);
    assert.ok(file.startsWith(`Tessera-Wiederherstellungscodes für ${user.email}\n`), file);
    const again = await agent.visit(formOn(codes, /\/enrol\/continue$/).action.replace(/\/enrol\/continue$/, ''));
    assert.equal(h1(again), 'Ihre Wiederherstellungscodes wurden bereits angezeigt');
  });

  /** A user whose profile says `locale`, signed in once from a browser (a registration of the account). */
  async function userSpeaking(locale: string) {
    const user = await createUser(t);
    await t.services.accounts.updateProfile(user.email, { locale });
    await signIn(new UserAgent({ 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0' }), (await rp.authorize()).url, user);
    const [device] = await t.services.devices.listFor(user.id);
    assert.ok(device);
    return { user, device };
  }

  it('shows the unblock page in the language of the link\'s account (German), its refused password included', async () => {
    const { user, device } = await userSpeaking('de-AT');
    assert.ok(await t.services.devices.block(device.id, 'admin', 'test'));
    const link = (await t.services.unblockLinks.forNotice(user.id, device.id))!.link;
    const agent = new UserAgent({ 'accept-language': 'en' });
    const page = await agent.visit(link);
    assert.equal(lang(page), 'de', 'the account\'s language beats the browser\'s');
    assert.match(page.body, /<title>Gerät entsperren · Tessera<\/title>/);
    assert.match(page.body, /Ein Gerät ist nach zu vielen fehlgeschlagenen Versuchen für die Anmeldung bei <strong>[^<]+<\/strong> gesperrt\./);
    assert.match(page.body, /Das Gerät: Firefox 128 unter Linux\. Gesperrt seit \d{1,2}\. (Januar|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember) \d{4}, \d\d:\d\d UTC\./);
    const wrong = await agent.submit(page, /\/unblock-device\/password$/, { password: 'Wrong#Guess9' });
    assert.equal(wrong.status, 400);
    assert.equal(besideField(wrong, 'password'), 'Dieses Passwort ist nicht richtig, oder für dieses Konto wurden in letzter Zeit zu viele falsche Passwörter eingegeben (dann warten Sie einige Minuten). Es wurde nichts geändert.');
    const code = await agent.submit(wrong, /\/unblock-device\/password$/, { password: user.password });
    assert.match(code.body, /<title>Gerät entsperren: Code eingeben · Tessera<\/title>/);
    assert.match(code.body, />Gerät entsperren<\/button>/);
    // a broken link names no account: the browser's language
    const broken = await new UserAgent({ 'accept-language': 'pl' }).request(`${t.issuer}/account/unblock-device?token=nope`);
    assert.equal(lang(broken), 'pl');
    assert.match(broken.body, /role="alert">Ten link do odblokowania jest nieprawidłowy\. Nic nie zostało zmienione\.<\/p>/);
  });

  it('shows "This wasn\'t me" in the language of the link\'s account (Polish), before and after securing the account', async () => {
    const { user, device } = await userSpeaking('pl');
    const link = t.services.containment.linkFor(user.id, device.id);
    const agent = new UserAgent();
    const page = await agent.visit(link);
    assert.equal(lang(page), 'pl');
    assert.equal(h1(page), 'Zabezpiecz swoje konto');
    assert.match(page.body, /Logowanie do konta <strong>[^<]+<\/strong> to nie Ty\? Zabezpiecz konto teraz\./);
    assert.match(page.body, /Urządzenie: Firefox 128, Linux/);
    assert.match(page.body, /unieważnia obecne hasło: nowe ustawisz przez <strong>Nie pamiętasz hasła\?<\/strong> na stronie logowania;/);
    const done = await agent.submit(page, /\/account\/not-me$/);
    assert.equal(h1(done), 'Twoje konto jest zabezpieczone');
    assert.match(done.body, /<title>Twoje konto jest zabezpieczone · Tessera<\/title>/);
    const used = await new UserAgent({ 'accept-language': 'de' }).visit(link);
    assert.equal(used.status, 400);
    assert.equal(lang(used), 'de', 'a used link names no account: the browser\'s language');
    assert.match(used.body, /role="alert">Dieser Link wurde bereits verwendet: Das Konto wurde damals gesichert\. Es wurde nichts weiter geändert\.<\/p>/);
  });
});

describe('the advice at a daily cap on texts and calls, in the page\'s language', () => {
  const options = [
    { id: 'sms', label: 'Text me a code', usable: false },
    { id: 'email', label: 'Email me a code', usable: true },
    { id: 'totp', label: 'Use my authenticator app', usable: true },
  ];
  const prompt = { input: 'code' as const, instructions: '', canResend: false, capped: true, problem: 'No code was sent: your phone number has had the most text messages and calls we send it in a day.', said: { problem: { key: 'interaction:sendProblems.ownerCap' } } };

  it('keeps the English sentence and names the other methods in Polish and German', () => {
    const en = withCapAdvice('en', prompt, options);
    assert.equal(en.problem, capAdvice(prompt.problem, options));
    const t = (locale: string) => {
      const p = withCapAdvice(locale, prompt, options);
      return { key: p.said!.problem!.key, vars: p.said!.problem!.vars };
    };
    assert.deepEqual(t('pl'), { key: 'interaction:capAdvice.choose', vars: { problem: 'Nie wysłano kodu: na Twój numer telefonu wysłaliśmy już dziś najwięcej SMS-ów i połączeń, ile wysyłamy w ciągu doby.', names: '„Wyślij mi kod e-mailem” lub „Użyj aplikacji uwierzytelniającej”' } });
    assert.equal(t('de').vars!.names, '„Code per E-Mail senden“ oder „Authenticator-App verwenden“');
    const none = withCapAdvice('de', prompt, [options[0]!]);
    assert.equal(none.said!.problem!.key, 'interaction:capAdvice.none');
  });
});
