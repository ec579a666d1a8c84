// Every email and text message renders in every language with no key left untranslated (a key
// named only at run time, such as a code's purpose, is invisible to the translations test), its
// HTML names its language, and the reader's language comes from its locale, else the default.
import assert from 'node:assert/strict';
import { createMessages, readerOf, type CodeMessages } from '../../src/notify/messages.ts';
import { LANGUAGES, loadResources } from '../../src/i18n/index.ts';
import type { CodePurpose } from '../../src/factors/types.ts';

const PURPOSES: CodePurpose[] = ['sign-in', 'new-device', 'device-trust', 'device-remove', 'phone-verify', 'device-unblock', 'email-change', 'email-verify', 'sign-up', 'password-reset'];
const seen = { at: new Date('2026-03-05T13:05:00Z'), ip: '203.0.113.9', where: 'Warsaw, Poland', browser: 'Firefox 130', os: 'Linux' };
const links = { wasMe: 'https://id.example/account/security/devices', notMe: 'https://id.example/secure/abc', days: 7 };
const about = { member: 'ada@example.com', organisation: 'Acme' };

/** Every message each function can write (one call per branch). */
async function everything(m: CodeMessages): Promise<{ name: string; text: string; html?: string; subject?: string }[]> {
  const out: { name: string; text: string; html?: string; subject?: string }[] = [];
  const email = async (name: string, made: Promise<{ subject: string; text: string; html: string }>) => { const e = await made; out.push({ name, ...e }); };
  for (const p of PURPOSES) {
    await email(`signInCode ${p}`, m.signInCode('a@x', '123456', 10, p));
    out.push({ name: `smsCode ${p}`, text: m.smsCode('123456', 10, p) });
  }
  await email('emailAddressCode change', m.emailAddressCode('a@x', '123456', 1, 'email-change'));
  await email('emailAddressCode verify', m.emailAddressCode('a@x', '123456', 3, 'email-verify'));
  for (const left of [0, 1, 2, 5]) await email(`recoveryCodeUsed ${left}`, m.recoveryCodeUsed('a@x', left));
  await email('newDevice', m.newDevice('a@x', seen));
  await email('newDevice admin', m.newDevice('a@x', seen, about));
  await email('newDevice links', m.newDevice('a@x', { ...seen, where: 'unknown location' }, undefined, { ...links, days: 1 }));
  await email('unusualSignIn', m.unusualSignIn('a@x', seen, ['a new country'], links));
  await email('unusualSignIn no links', m.unusualSignIn('a@x', seen, ['a new country']));
  await email('accountSecured', m.accountSecured('a@x', 'Firefox on Linux', seen));
  await email('accountSecured admin', m.accountSecured('a@x', 'Firefox on Linux', seen, about));
  await email('deviceBlocked', m.deviceBlocked('a@x', seen, 5));
  for (const hours of [1, 3, 24]) await email(`deviceBlocked ${hours}`, m.deviceBlocked('a@x', seen, 5, { link: 'https://id.example/unblock', hours }));
  await email('copiedCookie', m.copiedCookie('a@x', 'Laptop', seen, 3));
  for (const minutes of [1, 2, 5]) await email(`accountLocked ${minutes}`, m.accountLocked('a@x', seen, minutes));
  await email('deviceTrusted', m.deviceTrusted('a@x', 'Laptop', seen.at, 'Phone'));
  out.push({ name: 'deviceTrustedSms', text: m.deviceTrustedSms('Laptop', seen.at) });
  out.push({ name: 'voiceCode', text: m.voiceCode('123456') });
  await email('securityChange', m.securityChange('a@x', 'Your password was changed.', seen, { key: 'email:securityChange.password' }));
  await email('securityChange ended', m.securityChange('a@x', 'Your password was changed and 2 other sessions were signed out.', seen, { key: 'email:securityChange.passwordEnded', vars: { count: 2 } }));
  for (const hours of [1, 72]) {
    await email(`invitation ${hours}`, m.invitation('a@x', 'https://id.example/set', hours));
    await email(`passwordResetByAdmin ${hours}`, m.passwordResetByAdmin('a@x', 'https://id.example/set', hours));
  }
  await email('mfaReset', m.mfaReset('a@x'));
  await email('securityChange nested', m.securityChange('a@x', 'Your PIN settings changed. PIN after sign-in: yes; screen lock: after 5 minutes of inactivity.', seen,
    { key: 'email:securityChange.pinSettings', vars: { afterSignIn: { key: 'account:common.yes' }, screenLock: { key: 'email:securityChange.screenLockAfter', vars: { count: 5 } } } }));
  await email('unusualSignIn reasons', m.unusualSignIn('a@x', seen, [{ code: 'new-country', action: 'second-factor', text: 'first sign-in from Germany', vars: { country: 'DE' } }]));
  await email('assistedRecovery requested', m.assistedRecovery('a@x', 'requested', { seen, cancel: 'https://id.example/cancel' }));
  await email('assistedRecovery approved', m.assistedRecovery('a@x', 'approved', { until: seen.at, cancel: 'https://id.example/cancel' }));
  await email('assistedRecovery rejected', m.assistedRecovery('a@x', 'rejected', {}));
  await email('assistedRecovery cancelled', m.assistedRecovery('a@x', 'cancelled', {}));
  out.push({ name: 'assistedRecoverySms', text: m.assistedRecoverySms(seen.at, 'https://id.example/cancel') });
  await email('webhookDisabled', m.webhookDisabled('a@x', { url: 'https://hooks.example/in', description: 'CRM' }, 'msg_1', 'https://id.example/admin/webhooks/w1'));
  await email('webhookDisabled own', m.webhookDisabled('a@x', { url: 'https://hooks.example/in' }, 'msg_1', 'https://id.example/admin/webhooks/w1', 'https://id.example/account/w1'));
  await email('emailChanged', m.emailChanged('a@x', 'b***@example.com', seen));
  await email('passwordResetCode', m.passwordResetCode('a@x', '123456', 10));
  await email('signUpCode', m.signUpCode('a@x', '123456', 10));
  await email('signUpAttempt', m.signUpAttempt('a@x'));
  return out;
}

