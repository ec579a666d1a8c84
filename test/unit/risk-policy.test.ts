// The adaptive sign-in policy as a table: the situation of one sign-in in, an action and its
// reasons out; then how a raised action enters the sign-in decision, which no trust signal lowers.
import assert from 'node:assert/strict';
import { assessRisk, assessSessionMove, distanceKm, riskSummary, riskSentence, type RiskAction, type RiskFacts, type RiskSettings, type RiskSignal } from '../../src/policy/risk.ts';
import { decideSignIn, type SignInFacts } from '../../src/policy/sign-in.ts';
import { keptAfterMove } from '../../src/oidc/step-up.ts';

const NOW = 1_800_000_000;
const H = 3600;
const WARSAW: [number, number] = [52.23, 21.01];
const KRAKOW: [number, number] = [50.06, 19.94];
const SAO_PAULO: [number, number] = [-23.55, -46.63];
const BERLIN: [number, number] = [52.52, 13.4];

const SETTINGS: RiskSettings = {
  mode: 'enforce', maxSpeedKmh: 1000, maxFailuresPerHour: 5, inactiveDays: 180,
  actions: { 'new-device': 'none', 'new-country': 'second-factor', 'impossible-travel': 'second-factor', 'failure-velocity': 'second-factor', 'long-inactivity': 'second-factor', 'session-moved': 'second-factor' },
  notify: ['impossible-travel'],
};

function facts(over: Partial<Omit<RiskFacts, 'history'>> & { history?: Partial<RiskFacts['history']> } = {}): RiskFacts {
  const { history, ...rest } = over;
  return {
    now: NOW, here: { country: 'PL', city: 'Warsaw', ll: WARSAW }, newDevice: false, trusted: { device: false, ip: false },
    ...rest,
    history: { countries: ['PL'], last: { at: NOW - 2 * H, country: 'PL', city: 'Warsaw', ll: WARSAW }, failuresLastHour: 0, ...history },
  };
}

const BRAZIL = { country: 'BR', city: 'São Paulo', ll: SAO_PAULO };
const TRUST_COMBINATIONS = [{ device: true, ip: false }, { device: false, ip: true }, { device: true, ip: true }];

interface Row { name: string; facts: RiskFacts; settings?: Partial<RiskSettings>; action: RiskAction; applied?: RiskAction; codes: RiskSignal[]; notify?: boolean; text?: RegExp }

