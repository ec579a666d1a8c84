// Failure velocity through real HTTP behind a trusted proxy, with Tessera's clock in the test's
// hand: more than RISK_MAX_FAILURES_PER_HOUR wrong passwords for an account in the last hour make
// its owner's next correct sign-in (usual place, known browser) ask for a second factor and say
// why; an hour later the same sign-in is an ordinary one again. The limit is low (2) and the
// wrong passwords come from another browser, far below every lockout (README "Limits and lockout").
import assert from 'node:assert/strict';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { REDIRECT_URI, RelyingParty, UserAgent, createUser, type Page, type TestUser } from '../support/flow.ts';

const HOUR = 3600 * 1000;
const POLAND = '83.0.0.1'; // Warsaw: the owner's usual place
const ELSEWHERE = '81.2.69.142'; // the guesser's
const MAX_FAILURES = 2;

/** One Tessera behind a trusted proxy with a low failure-velocity limit, its relying party and a movable clock. */
function setUp(env: Record<string, string> = {}) {
  const s = { offset: 0 } as { t: Tessera; rp: RelyingParty; offset: number };
  before(async () => {
    s.t = await startTessera({ clock: () => new Date(Date.now() + s.offset), env: { TRUST_PROXY: 'true', RISK_MAX_FAILURES_PER_HOUR: String(MAX_FAILURES), ...env } });
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
async function password(s: Setup, agent: UserAgent, user: TestUser, ip: string, typed = user.password): Promise<Page> {
  agent.headers['x-forwarded-for'] = ip;
  const auth = await s.rp.authorize({ prompt: 'login' });
  return agent.submit(await agent.visit(auth.url), /\/login$/, { email: user.email, password: typed });
}

/** `n` wrong passwords for the account from a browser of its own (each answered as a wrong password). */
async function guess(s: Setup, user: TestUser, n: number): Promise<void> {
  const guesser = new UserAgent();
  for (let i = 0; i < n; i++) {
    const page = await password(s, guesser, user, ELSEWHERE, `Wrong#Guess${i}`);
    assert.match(page.body, /Incorrect email or password\./, `wrong password ${i + 1} is refused as one`);
    assert.match(page.body, /action="\/interaction\/[^"]+\/login"/, 'still at the password');
  }
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

describe('adaptive sign-in: failure velocity', function () {
  this.timeout(120_000);
  const s = setUp();

  it(`asks for a second factor after more than ${MAX_FAILURES} wrong passwords in the last hour, says why, records it, and not an hour later`, async () => {
    const user = await createUser(s.t);
    const owner = new UserAgent();
    signedIn(await password(s, owner, user, POLAND)); // the usual place, and now a known browser
    s.offset += HOUR;
    await guess(s, user, MAX_FAILURES + 1);

    const page = await password(s, owner, user, POLAND);
    askedForCode(page);
    assert.match(page.body, /This sign-in is unusual for your account: 3 failed sign-in attempts in the last hour\./);
    const code = codesTo(s, user.email)[0];
    assert.ok(code, 'a sign-in code was emailed');
    signedIn(await owner.submit(page, /\/factor$/, { method: 'email', code }));
    const entry = await latestSuccess(s, user);
    assert.equal(entry.risk, 'Asked for a code: 3 failed sign-in attempts in the last hour');
    assert.ok(entry.factors.includes('email'), 'the emailed code is part of the sign-in');
    const audits = await riskAudits(s, user);
    assert.equal(audits.length, 1);
    assert.deepEqual(audits[0]!.details.reasons, ['failure-velocity']);
    assert.equal(audits[0]!.details.action, 'second-factor');
    assert.equal(audits[0]!.details.applied, 'second-factor');
    assert.equal(audits[0]!.details.trustedDevice, false);

    // an hour after the wrong passwords: an ordinary sign-in again, nothing recorded
    s.offset += HOUR + 60_000;
    signedIn(await password(s, owner, user, POLAND));
    assert.equal((await latestSuccess(s, user)).risk, undefined);
    assert.equal((await riskAudits(s, user)).length, 1, 'no new sign_in.risk');
  });

  it(`lets a sign-in after exactly ${MAX_FAILURES} wrong passwords through (more than the setting triggers it)`, async () => {
    const user = await createUser(s.t);
    const owner = new UserAgent();
    signedIn(await password(s, owner, user, POLAND));
    s.offset += HOUR;
    await guess(s, user, MAX_FAILURES);
    signedIn(await password(s, owner, user, POLAND));
    assert.equal((await latestSuccess(s, user)).risk, undefined);
    assert.equal((await riskAudits(s, user)).length, 0);
  });
});
