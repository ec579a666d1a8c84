// The sign-in decision as a table: facts in, decision out. One row per rule of the issue's
// semantics (levels, essential/voluntary acr, client minimum, max_age, prompt=login, routine
// factor, trust signals, enrolment, amr).
import assert from 'node:assert/strict';
import { decideSignIn, type Decision, type Proof, type SignInFacts, type SecondFactor } from '../../src/policy/sign-in.ts';

const NOW = 1_800_000_000;
const PWD = 'urn:tessera:acr:pwd';
const MFA = 'urn:tessera:acr:mfa';
const PHR = 'phr';

const proof = (factor: Proof['factor'], ago = 10, extra: Partial<Proof> = {}): Proof => ({ factor, at: NOW - ago, ...extra });

function facts(over: Partial<Omit<SignInFacts, 'request'>> & { request?: Partial<SignInFacts['request']> } = {}): SignInFacts {
  const { request, ...rest } = over;
  return {
    now: NOW, available: ['email'], proven: [], emailCountsAsMfa: false, routineSkipped: false, newDevice: false, offerEnrolment: true,
    ...rest,
    request: { acrValues: [], essentialAcr: [], promptLogin: false, ...request },
  };
}

type Expect =
  | { steps: string[] } // 'password' | 'second:<options>' | 'phr'
  | { done: string; amr: string[]; authTimeAgo?: number }
  | { enrol: string[] }
  | { unmet: RegExp };

function summarise(d: Decision): Expect {
  if (d.outcome === 'steps') return { steps: d.steps.map((s) => (s.kind === 'password' || s.kind === 'new-device' || s.kind === 'pin' ? s.kind : s.kind === 'phishing-resistant' ? 'phr' : `second:${s.options.join(',')}`)) };
  if (d.outcome === 'enrol') return { enrol: d.options };
  if (d.outcome === 'unmet') return { unmet: /./ };
  return { done: d.acr, amr: d.amr, authTimeAgo: NOW - d.authTime };
}

const totpUser: SecondFactor[] = ['email', 'totp', 'recovery'];
const keyUser: SecondFactor[] = ['email', 'webauthn', 'recovery'];
const phoneUser: SecondFactor[] = ['email', 'sms', 'voice'];