const rows: Row[] = [
  { name: 'an ordinary sign-in from the usual place', facts: facts(), action: 'none', codes: [] },
  { name: 'a new device alone (the new-device step covers it; its action defaults to none)', facts: facts({ newDevice: true }), action: 'none', codes: [] },
  { name: 'a new device with its action set', facts: facts({ newDevice: true }), settings: { actions: { ...SETTINGS.actions, 'new-device': 'second-factor' } }, action: 'second-factor', codes: ['new-device'], text: /first sign-in from this device/ },
  // Warsaw → São Paulo in two days: a new country, but not too fast (10,400 km / 48 h)
  { name: 'a new country, slowly reached', facts: facts({ here: BRAZIL, history: { last: { at: NOW - 48 * H, country: 'PL', city: 'Warsaw', ll: WARSAW } } }), action: 'second-factor', codes: ['new-country'], notify: false, text: /first sign-in from Brazil; previous sign-in from Poland 2 days ago/ },
  { name: 'a new country reached impossibly fast', facts: facts({ here: BRAZIL }), action: 'second-factor', codes: ['new-country', 'impossible-travel'], notify: true, text: /first sign-in from Brazil; previous sign-in from Poland 2 h ago; São Paulo, Brazil is 10,[0-9]{3} km from the previous sign-in \(Warsaw, Poland, 2 h ago\): faster than 1,000 km\/h/ },
  { name: 'impossible travel inside a known country set', facts: facts({ here: BRAZIL, history: { countries: ['PL', 'BR'] } }), action: 'second-factor', codes: ['impossible-travel'], notify: true },
  { name: 'Warsaw → Berlin (520 km) in 1 h: under 1,000 km/h', facts: facts({ here: { country: 'DE', city: 'Berlin', ll: BERLIN }, history: { countries: ['PL', 'DE'], last: { at: NOW - H, country: 'PL', ll: WARSAW } } }), action: 'none', codes: [] },
  { name: 'Warsaw → Berlin in 10 min: too fast', facts: facts({ here: { country: 'DE', city: 'Berlin', ll: BERLIN }, history: { countries: ['PL', 'DE'], last: { at: NOW - 600, country: 'PL', ll: WARSAW } } }), action: 'second-factor', codes: ['impossible-travel'] },
  { name: 'Warsaw → Kraków (250 km) a second later: within geoip\'s error, no travel', facts: facts({ here: { country: 'PL', ll: KRAKOW }, history: { last: { at: NOW - 1, country: 'PL', ll: WARSAW } } }), action: 'none', codes: [] },
  { name: 'an unknown place never triggers travel or a new country', facts: facts({ here: {} }), action: 'none', codes: [] },
  { name: 'a previous sign-in from an unknown place never triggers travel', facts: facts({ here: BRAZIL, history: { countries: ['BR'], last: { at: NOW - 60, country: 'BR' } } }), action: 'none', codes: [] },
  { name: 'a first sign-in ever has no new country', facts: facts({ here: BRAZIL, history: { countries: [], last: undefined } }), action: 'none', codes: [] },
  { name: 'failure velocity at the limit', facts: facts({ history: { failuresLastHour: 5 } }), action: 'none', codes: [] },
  { name: 'failure velocity above the limit', facts: facts({ history: { failuresLastHour: 6 } }), action: 'second-factor', codes: ['failure-velocity'], text: /6 failed sign-in attempts in the last hour/ },
  { name: 'long inactivity', facts: facts({ history: { last: { at: NOW - 200 * 86_400, country: 'PL', ll: WARSAW } } }), action: 'second-factor', codes: ['long-inactivity'], text: /no sign-in for 200 days/ },
  { name: 'inactivity below the setting', facts: facts({ history: { last: { at: NOW - 100 * 86_400, country: 'PL', ll: WARSAW } } }), action: 'none', codes: [] },
  { name: 'the strongest action wins, and comes first', facts: facts({ here: BRAZIL, history: { failuresLastHour: 9 } }), settings: { actions: { ...SETTINGS.actions, 'failure-velocity': 'phishing-resistant' } }, action: 'phishing-resistant', codes: ['failure-velocity', 'new-country', 'impossible-travel'] },
  { name: 'a signal set to refuse refuses', facts: facts({ here: BRAZIL }), settings: { actions: { ...SETTINGS.actions, 'impossible-travel': 'refuse' } }, action: 'refuse', codes: ['impossible-travel', 'new-country'] },
  { name: 'a signal set to none is not a reason', facts: facts({ here: BRAZIL }), settings: { actions: { ...SETTINGS.actions, 'new-country': 'none', 'impossible-travel': 'none' } }, action: 'none', codes: [] },
  { name: 'the speed setting', facts: facts({ here: { country: 'DE', ll: BERLIN }, history: { countries: ['PL', 'DE'], last: { at: NOW - H, country: 'PL', ll: WARSAW } } }), settings: { maxSpeedKmh: 400 }, action: 'second-factor', codes: ['impossible-travel'] },
  { name: 'observe decides and records, applies nothing', facts: facts({ here: BRAZIL }), settings: { mode: 'observe' }, action: 'second-factor', applied: 'none', codes: ['new-country', 'impossible-travel'], notify: true },
  { name: 'off decides nothing', facts: facts({ here: BRAZIL, history: { failuresLastHour: 50 } }), settings: { mode: 'off' }, action: 'none', codes: [] },
  ...TRUST_COMBINATIONS.map((trusted) => ({ name: `trust (${JSON.stringify(trusted)}) does not lower a raised action`, facts: facts({ here: BRAZIL, trusted }), action: 'second-factor' as const, codes: ['new-country', 'impossible-travel'] as RiskSignal[] })),
];

