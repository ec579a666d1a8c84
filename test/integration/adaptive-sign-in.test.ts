// Adaptive sign-in through real HTTP behind a trusted proxy: real client addresses from
// geoip-lite's database in X-Forwarded-For, Tessera's clock in the test's hand. A sign-in from a
// new country, or after impossible travel, asks for a second factor and records why; observe only
// records; off does nothing; a trusted device does not skip the step.
import assert from 'node:assert/strict';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { eventually } from '../support/mail.ts';
import { REDIRECT_URI, RelyingParty, UserAgent, createUser, type Page, type TestUser } from '../support/flow.ts';

const HOUR = 3600 * 1000;
const POLAND = '83.0.0.1'; // Warsaw
const BRAZIL = '200.147.67.142'; // Rio de Janeiro

/** One Tessera with a risk mode, its relying party and a movable clock. */
function setUp(env: Record<string, string> = {}) {
  const s = { offset: 0 } as { t: Tessera; rp: RelyingParty; offset: number };
  before(async () => {
    s.t = await startTessera({ clock: () => new Date(Date.now() + s.offset), env: { TRUST_PROXY: 'true', ...env } });
    s.rp = await RelyingParty.register(s.t, { skipConsent: true });
  });
  after(() => s.t.close());
  return s;
}

type Setup = ReturnType<typeof setUp>;

const codesTo = (s: Setup, to: string) => s.t.services.outbox.list()
  .filter((m) => m.channel === 'email' && m.to === to && /^\d{6} is your Tessera sign-in code$/.test(m.subject ?? ''))
  .map((m) => m.subject!.slice(0, 6));

/** A fresh sign-in (prompt=login) from `ip` up to the page after the password. */
async function password(s: Setup, agent: UserAgent, user: TestUser, ip: string): Promise<Page> {
  agent.headers['x-forwarded-for'] = ip;
  const auth = await s.rp.authorize({ prompt: 'login' });
  return agent.submit(await agent.visit(auth.url), /\/login$/, { email: user.email, password: user.password });
}

const signedIn = (page: Page) => assert.ok(page.url.startsWith(REDIRECT_URI), `not back at the RP: ${page.status} ${page.body.slice(0, 400)}`);
const askedForCode = (page: Page) => assert.match(page.body, /action="\/interaction\/[^"]+\/factor"/, `no second-factor step: ${page.status} ${page.body.slice(0, 400)}`);

async function latestSuccess(s: Setup, user: TestUser) {
  return (await s.t.services.events.of(user.id)).find((e) => e.result === 'success')!;
}

async function riskAudits(s: Setup, user: TestUser) {
  await s.t.services.audit.flush();
  return (await s.t.services.audit.query({ accountId: user.id, type: 'sign_in.risk', limit: 50 })).events;
}

/** The emailed code of the factor page, entered. */
async function enterCode(s: Setup, agent: UserAgent, user: TestUser, page: Page): Promise<Page> {
  const code = codesTo(s, user.email)[0]!; // newest first
  return agent.submit(page, /\/factor$/, { method: 'email', code });
}

