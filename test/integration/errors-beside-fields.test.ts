// Issue 20 (product polish): every refused form in the security center says why beside the field
// it concerns: the field is marked invalid and points to the message (aria-describedby), which
// follows it in the same form and is announced (role="alert"); a refusal of a whole form stands
// beside its button. Each page is walked through real HTTP with a bad value per form.
import assert from 'node:assert/strict';
import { generate } from 'otplib';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, UserAgent, createUser, giveVerifiedPhone, signIn, type Page, type TestUser } from '../support/flow.ts';

const MINUTE = 60_000;
const PIN = '482916';

const text = (html: string) => html.replace(/<[^>]+>/g, ' ').replace(/&#34;|&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&').replace(/\s+/g, ' ').trim();
const escaped = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The markup of the form holding the element with this id. */
function formWith(html: string, id: string): string | undefined {
  return [...html.matchAll(/<form\b[\s\S]*?<\/form>/g)].map((m) => m[0]).find((f) => f.includes(`id="${id}"`));
}

/**
 * The refusal stands beside the field (or button) `id`: the field is invalid (not a button) and
 * described by the message, which follows it in its form, is announced, says `message`, and is
 * the only place on the page that says it.
 */
function assertBeside(page: Page, id: string, message: string | RegExp): void {
  assert.equal(page.status, 400, `#${id}: refused (400)`);
  const form = formWith(page.body, id);
  assert.ok(form, `a form holds #${id}`);
  const field = new RegExp(`<(input|select|button)\\b[^>]*\\bid="${escaped(id)}"[^>]*>`).exec(form)!;
  const describedBy = /aria-describedby="([^"]+)"/.exec(field[0])?.[1];
  assert.ok(describedBy, `#${id} points to its message: ${field[0]}`);
  if (field[1] !== 'button') assert.match(field[0], /aria-invalid="true"/, `#${id} is marked invalid`);
  const error = new RegExp(`<(p|div)\\b([^>]*\\bid="${escaped(describedBy)}"[^>]*)>([\\s\\S]*?)</\\1>`).exec(form);
  assert.ok(error, `#${describedBy} is in the same form as #${id}`);
  assert.ok(error.index > field.index, `#${describedBy} follows #${id}`);
  assert.match(error[2]!, /role="alert"/, 'announced');
  assert.doesNotMatch(error[2]!, /\bhidden\b/, 'shown');
  const said = text(error[3]!);
  if (typeof message === 'string') assert.equal(said, message);
  else assert.match(said, message);
  assert.equal(text(page.body).split(said).length - 1, 1, `"${said}" is said once, beside the field (not again at the top)`);
  assert.equal(page.body.match(/aria-invalid="true"/g)?.length ?? 0, field[1] === 'button' ? 0 : 1, 'no other field is marked');
}