describe('the risk policy (policy/risk.ts)', () => {
  for (const row of rows) {
    it(row.name, () => {
      const a = assessRisk(row.facts, { ...SETTINGS, ...row.settings });
      assert.equal(a.action, row.action);
      assert.equal(a.applied, row.applied ?? row.action);
      assert.deepEqual(a.reasons.map((r) => r.code), row.codes);
      if (row.notify !== undefined) assert.equal(a.notify, row.notify);
      if (row.text) assert.match(riskSummary(a)!, row.text);
      assert.deepEqual(a.trusted, row.facts.trusted);
    });
  }

  it('says in one line what it asked for and why; observe says what it would have done', () => {
    const enforce = assessRisk(facts({ here: BRAZIL, history: { last: { at: NOW - 48 * H, country: 'PL', ll: WARSAW } } }), SETTINGS);
    assert.equal(riskSummary(enforce), 'Asked for a code: first sign-in from Brazil; previous sign-in from Poland 2 days ago');
    assert.equal(riskSentence(enforce), 'This sign-in is unusual for your account: first sign-in from Brazil; previous sign-in from Poland 2 days ago.');
    const observe = assessRisk(facts({ here: BRAZIL, history: { last: { at: NOW - 48 * H, country: 'PL', ll: WARSAW } } }), { ...SETTINGS, mode: 'observe' });
    assert.match(riskSummary(observe)!, /^Would have asked for a code: first sign-in from Brazil/);
    assert.equal(riskSummary(assessRisk(facts(), SETTINGS)), undefined);
  });

  it('measures great-circle distance', () => {
    assert.ok(Math.abs(distanceKm(WARSAW, BERLIN) - 518) < 10);
    assert.ok(Math.abs(distanceKm(WARSAW, SAO_PAULO) - 10_660) < 100);
    assert.equal(distanceKm(WARSAW, WARSAW), 0);
  });
});

describe('a session that moves (policy/risk.ts assessSessionMove)', () => {
  const PL = { country: 'PL' };
  const BR = { country: 'BR' };
  const move = (signedInFrom: { country?: string }, here: { country?: string }, over: Partial<RiskSettings> = {}, trusted = { device: false, ip: false }) =>
    assessSessionMove({ signedInFrom, here, trusted }, { ...SETTINGS, ...over });
  const table: { name: string; a: ReturnType<typeof move>; action: RiskAction; applied: RiskAction }[] = [
    { name: 'the same country: nothing', a: move(PL, PL), action: 'none', applied: 'none' },
    { name: 'another country: a second factor again', a: move(PL, BR), action: 'second-factor', applied: 'second-factor' },
    { name: 'an unknown place now never triggers it', a: move(PL, {}), action: 'none', applied: 'none' },
    { name: 'a session signed in from an unknown place never triggers it', a: move({}, BR), action: 'none', applied: 'none' },
    { name: 'its setting: phishing-resistant', a: move(PL, BR, { actions: { ...SETTINGS.actions, 'session-moved': 'phishing-resistant' } }), action: 'phishing-resistant', applied: 'phishing-resistant' },
    { name: 'its setting: none', a: move(PL, BR, { actions: { ...SETTINGS.actions, 'session-moved': 'none' } }), action: 'none', applied: 'none' },
    { name: 'observe: recorded, not applied', a: move(PL, BR, { mode: 'observe' }), action: 'second-factor', applied: 'none' },
    { name: 'off: nothing', a: move(PL, BR, { mode: 'off' }), action: 'none', applied: 'none' },
    ...TRUST_COMBINATIONS.map((trusted) => ({ name: `trust (${JSON.stringify(trusted)}) does not lower it`, a: move(PL, BR, {}, trusted), action: 'second-factor' as const, applied: 'second-factor' as const })),
  ];
  for (const row of table) {
    it(row.name, () => {
      assert.equal(row.a.action, row.action);
      assert.equal(row.a.applied, row.applied);
      assert.deepEqual(row.a.reasons.map((r) => r.code), row.action === 'none' ? [] : ['session-moved']);
    });
  }
  it('says where the session signed in and where it is used now', () => {
    assert.equal(riskSentence(move(PL, BR)), 'This sign-in is unusual for your account: this session was signed in from Poland and is now used from Brazil.');
    assert.equal(riskSummary(move(PL, BR)), 'Asked for a code: this session was signed in from Poland and is now used from Brazil');
  });
  it('keeps the session\'s password (and PIN), never its second factors', () => {
    const proofs = [{ factor: 'password' as const, at: NOW - 9 }, { factor: 'totp' as const, at: NOW - 8 }, { factor: 'pin' as const, at: NOW - 7 }, { factor: 'webauthn' as const, at: NOW - 6 }];
    assert.deepEqual(keptAfterMove(proofs).map((p) => p.factor), ['password', 'pin']);
  });
});