describe('adaptive sign-in (risk.mode enforce, the default)', () => {
  const s = setUp();

  it('asks a sign-in from a new country for a second factor, says why, and records it', async () => {
    const user = await createUser(s.t);
    const agent = new UserAgent();
    signedIn(await password(s, agent, user, POLAND));
    s.offset += 50 * HOUR;
    const page = await password(s, agent, user, BRAZIL);
    askedForCode(page);
    assert.match(page.body, /This sign-in is unusual for your account: first sign-in from Brazil; previous sign-in from Poland 2 days ago\./);
    signedIn(await enterCode(s, agent, user, page));
    const entry = await latestSuccess(s, user);
    assert.equal(entry.risk, 'Asked for a code: first sign-in from Brazil; previous sign-in from Poland 2 days ago');
    assert.deepEqual(entry.factors.includes('email'), true);
    const [audit] = await riskAudits(s, user);
    assert.deepEqual(audit!.details.reasons, ['new-country']);
    assert.equal(audit!.details.applied, 'second-factor');
    // the next sign-in from Brazil is an ordinary one: the country is known now
    s.offset += 50 * HOUR;
    signedIn(await password(s, agent, user, BRAZIL));
  });

  it('asks after impossible travel between known countries', async () => {
    const user = await createUser(s.t);
    const agent = new UserAgent();
    signedIn(await password(s, agent, user, POLAND));
    s.offset += 50 * HOUR;
    signedIn(await enterCode(s, agent, user, await password(s, agent, user, BRAZIL)));
    s.offset += 2 * HOUR; // Rio → Warsaw (10,000 km) in 2 h
    const page = await password(s, agent, user, POLAND);
    askedForCode(page);
    assert.match(page.body, /km from the previous sign-in \(Brazil, 2 h ago\): faster than 1,000 km\/h/);
    signedIn(await enterCode(s, agent, user, page));
    assert.match((await latestSuccess(s, user)).risk!, /^Asked for a code: Poland is 10,\d{3} km from the previous sign-in/);
    assert.deepEqual((await riskAudits(s, user))[0]!.details.reasons, ['impossible-travel']);
    // impossible travel also tells the account (risk.notify), with the reason in plain words
    const notice = await eventually(() => s.t.services.outbox.list().find((m) => m.channel === 'email' && m.to === user.email && /^Unusual sign-in/.test(m.subject ?? '')), 'the unusual sign-in email');
    assert.match(JSON.stringify(notice), /faster than 1,000 km\/h/);
  });

  it('does not let a trusted device skip a step the risk policy raised', async () => {
    const user = await createUser(s.t, { deviceVerification: true });
    const agent = new UserAgent();
    let page = await password(s, agent, user, POLAND);
    page = await agent.submit(page, /\/device$/, { method: 'email', code: codesTo(s, user.email)[0]!, trust: 'yes' });
    signedIn(page);
    const [device] = await s.t.services.devices.listFor(user.id);
    assert.ok(device?.trustedUntil, 'the device is trusted');
    s.offset += 50 * HOUR;
    page = await password(s, agent, user, BRAZIL);
    askedForCode(page);
    signedIn(await enterCode(s, agent, user, page));
    assert.equal((await riskAudits(s, user))[0]!.details.trustedDevice, true);
  });

  it('an ordinary sign-in from the usual place records nothing', async () => {
    const user = await createUser(s.t);
    const agent = new UserAgent();
    signedIn(await password(s, agent, user, POLAND));
    s.offset += HOUR;
    signedIn(await password(s, agent, user, POLAND));
    assert.equal((await latestSuccess(s, user)).risk, undefined);
    assert.equal((await riskAudits(s, user)).length, 0);
  });
});

describe('adaptive sign-in in observe mode', () => {
  const s = setUp({ RISK_MODE: 'observe' });

  it('changes nothing but records what it would have asked for', async () => {
    const user = await createUser(s.t);
    const agent = new UserAgent();
    signedIn(await password(s, agent, user, POLAND));
    s.offset += 2 * HOUR;
    signedIn(await password(s, agent, user, BRAZIL));
    assert.match((await latestSuccess(s, user)).risk!, /^Would have asked for a code: first sign-in from Brazil; previous sign-in from Poland 2 h ago; /);
    const [audit] = await riskAudits(s, user);
    assert.equal(audit!.details.action, 'second-factor');
    assert.equal(audit!.details.applied, 'none');
  });
});

describe('adaptive sign-in switched off', () => {
  const s = setUp({ RISK_MODE: 'off' });

  it('does nothing', async () => {
    const user = await createUser(s.t);
    const agent = new UserAgent();
    signedIn(await password(s, agent, user, POLAND));
    s.offset += 2 * HOUR;
    signedIn(await password(s, agent, user, BRAZIL));
    assert.equal((await latestSuccess(s, user)).risk, undefined);
    assert.equal((await riskAudits(s, user)).length, 0);
  });
});

/** A relying party asking the signed-in session of `agent` again (silent SSO), from `ip`. */
async function again(s: Setup, agent: UserAgent, ip: string, params: Record<string, string> = {}): Promise<Page> {
  agent.headers['x-forwarded-for'] = ip;
  return agent.visit((await s.rp.authorize(params)).url);
}