describe('errors beside their fields (security center)', () => {
  let t: Tessera;
  let rp: RelyingParty;
  /** Tessera's clock runs with real time plus this offset (the re-authentication window). */
  let offset = 0;
  const url = (path: string) => `${t.issuer}/account/security${path}`;

  before(async () => {
    t = await startTessera({ clock: () => new Date(Date.now() + offset) });
    rp = await RelyingParty.register(t, { skipConsent: true });
  });
  after(() => t.close());
  afterEach(() => { offset = 0; });

  async function signedIn(user: TestUser): Promise<UserAgent> {
    const agent = new UserAgent();
    await signIn(agent, (await rp.authorize()).url, user);
    return agent;
  }
  async function open(agent: UserAgent, path = ''): Promise<Page> {
    const page = await agent.visit(url(path));
    assert.equal(page.status, 200, page.body.slice(0, 300));
    return page;
  }
  /** Past the few minutes after sign-in in which a change needs no password. */
  const laterThanReauth = () => { offset += 6 * MINUTE; };
  const csrfOf = (page: Page) => /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!;
  /** A form sent as the browser would (with the page's CSRF token), with these fields. */
  const post = async (agent: UserAgent, path: string, fields: Record<string, string>) =>
    agent.request(url(path), { form: { _csrf: csrfOf(await open(agent)), ...fields } });

  it('the overview: routine second factor, authenticator app, security keys and recovery codes', async () => {
    const user = await createUser(t);
    await giveVerifiedPhone(t, user);
    const { secret } = await t.services.totp.begin(user.id, user.email);
    assert.ok(await t.services.totp.confirm(user.id, await generate({ secret })));
    const keyId = 'a1B2c3D4e5F6g7H8i9J0kA';
    await t.services.db.connection.collection<{ _id: string }>('webauthn_credentials').insertOne({
      _id: user.id, creds: { [keyId]: { publicKey: 'AA', counter: 0, transports: [], name: 'Blue key', synced: false, createdAt: new Date() } },
    } as never);
    const agent = await signedIn(user);
    await t.services.accounts.setSecondFactor(user.id, 'totp');

    const routine = await post(agent, '/second-factor', { factor: 'no-such-method' });
    assertBeside(routine, 'routine', 'Choose a method you have set up: nothing was changed.');
    assert.match(routine.body, /<p class="error">Nothing was changed: <a href="#routine">see why<\/a>\.<\/p>/, 'the top points to it');
    assertBeside(await post(agent, '/totp/remove', {}), 'remove-totp', 'Two-factor sign-in uses the authenticator app: turn it off first, then remove the app. Nothing was changed.');
    assertBeside(await post(agent, '/webauthn', { name: ' ', response: '' }), 'key-name', 'Give the key a name (up to 64 characters): nothing was added.');
    const ceremony = await post(agent, '/webauthn', { name: 'Green key', response: 'not an answer' });
    assert.match(ceremony.body, /<button type="button" id="webauthn-start" aria-describedby="webauthn-error">[^<]*<\/button>\s*<p class="error" role="alert" id="webauthn-error">The security key did not answer, or took too long\. Try again\.<\/p>/);
    await t.services.accounts.setSecondFactor(user.id, 'webauthn');
    assertBeside(await post(agent, '/webauthn/remove', { id: keyId }), `remove-key-${keyId}`, 'Two-factor sign-in uses your only security key: turn it off first, then remove the key. Nothing was changed.');

    // the current password is needed again: each form's refusal beside that form's password field
    laterThanReauth();
    const REAUTH = /^Your current password is not right, or needed again because you signed in more than a few minutes ago: nothing was changed\.$/;
    assertBeside(await post(agent, '/second-factor', { factor: 'off' }), 'routine-password', REAUTH);
    assertBeside(await post(agent, '/recovery-codes', {}), 'recovery-password', REAUTH);
    assertBeside(await post(agent, '/webauthn', { name: 'Green key', response: '' }), 'key-password', REAUTH);
    assertBeside(await post(agent, '/webauthn/remove', { id: keyId }), `key-password-${keyId}`, REAUTH);
    await t.services.accounts.setSecondFactor(user.id, undefined);
    assertBeside(await post(agent, '/totp/remove', {}), 'remove-password', REAUTH);
    assert.ok(await t.services.totp.enrolled(user.id), 'nothing was changed');
    // a key that is not on the list has no row: its refusal is said at the top
    const unknown = await post(agent, '/webauthn/remove', { id: 'no-such-key', password: user.password });
    assert.equal(unknown.status, 400);
    assert.match(unknown.body, /<p class="error" role="alert">There is no such key: nothing was changed\.<\/p>/);
  });

  it('the password page: the current password, the new one (every broken rule) and its confirmation', async () => {
    const user = await createUser(t);
    const agent = await signedIn(user);
    const change = (fields: Record<string, string>) => post(agent, '/password', { current: user.password, password: 'Violet!Ferry82x', confirm: 'Violet!Ferry82x', ...fields });
    assertBeside(await change({ current: '' }), 'current', 'Enter your current password.');
    assertBeside(await change({ current: 'Wrong#Guess1' }), 'current', 'Your current password is not right: nothing was changed.');
    assertBeside(await change({ confirm: 'Violet!Ferry82y' }), 'confirm', 'The new password and its confirmation do not match.');
    const weak = await change({ password: 'short', confirm: 'short' });
    assertBeside(weak, 'new-password', /^The new password needs at least \d+ characters\. The new password needs /);
    assert.match(weak.body, /<div id="new-password-error" role="alert"><ul class="error"><li>The new password needs at least \d+ characters\.<\/li><li>/, 'each broken rule is an item of one list');
    assert.ok(await t.services.accounts.authenticate(user.email, user.password), 'nothing was changed');
  });

  it('the PIN page: the PIN, its repeat, the password; the settings; removing it', async () => {
    const user = await createUser(t);
    const agent = await signedIn(user);
    const set = (fields: Record<string, string>) => post(agent, '/pin', { pin: PIN, repeat: PIN, password: user.password, ...fields });
    assertBeside(await set({ repeat: '482917' }), 'repeat', 'The PIN and its repeat do not match: the PIN was not changed.');
    assertBeside(await set({ pin: '1234', repeat: '1234' }), 'pin', /The PIN was not changed\.$/);
    assertBeside(await set({ password: 'Wrong#Guess1' }), 'pin-password', 'Your current password is not right: the PIN was not changed.');
    assertBeside(await post(agent, '/pin/settings', { afterSignIn: 'maybe', screenLock: '0' }), 'after', 'Choose yes or no, and a screen lock from the list: nothing was changed.');
    assertBeside(await post(agent, '/pin/settings', { afterSignIn: 'no', screenLock: '4' }), 'lock', 'Choose yes or no, and a screen lock from the list: nothing was changed.');
    assertBeside(await post(agent, '/pin/settings', { afterSignIn: 'yes', screenLock: '0' }), 'settings-save', 'Set a PIN first: nothing was changed.');
    await t.services.accounts.setPin(user.id, PIN);
    laterThanReauth();
    const REAUTH = /^Your current password is not right, or needed again/;
    assertBeside(await post(agent, '/pin/settings', { afterSignIn: 'yes', screenLock: '0' }), 'settings-password', REAUTH);
    assertBeside(await post(agent, '/pin/remove', {}), 'remove-password', REAUTH);
    assert.equal((await t.services.accounts.findById(user.id))!.security.pinSet, true, 'nothing was changed');
  });

  it('the authenticator app set-up: a wrong code beside the code, a wrong password beside the password', async () => {
    const user = await createUser(t);
    await giveVerifiedPhone(t, user);
    const agent = await signedIn(user);
    const setup = await open(agent, '/totp');
    const secret = /<code class="key"[^>]*>([A-Z2-7 ]+)<\/code>/.exec(setup.body)![1]!.replaceAll(' ', '');
    const right = await generate({ secret });
    const wrong = right === '000000' ? '111111' : '000000';
    assertBeside(await post(agent, '/totp', { code: wrong, password: user.password }), 'code', 'That code is not right. Enter the code your app shows now.');
    assertBeside(await post(agent, '/totp', { code: right, password: 'Wrong#Guess1' }), 'password', 'Your current password is not right.');
    assert.equal(await t.services.totp.enrolled(user.id), false);
  });

  it('the phone pages: add, change and delete forms; the code; making a number primary', async () => {
    const user = await createUser(t);
    await giveVerifiedPhone(t, user);
    const agent = await signedIn(user);
    const [primaryId] = [...(await open(agent, '/phones')).body.matchAll(/<li data-phone="([^"]+)">/g)].map((m) => m[1]!);
    assertBeside(await post(agent, '/phones', { number: 'not a number' }), 'number', /Nothing was changed\.$/);
    assertBeside(await post(agent, '/phones', { number: '+41 79 555 44 33', password: 'Wrong#Guess1' }), 'password', 'Your current password is not right: nothing was changed.');
    const same = await post(agent, `/phones/${primaryId}/change`, { number: '+41 79 123 45 67' });
    assertBeside(same, `number-${primaryId}`, /is already this entry's number\. Nothing was changed\.$/);
    assert.match(same.body, new RegExp(`<li data-phone="${primaryId}">[\\s\\S]*?<details open>`), 'the refused form is open');

    // the code sent to a new number
    const added = await post(agent, '/phones', { number: '+41 79 555 44 33' });
    assert.equal(added.status, 200);
    const newId = /action="\/account\/security\/phones\/([^/"]+)\/verify"/.exec(added.body)![1]!;
    const codePage = await agent.request(url(`/phones/${newId}/verify`), { form: { _csrf: csrfOf(added), channel: 'sms' } });
    assert.equal(codePage.status, 200, text(codePage.body).slice(0, 300));
    const sent = /(\d{6})/.exec(t.services.outbox.list().find((m) => m.channel === 'sms' && m.to === '+41795554433')!.text)![1]!;
    const wrongCode = await agent.request(url(`/phones/${newId}/code`), { form: { _csrf: csrfOf(codePage), channel: 'sms', code: sent === '000000' ? '111111' : '000000' } });
    assertBeside(wrongCode, 'code', /^That code is not right\./);

    // the primary number: a verified mobile, confirmed with the password
    const { phone: other } = await t.services.phones.add(user.id, '+41 79 222 33 44');
    await t.services.phones.markVerified(user.id, other.id, other.number);
    const confirm = await open(agent, `/phones/${other.id}/primary`);
    const primary = await agent.request(url(`/phones/${other.id}/primary`), { form: { _csrf: csrfOf(confirm), confirm: 'yes', password: 'Wrong#Guess1' } });
    assertBeside(primary, 'password', 'Your current password is not right: nothing was changed.');

    laterThanReauth();
    assertBeside(await post(agent, `/phones/${primaryId}/delete`, {}), `delete-password-${primaryId}`, 'Your current password is not right: nothing was changed.');
    assert.equal((await t.services.phones.list(user.id)).length, 3, 'nothing was deleted');
  });

  it('the devices pages: the name of this browser, a device\'s new name, the code', async () => {
    const user = await createUser(t);
    const agent = await signedIn(user);
    const page = await open(agent, '/devices');
    const deviceId = /<li id="device-([^"]+)">/.exec(page.body)![1]!;
    assertBeside(await post(agent, '/devices/trust', { name: ' ' }), 'device-name', 'Give this device a name of 1 to 64 characters: nothing was changed.');
    const rename = await post(agent, `/devices/${deviceId}/rename`, { name: 'x'.repeat(65) });
    assertBeside(rename, `rename-${deviceId}`, 'A device name has 1 to 64 characters: nothing was changed.');
    assert.match(rename.body, new RegExp(`<li id="device-${deviceId}">[\\s\\S]*?<details open>`), 'the refused form is open');

    // device-bound trust: a browser that sent no device key (no WebCrypto) is refused beside the button
    assertBeside(await post(agent, '/devices/trust', { name: 'Kiosk' }), 'device-key', /^This browser could not make a device key/);
    const verify = await post(agent, '/devices/trust', { name: 'Work laptop', ...(await agent.deviceKeyFields({ device_key: '' }, {})) });
    assert.equal(verify.status, 200);
    const sent = /^(\d{6}) /.exec(t.services.outbox.list().find((m) => m.to === user.email && /code to trust a device$/.test(m.subject ?? ''))!.subject!)![1]!;
    const wrong = await agent.request(url('/devices/verify'), { form: { _csrf: csrfOf(verify), device: deviceId, code: sent === '000000' ? '111111' : '000000' } });
    assertBeside(wrong, 'code', /^That code is not right\./);
  });

  it('the trusted IPs page: add, edit and delete forms', async () => {
    const user = await createUser(t);
    const entry = await t.services.trustedIps.add(user.id, '192.0.2.0/24', 'all');
    const agent = await signedIn(user);
    assertBeside(await post(agent, '/ips', { range: '10.1', skips: 'all', password: user.password }), 'range', '"10.1" is not an IP address or range. Nothing was changed.');
    assertBeside(await post(agent, '/ips', { range: '198.51.100.7', skips: 'nope', password: user.password }), 'skips', 'Choose which second factor this address skips, or all of them. Nothing was changed.');
    assertBeside(await post(agent, '/ips', { range: '198.51.100.7', skips: 'all', password: 'Wrong#Guess1' }), 'password', 'Your current password is not right: nothing was changed.');
    const edit = await post(agent, `/ips/${entry.id}`, { range: '1.2.3.4/33', skips: 'all', password: user.password });
    assertBeside(edit, `range-${entry.id}`, /^The range size after "\/" must be a number from 0 to 32\. Nothing was changed\.$/);
    laterThanReauth();
    assertBeside(await post(agent, `/ips/${entry.id}/delete`, {}), `delete-password-${entry.id}`, 'Your current password is not right: nothing was changed.');
    assert.equal((await t.services.trustedIps.list(user.id)).length, 1, 'nothing was changed');
  });

  it('the sessions page: auto-logout, signing out other sessions, a session\'s Log out', async () => {
    const user = await createUser(t);
    const agent = await signedIn(user);
    const ref = /data-session="([^"]+)"/.exec((await open(agent, '/sessions')).body)![1]!;
    assertBeside(await post(agent, '/sessions/auto-logout', { days: 'soon' }), 'days', /^Choose a number of days from 1 to \d+, or "never": nothing was changed\.$/);
    laterThanReauth();
    const REAUTH = /^Your current password is not right, or needed again/;
    assertBeside(await post(agent, '/sessions/end-others', {}), 'others-password', REAUTH);
    assertBeside(await post(agent, '/sessions/end', { session: ref }), `session-password-${ref}`, REAUTH);
    // a session that is not on the list has no row: its refusal is said at the top
    const gone = await post(agent, '/sessions/end', { session: 'no-such-session', password: user.password });
    assert.equal(gone.status, 400);
    assert.match(gone.body, /<p class="error" role="alert">There is no such session of yours \(it may have ended already\): nothing was changed\.<\/p>/);
  });

  it('the unlock page: a wrong PIN beside the PIN', async () => {
    const user = await createUser(t);
    await t.services.accounts.setPin(user.id, PIN);
    await t.services.accounts.setSessionSettings(user.id, { screenLockMinutes: 5 });
    const agent = await signedIn(user);
    offset += 6 * MINUTE;
    const unlock = await agent.visit(url(''));
    assert.match(unlock.body, /<h1>Unlock<\/h1>/);
    assertBeside(await agent.submit(unlock, /\/account\/unlock$/, { pin: '000000' }), 'pin', 'That PIN is not right. 4 tries left before you are signed out.');
  });
});