describe('a raised action in the sign-in decision (policy/sign-in.ts)', () => {
  const base = (over: Partial<SignInFacts> = {}): SignInFacts => ({
    now: NOW, available: ['email', 'totp'], proven: [{ factor: 'password', at: NOW - 5 }], emailCountsAsMfa: false, routineSkipped: false,
    newDevice: false, offerEnrolment: true, request: { acrValues: [], essentialAcr: [], promptLogin: false }, ...over,
  });
  const kinds = (f: SignInFacts) => { const d = decideSignIn(f); return d.outcome === 'steps' ? d.steps.map((s) => (s.kind === 'second-factor' ? `second:${s.reason}:${s.options.join(',')}` : s.kind)) : d.outcome; };

  it('nothing raised: the password alone signs in', () => assert.equal(kinds(base()), 'done'));
  it('a second factor: any the account can use', () => assert.deepEqual(kinds(base({ riskRequires: 'second-factor' })), ['second:risk:email,totp']));
  it('a trusted device or IP (routine skipped) does not skip it', () => assert.deepEqual(kinds(base({ riskRequires: 'second-factor', routineSkipped: true, routine: 'totp' })), ['second:risk:email,totp']));
  it('a new browser\'s code is that second factor: one code, not two', () => {
    assert.deepEqual(kinds(base({ riskRequires: 'second-factor', newDevice: true })), ['new-device']);
    assert.equal(kinds(base({ riskRequires: 'second-factor', proven: [{ factor: 'password', at: NOW - 9 }, { factor: 'email', at: NOW - 5 }] })), 'done');
  });
  it('the routine factor covers it', () => assert.deepEqual(kinds(base({ riskRequires: 'second-factor', routine: 'totp' })), ['second:routine:totp']));
  it('phishing-resistant: a security key, or its enrolment', () => {
    assert.deepEqual(kinds(base({ riskRequires: 'phishing-resistant', available: ['email', 'webauthn'] })), ['phishing-resistant']);
    assert.equal(kinds(base({ riskRequires: 'phishing-resistant' })), 'enrol');
    assert.equal(kinds(base({ riskRequires: 'phishing-resistant', offerEnrolment: false })), 'unmet');
  });
  it('a trusted device never lowers phishing-resistant', () => assert.deepEqual(kinds(base({ riskRequires: 'phishing-resistant', available: ['email', 'webauthn'], routineSkipped: true, routine: 'totp' })), ['phishing-resistant']));
  it('never lowers what a relying party asked for', () => assert.deepEqual(kinds(base({ riskRequires: 'second-factor', request: { acrValues: ['phr'], essentialAcr: [], promptLogin: false }, available: ['email', 'webauthn'] })), ['phishing-resistant']));
  it('no second factor known (the list not read): the enrolment rules', () => assert.equal(kinds(base({ riskRequires: 'second-factor', available: [] })), 'enrol'));
});