describe('a session that moves (risk.actions.sessionMoved)', () => {
  const s = setUp();

  it('asks for the second factor again when the session is used from another country, then signs in silently there', async () => {
    const user = await createUser(s.t);
    const agent = new UserAgent();
    signedIn(await password(s, agent, user, POLAND));
    // the same place: silent, as before
    signedIn(await again(s, agent, POLAND));
    s.offset += HOUR;
    // prompt=none from Brazil: the relying party is told to send the person to sign in
    const silent = await again(s, agent, BRAZIL, { prompt: 'none' });
    assert.equal(new URL(silent.url).searchParams.get('error'), 'login_required', silent.url);
    const page = await again(s, agent, BRAZIL);
    askedForCode(page);
    assert.match(page.body, /This sign-in is unusual for your account: this session was signed in from Poland and is now used from Brazil\./);
    signedIn(await enterCode(s, agent, user, page));
    // recorded once (not again for the prompt=none and the page), and in the session history
    const audits = (await riskAudits(s, user)).filter((a) => (a.details.reasons as string[]).includes('session-moved'));
    assert.equal(audits.length, 1);
    assert.equal(audits[0]!.details.applied, 'second-factor');
    assert.equal((await latestSuccess(s, user)).risk, 'Asked for a code: this session was signed in from Poland and is now used from Brazil');
    // the session now belongs to Brazil: silent there, and asked again back in Poland
    signedIn(await again(s, agent, BRAZIL, { prompt: 'none' }));
    askedForCode(await again(s, agent, POLAND));
  });

  it('a session whose second factor was asked again keeps what the relying party gets: acr and amr of the fresh proof', async () => {
    const user = await createUser(s.t);
    const agent = new UserAgent();
    signedIn(await password(s, agent, user, POLAND));
    s.offset += HOUR;
    const auth = await s.rp.authorize();
    agent.headers['x-forwarded-for'] = BRAZIL;
    const page = await agent.visit(auth.url);
    askedForCode(page);
    const back = await enterCode(s, agent, user, page);
    const tokens = await s.rp.tokens(back.url, auth);
    assert.deepEqual(tokens.claims()!.amr, ['pwd', 'email']);
  });
});

describe('a session that moves, in observe mode and switched off', () => {
  const observe = setUp({ RISK_MODE: 'observe' });
  const off = setUp({ RISK_SESSION_MOVED: 'none' });

  it('observe: signs in silently and records it once', async () => {
    const user = await createUser(observe.t);
    const agent = new UserAgent();
    signedIn(await password(observe, agent, user, POLAND));
    signedIn(await again(observe, agent, BRAZIL, { prompt: 'none' }));
    signedIn(await again(observe, agent, BRAZIL));
    const audits = (await riskAudits(observe, user)).filter((a) => (a.details.reasons as string[]).includes('session-moved'));
    assert.equal(audits.length, 1);
    assert.equal(audits[0]!.details.applied, 'none');
    assert.match(String(audits[0]!.details.summary), /^Would have asked for a code: this session was signed in from Poland and is now used from Brazil/);
  });

  it('RISK_SESSION_MOVED=none: nothing asked, nothing recorded', async () => {
    const user = await createUser(off.t);
    const agent = new UserAgent();
    signedIn(await password(off, agent, user, POLAND));
    signedIn(await again(off, agent, BRAZIL, { prompt: 'none' }));
    assert.equal((await riskAudits(off, user)).length, 0);
  });

  it('a session\'s earlier second factor does not answer an unusual sign-in in that session', async () => {
    const user = await createUser(off.t, { deviceVerification: true });
    const agent = new UserAgent();
    // signed in from Poland with an emailed code (the new browser's)
    let page = await password(off, agent, user, POLAND);
    signedIn(await agent.submit(page, /\/device$/, { method: 'email', code: codesTo(off, user.email)[0]! }));
    off.offset += 50 * HOUR;
    // the password again in the same session (max_age=0), now from Brazil: the code is asked again
    page = await again(off, agent, BRAZIL, { max_age: '0' });
    page = await agent.submit(page, /\/login$/, { email: user.email, password: user.password });
    askedForCode(page);
    assert.match(page.body, /first sign-in from Brazil/);
  });
});