const rows: [string, SignInFacts, Expect][] = [
  // plain sign-in
  ['new session, nothing asked: password', facts(), { steps: ['password'] }],
  ['password proven, nothing asked: done at pwd', facts({ proven: [proof('password')] }), { done: PWD, amr: ['pwd'], authTimeAgo: 10 }],
  ['password proven, unknown acr_values ignored', facts({ proven: [proof('password')], request: { acrValues: ['urn:other:gold'] } }), { done: PWD, amr: ['pwd'] }],
  ['acr_values pwd with password: done', facts({ proven: [proof('password')], request: { acrValues: [PWD] } }), { done: PWD, amr: ['pwd'] }],
  // PIN after sign-in (the person's own setting): last, once, amr gains pin, never a level
  ['PIN after sign-in, new session: password then PIN', facts({ pinAfterSignIn: true }), { steps: ['password', 'pin'] }],
  ['PIN after sign-in, routine TOTP: password, TOTP, then PIN', facts({ available: totpUser, routine: 'totp', pinAfterSignIn: true }), { steps: ['password', 'second:totp,recovery', 'pin'] }],
  ['PIN after sign-in, password proven: only the PIN', facts({ proven: [proof('password')], pinAfterSignIn: true }), { steps: ['pin'] }],
  ['PIN after sign-in, password + PIN: done at pwd, amr pwd pin', facts({ proven: [proof('password'), proof('pin')], pinAfterSignIn: true }), { done: PWD, amr: ['pwd', 'pin'] }],
  ['PIN never counts as a second factor: acr mfa still needs one', facts({ available: totpUser, proven: [proof('password'), proof('pin')], pinAfterSignIn: true, request: { acrValues: [MFA] } }), { steps: ['second:totp,recovery'] }],
  ['PIN after sign-in, prompt=login: password and PIN again', facts({ proven: [proof('password'), proof('pin')], pinAfterSignIn: true, request: { promptLogin: true } }), { steps: ['password', 'pin'] }],
  ['PIN skipped (trusted IP: fact false): done without it', facts({ proven: [proof('password')], pinAfterSignIn: false }), { done: PWD, amr: ['pwd'] }],
  // multi-factor by acr_values
  ['acr_values mfa, new session, TOTP user: password then second factor', facts({ available: totpUser, request: { acrValues: [MFA] } }), { steps: ['password', 'second:totp,recovery'] }],
  ['acr_values mfa, session at pwd: only the second factor', facts({ available: totpUser, proven: [proof('password')], request: { acrValues: [MFA] } }), { steps: ['second:totp,recovery'] }],
  ['acr_values mfa, pwd + totp: done at mfa', facts({ available: totpUser, proven: [proof('password', 30), proof('totp', 5)], request: { acrValues: [MFA] } }), { done: MFA, amr: ['pwd', 'otp', 'mfa'], authTimeAgo: 30 }],
  ['acr_values mfa, phone user: sms and voice offered', facts({ available: phoneUser, proven: [proof('password')], request: { acrValues: [MFA] } }), { steps: ['second:sms,voice'] }],
  ['acr_values mfa, pwd + sms: amr sms', facts({ available: phoneUser, proven: [proof('password'), proof('sms')], request: { acrValues: [MFA] } }), { done: MFA, amr: ['pwd', 'sms', 'mfa'] }],
  ['acr_values mfa, pwd + voice: amr tel', facts({ available: phoneUser, proven: [proof('password'), proof('voice')], request: { acrValues: [MFA] } }), { done: MFA, amr: ['pwd', 'tel', 'mfa'] }],
  ['acr_values mfa, pwd + recovery code: amr rcode', facts({ available: totpUser, proven: [proof('password'), proof('recovery')], request: { acrValues: [MFA] } }), { done: MFA, amr: ['pwd', 'rcode', 'mfa'] }],
  ['acr_values mfa, pwd + email, email does not count (default): still needs a factor', facts({ available: totpUser, proven: [proof('password'), proof('email')], request: { acrValues: [MFA] } }), { steps: ['second:totp,recovery'] }],
  ['acr_values mfa, email counts (setting): email offered', facts({ available: ['email'], emailCountsAsMfa: true, proven: [proof('password')], request: { acrValues: [MFA] } }), { steps: ['second:email'] }],
  ['acr_values mfa, email counts, pwd + email: done, amr email', facts({ available: ['email'], emailCountsAsMfa: true, proven: [proof('password'), proof('email')], request: { acrValues: [MFA] } }), { done: MFA, amr: ['pwd', 'email', 'mfa'] }],
  ['session at mfa asked mfa again: no prompt', facts({ available: totpUser, proven: [proof('password', 600), proof('totp', 590)], request: { acrValues: [MFA] } }), { done: MFA, amr: ['pwd', 'otp', 'mfa'], authTimeAgo: 600 }],
  // phishing-resistant
  ['acr_values phr, session at mfa: only the WebAuthn step', facts({ available: ['email', 'totp', 'webauthn'], proven: [proof('password'), proof('totp')], request: { acrValues: [PHR] } }), { steps: ['phr'] }],
  ['acr_values phr, pwd + webauthn: done at phr, amr hwk', facts({ available: keyUser, proven: [proof('password'), proof('webauthn')], request: { acrValues: [PHR] } }), { done: PHR, amr: ['pwd', 'hwk', 'mfa'] }],
  ['passkey with user verification alone: phr', facts({ available: keyUser, proven: [proof('webauthn', 10, { userVerified: true })], request: { acrValues: [PHR] } }), { done: PHR, amr: ['hwk', 'user'] }],
  ['synced passkey reports swk', facts({ available: keyUser, proven: [proof('password'), proof('webauthn', 10, { synced: true })], request: { acrValues: [PHR] } }), { done: PHR, amr: ['pwd', 'swk', 'mfa'] }],
  ['passkey with UV satisfies mfa too', facts({ available: keyUser, proven: [proof('webauthn', 10, { userVerified: true })], request: { acrValues: [MFA] } }), { done: PHR, amr: ['hwk', 'user'] }],
  ['acr_values phr, no security key, enrolment on: enrol WebAuthn', facts({ available: totpUser, proven: [proof('password')], request: { acrValues: [PHR] } }), { enrol: ['webauthn'] }],
  ['acr_values phr, no security key, enrolment off: unmet', facts({ available: totpUser, proven: [proof('password')], offerEnrolment: false, request: { acrValues: [PHR] } }), { unmet: /./ }],
  // voluntary acr_values: first reachable wins
  ['acr_values "phr mfa", TOTP user, enrolment off: steps up to mfa', facts({ available: totpUser, proven: [proof('password')], offerEnrolment: false, request: { acrValues: [PHR, MFA] } }), { steps: ['second:totp,recovery'] }],
  ['acr_values "mfa phr", key user: first listed (mfa) via any factor', facts({ available: keyUser, proven: [proof('password')], request: { acrValues: [MFA, PHR] } }), { steps: ['second:webauthn,recovery'] }],
  ['acr_values mfa, email-only user, enrolment on: enrol', facts({ available: ['email'], proven: [proof('password')], request: { acrValues: [MFA] } }), { enrol: ['totp', 'webauthn'] }],
  ['acr_values mfa, email-only user, enrolment off: unmet', facts({ available: ['email'], proven: [proof('password')], offerEnrolment: false, request: { acrValues: [MFA] } }), { unmet: /./ }],
  ['acr_values unknown + mfa: the known one counts', facts({ available: totpUser, proven: [proof('password')], request: { acrValues: ['urn:x', MFA] } }), { steps: ['second:totp,recovery'] }],
  // essential acr claim
  ['essential acr mfa unmet without factor and enrolment: unmet', facts({ available: ['email'], proven: [proof('password')], offerEnrolment: false, request: { essentialAcr: [MFA] } }), { unmet: /./ }],
  ['essential acr [mfa, phr], TOTP user: mfa step', facts({ available: totpUser, proven: [proof('password')], request: { essentialAcr: [MFA, PHR] } }), { steps: ['second:totp,recovery'] }],
  ['essential acr only unknown values: unmet', facts({ proven: [proof('password')], request: { essentialAcr: ['urn:x:gold'] } }), { unmet: /./ }],
  ['essential acr pwd on an mfa session: reports pwd, amr truthful', facts({ available: totpUser, proven: [proof('password'), proof('totp')], request: { essentialAcr: [PWD] } }), { done: PWD, amr: ['pwd', 'otp', 'mfa'] }],
  ['essential acr beats voluntary acr_values', facts({ available: totpUser, proven: [proof('password')], request: { essentialAcr: [PWD], acrValues: [MFA] } }), { done: PWD, amr: ['pwd'] }],
  // client minimum
  ['client minimum mfa, nothing asked: second factor', facts({ available: totpUser, proven: [proof('password')], clientMinimumAcr: MFA }), { steps: ['second:totp,recovery'] }],
  ['client minimum mfa raises acr_values pwd', facts({ available: totpUser, proven: [proof('password')], clientMinimumAcr: MFA, request: { acrValues: [PWD] } }), { steps: ['second:totp,recovery'] }],
  ['client minimum mfa, essential pwd: unmet', facts({ available: totpUser, proven: [proof('password')], clientMinimumAcr: MFA, request: { essentialAcr: [PWD] } }), { unmet: /./ }],
  ['client minimum phr, key user at mfa: WebAuthn step', facts({ available: keyUser, proven: [proof('password'), proof('recovery')], clientMinimumAcr: PHR }), { steps: ['phr'] }],
  ['client minimum mfa, email-only, enrolment off: unmet', facts({ available: ['email'], proven: [proof('password')], clientMinimumAcr: MFA, offerEnrolment: false }), { unmet: /./ }],
  // max_age and prompt=login
  ['max_age: stale TOTP repeated, fresh password kept', facts({ available: totpUser, proven: [proof('password', 50), proof('totp', 400)], request: { acrValues: [MFA], maxAge: 300 } }), { steps: ['second:totp,recovery'] }],
  ['max_age: stale password repeated, fresh TOTP kept', facts({ available: totpUser, proven: [proof('password', 400), proof('totp', 50)], request: { acrValues: [MFA], maxAge: 300 } }), { steps: ['password'] }],
  ['max_age: all fresh, auth_time is the oldest counted factor', facts({ available: totpUser, proven: [proof('password', 200), proof('totp', 50)], request: { acrValues: [MFA], maxAge: 300 } }), { done: MFA, amr: ['pwd', 'otp', 'mfa'], authTimeAgo: 200 }],
  ['max_age without acr: stale password repeated', facts({ proven: [proof('password', 400)], request: { maxAge: 300 } }), { steps: ['password'] }],
  ['max_age: acr counts only fresh factors (stale TOTP, pwd asked)', facts({ available: totpUser, proven: [proof('password', 50), proof('totp', 400)], request: { maxAge: 300 } }), { done: PWD, amr: ['pwd'] }],
  ['prompt=login: password again even when fresh', facts({ proven: [proof('password', 5)], request: { promptLogin: true } }), { steps: ['password'] }],
  ['prompt=login with mfa: password and second factor again', facts({ available: totpUser, proven: [proof('password', 5), proof('totp', 5)], request: { promptLogin: true, acrValues: [MFA] } }), { steps: ['password', 'second:totp,recovery'] }],
  // the account's routine factor and trust signals
  ['routine TOTP: every sign-in needs it', facts({ available: totpUser, routine: 'totp', proven: [proof('password')] }), { steps: ['second:totp,recovery'] }],
  ['routine TOTP proven: done at mfa', facts({ available: totpUser, routine: 'totp', proven: [proof('password'), proof('totp')] }), { done: MFA, amr: ['pwd', 'otp', 'mfa'] }],
  ['routine TOTP met by a recovery code (the app is lost): done at mfa, no loop back to the app', facts({ available: totpUser, routine: 'totp', proven: [proof('password'), proof('recovery')] }), { done: MFA, amr: ['pwd', 'rcode', 'mfa'] }],
  ['routine TOTP skipped by a trusted device: done at pwd (acr says so)', facts({ available: totpUser, routine: 'totp', routineSkipped: true, proven: [proof('password')] }), { done: PWD, amr: ['pwd'] }],
  ['trusted device never satisfies an explicit mfa request', facts({ available: totpUser, routine: 'totp', routineSkipped: true, proven: [proof('password')], request: { acrValues: [MFA] } }), { steps: ['second:totp,recovery'] }],
  ['routine email (not mfa): required, acr stays pwd', facts({ available: ['email'], routine: 'email', proven: [proof('password')] }), { steps: ['second:email'] }],
  ['routine email proven: pwd with amr email', facts({ available: ['email'], routine: 'email', proven: [proof('password'), proof('email')] }), { done: PWD, amr: ['pwd', 'email'] }],
  // new-device verification: right after the password, before any second factor; never skipped by trust
  ['new device: a code right after the password', facts({ newDevice: true, proven: [proof('password')] }), { steps: ['new-device'] }],
  ['new device before the password is known: password, then the device code', facts({ newDevice: true }), { steps: ['password', 'new-device'] }],
  ['new device with routine TOTP: device code, then TOTP', facts({ newDevice: true, available: totpUser, routine: 'totp', proven: [proof('password')] }), { steps: ['new-device', 'second:totp,recovery'] }],
  ['new device on a trusted IP (routine skipped): the device code still', facts({ newDevice: true, available: totpUser, routine: 'totp', routineSkipped: true, proven: [proof('password')] }), { steps: ['new-device'] }],
  ['device verified by SMS with mfa asked: the text code is the second factor', facts({ available: phoneUser, proven: [proof('password'), proof('sms')], request: { acrValues: [MFA] } }), { done: MFA, amr: ['pwd', 'sms', 'mfa'] }],
  // a code already proven in this sign-in counts, once: the new-device code comes before an
  // enrolment (whose emailed code it then is), and is never a second factor when email is not mfa
  ['acr mfa, email-only user, new device: the device code before the enrolment', facts({ available: ['email'], newDevice: true, proven: [proof('password')], request: { acrValues: [MFA] } }), { steps: ['new-device'] }],
  ['acr phr, no key, new device: the device code before the enrolment', facts({ available: totpUser, newDevice: true, proven: [proof('password')], request: { acrValues: [PHR] } }), { steps: ['new-device'] }],
  ['client minimum mfa, email-only, new browser, nothing proven: password, device code, then the enrolment', facts({ available: ['email'], newDevice: true, clientMinimumAcr: MFA }), { steps: ['password', 'new-device'] }],
  ['acr mfa, email-only user, nothing proven: the password before any enrolment', facts({ available: ['email'], request: { acrValues: [MFA] } }), { steps: ['password'] }],
  ['acr mfa, email-only user, prompt=login: the password again before the enrolment', facts({ available: ['email'], proven: [proof('password', 60)], request: { acrValues: [MFA], promptLogin: true } }), { steps: ['password'] }],
  ['acr mfa, email-only user, device code proven: the emailed code is no second factor, enrol', facts({ available: ['email'], proven: [proof('password'), proof('email')], request: { acrValues: [MFA] } }), { enrol: ['totp', 'webauthn'] }],
  ['device code, then the app set up: done at mfa, the emailed code once in amr', facts({ available: ['email', 'totp'], proven: [proof('password', 40), proof('email', 30), proof('totp', 5)], request: { acrValues: [MFA] } }), { done: MFA, amr: ['pwd', 'otp', 'email', 'mfa'], authTimeAgo: 40 }],
  ['two emailed codes are not two factors: the app still asked', facts({ available: ['email', 'totp'], proven: [proof('password'), proof('email'), proof('email')], request: { acrValues: [MFA] } }), { steps: ['second:totp'] }],
  ['email counts as mfa (setting): the device code is the second factor, nothing more', facts({ available: ['email'], emailCountsAsMfa: true, proven: [proof('password'), proof('email')], request: { acrValues: [MFA] } }), { done: MFA, amr: ['pwd', 'email', 'mfa'] }],
  ['device code, then phr: the emailed code never stands for the key', facts({ available: keyUser, proven: [proof('password'), proof('email')], request: { acrValues: [PHR] } }), { steps: ['phr'] }],
  ['routine SMS with recovery available: recovery offered as fallback', facts({ available: ['email', 'sms', 'recovery'], routine: 'sms', proven: [proof('password')] }), { steps: ['second:sms,recovery'] }],
];

describe('sign-in decision', () => {
  it(`has at least 40 rows (${rows.length})`, () => assert.ok(rows.length >= 40));
  for (const [name, input, expected] of rows) {
    it(name, () => {
      const got = summarise(decideSignIn(input));
      if ('unmet' in expected) {
        assert.ok('unmet' in got, `expected unmet, got ${JSON.stringify(got)}`);
        return;
      }
      if ('done' in expected && expected.authTimeAgo === undefined) delete (got as { authTimeAgo?: number }).authTimeAgo;
      assert.deepEqual(got, expected);
    });
  }
});