describe('emails and text messages in every language (notify/messages.ts)', () => {
  const keys = [...function* flat(tree: Record<string, unknown>, prefix: string): Generator<string> {
    for (const [k, v] of Object.entries(tree)) {
      if (v && typeof v === 'object') yield* flat(v as Record<string, unknown>, `${prefix}${k}.`);
      else yield `${prefix}${k}`.replace(/_(one|few|many|other)$/, '');
    }
  }(loadResources().en!.email!, '')];
  const messages = createMessages('Tessera', 10);

  for (const language of LANGUAGES) {
    it(`${language}: every message is written with no key left as a key, and its HTML says lang="${language}"`, async () => {
      const all = await everything(messages.in({ locale: language }));
      for (const message of all) {
        const words = [message.subject ?? '', message.text, message.html ?? ''].join('\n');
        const leftover = keys.filter((k) => words.includes(k) || words.includes(`email:${k}`));
        assert.deepEqual(leftover, [], `${message.name} (${language})`);
        assert.doesNotMatch(words, /\{\{|\}\}|undefined|NaN/, `${message.name} (${language})`);
        if (message.html) assert.match(message.html, new RegExp(`<html lang="${language}">`), `${message.name} (${language})`);
      }
      if (language !== 'en') {
        // nothing in English: the English messages and these share no sentence
        const english = await everything(messages.in({ locale: 'en' }));
        for (const [i, message] of all.entries()) assert.notEqual(message.text, english[i]!.text, `${message.name} is translated into ${language}`);
      }
    });
  }

  it('picks the language of the locale (its primary subtag), else the default, and the page\'s language only when the account names none', async () => {
    const subject = async (m: CodeMessages) => (await m.signInCode('a@x', '123456')).subject;
    assert.equal(await subject(messages.in({ locale: 'pl-PL' })), '123456 to Twój kod logowania do Tessera');
    assert.equal(await subject(messages.in({ locale: 'de_AT' })), '123456 ist Ihr Anmeldecode für Tessera');
    assert.equal(await subject(messages.in({ locale: 'fr' })), '123456 is your Tessera sign-in code');
    assert.equal(await subject(createMessages('Tessera', 10, 'pl').in({ locale: 'fr' })), '123456 to Twój kod logowania do Tessera');
    assert.equal(await subject(createMessages('Tessera', 10, 'de')), '123456 ist Ihr Anmeldecode für Tessera');
    assert.deepEqual(readerOf({ account: { profile: { locale: 'de', zoneinfo: 'Europe/Berlin' } }, language: 'pl' }), { locale: 'de', zoneinfo: 'Europe/Berlin' });
    assert.deepEqual(readerOf({ account: { profile: { zoneinfo: 'Europe/Berlin' } }, language: 'pl' }), { locale: 'pl', zoneinfo: 'Europe/Berlin' });
    assert.deepEqual(readerOf({ account: {}, language: 'de' }), { locale: 'de' });
  });

  it('dates a message in the reader\'s zone, as the language writes dates', async () => {
    const when = async (m: CodeMessages) => (await m.newDevice('a@x', seen)).text.split('\n').find((l) => /^\s{4}\S+:/.test(l))!.trim();
    assert.equal(await when(messages.in({ locale: 'en' })), 'When:     5 March 2026, 13:05 UTC');
    assert.equal(await when(messages.in({ locale: 'en', zoneinfo: 'Europe/Warsaw' })), 'When:     5 March 2026, 14:05 CET');
    assert.equal(await when(messages.in({ locale: 'pl', zoneinfo: 'Europe/Warsaw' })), 'Kiedy:         5 marca 2026, 14:05 CET');
    assert.equal(await when(messages.in({ locale: 'de', zoneinfo: 'America/New_York' })), 'Wann:     5. März 2026, 08:05 GMT-5');
    assert.equal(await when(messages.in({ locale: 'pl', zoneinfo: 'Mars/Olympus' })), 'Kiedy:         5 marca 2026, 13:05 UTC');
    assert.equal(messages.in({ locale: 'de', zoneinfo: 'Europe/Berlin' }).deviceTrustedSms('Laptop', seen.at), 'Tessera: „Laptop“ ist bis 5. März 2026 ein vertrauenswürdiges Gerät. Nicht Sie? Entfernen Sie es unter Sicherheit > Geräte.');
  });

  it('writes a day a security notice names (the scheduled deletion) as the reader\'s day', async () => {
    // 23:30 UTC is already the next day in Warsaw
    const said = { key: 'email:securityChange.deletionScheduled', vars: { date: { day: new Date('2026-12-05T23:30:00Z') } } };
    const polish = await messages.in({ locale: 'pl', zoneinfo: 'Europe/Warsaw' }).securityChange('a@x', 'English', seen, said);
    assert.match(polish.text, /Zostanie ono usunięte 6 grudnia 2026;/);
    const english = await messages.in({ locale: 'en' }).securityChange('a@x', 'English', seen, said);
    assert.match(english.text, /It will be deleted on 5 December 2026;/);
  });

  it('escapes what it prints in HTML, the words and the values alike, in every language', async () => {
    for (const language of LANGUAGES) {
      const mail = await messages.in({ locale: language }).newDevice('a@x', { ...seen, browser: '<script>x</script>' }, { member: 'a&b@example.com', organisation: 'Tom & Jerry <3' });
      assert.doesNotMatch(mail.html, /<script>/);
      assert.match(mail.html, /<strong>a&amp;b@example\.com<\/strong>/);
      assert.match(mail.html, /Tom &amp; Jerry &lt;3/);
    }
  });
});
