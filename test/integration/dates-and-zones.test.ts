// Dates and times (and the names of browsers) on the pages an email links to, in the security center and in emails, in the
// language of the page or message and the account's zone (its `zoneinfo`), the zone named
// (i18n/format.ts): a Polish account in Warsaw reads Polish dates in Warsaw time everywhere.
import assert from 'node:assert/strict';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { createUser, RelyingParty, UserAgent, signIn, type Page } from '../support/flow.ts';
import { eventually } from '../support/mail.ts';
import { clientInfo } from '../../src/devices/client-info.ts';

const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
const lang = (page: Page) => /<html lang="([a-z-]+)">/.exec(page.body)?.[1];
const text = (html: string) => html.replace(/<[^>]+>/g, ' ').replace(/&#34;/g, '"').replace(/\s+/g, ' ');
const escaped = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** The language's long date, a 24-hour time and the zone's short name ("5 grudnia 2026, 21:48 CET"). */
const localTime = (at: Date, tag: string, zone: string) =>
  `${new Intl.DateTimeFormat(tag, { timeZone: zone, dateStyle: 'long' }).format(at)}, ${new Intl.DateTimeFormat(tag, { timeZone: zone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZoneName: 'short' }).format(at)}`;
const POLISH_WARSAW = /^\d{1,2} (stycznia|lutego|marca|kwietnia|maja|czerwca|lipca|sierpnia|września|października|listopada|grudnia) \d{4}, \d\d:\d\d CES?T$/;
const GERMAN_BERLIN = /^\d{1,2}\. (Januar|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember) \d{4}, \d\d:\d\d MES?Z$/;

describe('dates and times in the account\'s language and zone', function () {
  this.timeout(120_000);
  // one moment for everything dated here (Tessera's clock; the provider's tokens keep real time)
  const at = new Date(Math.floor(Date.now() / 60_000) * 60_000);
  const warsaw = localTime(at, 'pl', 'Europe/Warsaw');
  let t: Tessera;
  let rp: RelyingParty;
  before(async () => {
    t = await startTessera({ clock: () => at });
    rp = await RelyingParty.register(t, { skipConsent: true });
  });
  after(() => t.close());

  it('is sure of what it expects: a Polish date, in Warsaw time, the zone named', () => {
    assert.match(warsaw, POLISH_WARSAW);
    assert.match(localTime(at, 'de', 'Europe/Berlin'), GERMAN_BERLIN);
  });

  /** An account with this profile, signed in once from Firefox (so it has a device). */
  async function account(profile: { locale?: string; zoneinfo?: string }) {
    const user = await createUser(t);
    await t.services.accounts.updateProfile(user.email, profile);
    const agent = new UserAgent({ 'user-agent': FIREFOX });
    await signIn(agent, (await rp.authorize()).url, user);
    const [device] = await t.services.devices.listFor(user.id);
    assert.ok(device);
    return { user, device, agent };
  }

  it('dates the unblock page of a Polish account in Warsaw time, in Polish', async () => {
    const { user, device } = await account({ locale: 'pl', zoneinfo: 'Europe/Warsaw' });
    assert.ok(await t.services.devices.block(device.id, 'admin', 'test'));
    const page = await new UserAgent({ 'accept-language': 'en' }).visit((await t.services.unblockLinks.forNotice(user.id, device.id))!.link);
    assert.equal(lang(page), 'pl');
    assert.ok(page.body.includes(`Urządzenie: Firefox 128, Linux. Zablokowane od ${warsaw}.`), text(page.body));
  });

  it('dates "This wasn\'t me" in the account\'s zone, and in UTC for an account without one', async () => {
    const { user, device } = await account({ locale: 'pl', zoneinfo: 'Europe/Warsaw' });
    const page = await new UserAgent().visit(t.services.containment.linkFor(user.id, device.id));
    assert.ok(text(page.body).includes(`ostatnio używane ${warsaw}.`), text(page.body));

    const elsewhere = await account({ locale: 'de' });
    const german = await new UserAgent().visit(t.services.containment.linkFor(elsewhere.user.id, elsewhere.device.id));
    assert.equal(lang(german), 'de');
    assert.ok(text(german.body).includes(localTime(at, 'de', 'UTC')), text(german.body));
    assert.match(localTime(at, 'de', 'UTC'), / UTC$/);
  });

  it('dates the security center\'s devices and sessions in Warsaw time, in Polish', async () => {
    const { agent } = await account({ locale: 'pl', zoneinfo: 'Europe/Warsaw' });
    const devices = await agent.visit(`${t.issuer}/account/security/devices`);
    assert.ok(devices.body.includes(`<dt>Ostatnio używane</dt><dd>${warsaw}</dd>`), 'last used, to the minute');
    assert.ok(devices.body.includes(`<dt>Pierwsze użycie</dt><dd>${new Intl.DateTimeFormat('pl', { timeZone: 'Europe/Warsaw', dateStyle: 'long' }).format(at)}</dd>`), 'first seen, the day');
    const sessions = await agent.visit(`${t.issuer}/account/security/sessions`);
    assert.ok(text(sessions.body).includes(`Zalogowano ${warsaw}`), text(sessions.body));
  });

  it('dates the assisted recovery\'s cancel page in the account\'s zone, in the page\'s language', async () => {
    const user = await createUser(t);
    await t.services.accounts.updateProfile(user.email, { zoneinfo: 'Europe/Berlin' });
    const opened = await t.services.assistedRecovery.request((await t.services.accounts.findById(user.id))!, clientInfo('203.0.113.9', FIREFOX), '');
    assert.ok(opened.ok);
    const mail = await eventually(() => t.services.outbox.list().find((m) => m.to === user.email && /\/account\/recovery\/cancel\?token=/.test(m.text ?? '')), 'the recovery email');
    const link = /https?:\/\/[^\s"<>]+\/account\/recovery\/cancel\?token=[\w.-]+/.exec(mail.text!)![0];
    const page = await new UserAgent({ 'accept-language': 'de' }).visit(link);
    assert.ok(text(page.body).includes(`wurde am ${localTime(at, 'de', 'Europe/Berlin')} eine unterstützte Wiederherstellung angefordert.`), text(page.body));
  });

  it('suggests the new device\'s name in the page\'s language on the new-device step (no English "on" on a Polish page)', async () => {
    const user = await createUser(t, { deviceVerification: true });
    const agent = new UserAgent({ 'user-agent': FIREFOX });
    const login = await agent.visit((await rp.authorize({ ui_locales: 'pl' })).url);
    const step = await agent.submit(login, /\/login$/, { email: user.email, password: user.password });
    assert.equal(lang(step), 'pl');
    assert.match(step.body, /<span class="muted">\(Firefox 128, Linux\)<\/span>/);
    assert.doesNotMatch(step.body, /Firefox 128 on Linux/);
  });

  it('names the day of a scheduled deletion in the account\'s zone and language, on the page and in the email', async () => {
    const { user, agent } = await account({ locale: 'pl', zoneinfo: 'Europe/Warsaw' });
    const form = await agent.visit(`${t.issuer}/account/security/delete`);
    const done = await agent.submit(form, /\/security\/delete$/, { password: user.password });
    assert.equal(done.status, 200);
    const when = (await t.services.accounts.findById(user.id))!.deletionScheduledFor!;
    const day = new Intl.DateTimeFormat('pl', { timeZone: 'Europe/Warsaw', dateStyle: 'long' }).format(when);
    assert.match(day, /^\d{1,2} \S+ \d{4}$/);
    assert.ok(text(done.body).includes(`zostanie usunięte dnia ${day}`), text(done.body));
    const mail = await eventually(() => t.services.outbox.list().find((m) => m.to === user.email && (m.text ?? '').includes('Zostanie ono usunięte')), 'the deletion notice');
    assert.ok(mail.text!.includes(`Zostanie ono usunięte ${day};`), mail.text);
    assert.doesNotMatch(mail.text!, new RegExp(escaped(when.toISOString().slice(0, 10))), 'no ISO date left');
  });
});
