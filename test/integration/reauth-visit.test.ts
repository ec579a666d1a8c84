// One re-authentication per visit to the security center (issue 20): after a password or second
// factor, changes need no password for REAUTH_MINUTES (5); each change made in that window keeps
// it open for another five minutes, so a person working through their settings is asked once; a
// pause longer than the window, or an hour after the last proof, asks again. Tessera's clock is
// moved on; the changes are real form posts.
import assert from 'node:assert/strict';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, UserAgent, createUser, signIn, type Page, type TestUser } from '../support/flow.ts';

const MINUTE = 60_000;

describe('re-authentication covers a visit', () => {
  let t: Tessera;
  let rp: RelyingParty;
  let offset = 0;
  const now = () => new Date(Date.now() + offset);
  const url = (path: string) => `${t.issuer}/account/security${path}`;

  before(async () => {
    t = await startTessera({ clock: now });
    rp = await RelyingParty.register(t, { skipConsent: true });
  });
  after(() => t.close());

  async function signedIn(user: TestUser): Promise<UserAgent> {
    const agent = new UserAgent();
    await signIn(agent, (await rp.authorize()).url, user);
    return agent;
  }
  /** Sets the routine second factor from the overview with the password field left blank. */
  async function routine(agent: UserAgent, factor: 'email' | 'off'): Promise<Page> {
    const overview = await agent.visit(url(''));
    return agent.submit(overview, /\/security\/second-factor$/, { factor, password: '' });
  }
  const refused = (page: Page) => /needed again because you signed in more than a few minutes ago/.test(page.body);
  const routineOf = async (user: TestUser) => (await t.services.accounts.findById(user.id))!.secondFactor;

  it('asks once: changes four minutes apart go on without a password; a pause of six minutes asks again', async () => {
    offset = 0;
    const user = await createUser(t);
    const agent = await signedIn(user);
    offset = 4 * MINUTE;
    assert.ok(!refused(await routine(agent, 'email')), 'within five minutes of the sign-in');
    assert.equal(await routineOf(user), 'email');
    offset = 8 * MINUTE;
    assert.match((await agent.visit(url(''))).body, /<label for="routine-password">Current password <span class="muted">\(not needed:/, 'the form does not ask for the password');
    assert.ok(!refused(await routine(agent, 'off')), 'eight minutes after the sign-in, four after the last change');
    assert.equal(await routineOf(user), undefined);
    offset = 14 * MINUTE;
    const late = await routine(agent, 'email');
    assert.ok(refused(late), 'six minutes without a change: the password again');
    assert.equal(await routineOf(user), undefined, 'nothing changed');
  });

  it('asks again an hour after the last password, however busy the visit', async () => {
    offset = 0;
    const user = await createUser(t);
    const agent = await signedIn(user);
    let factor: 'email' | 'off' = 'email';
    for (let minutes = 4; minutes <= 56; minutes += 4) {
      offset = minutes * MINUTE;
      assert.ok(!refused(await routine(agent, factor)), `a change at minute ${minutes}`);
      factor = factor === 'email' ? 'off' : 'email';
    }
    offset = 64 * MINUTE;
    assert.ok(refused(await routine(agent, factor)), 'past the hour');
  });
});
