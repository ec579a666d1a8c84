// "Forgot password?" under the crash rule (README): setting the new password writes in the order
// reset claimed → every session, grant and token ended → the password set → sessions ended again
// → the sign-in's own writes. A crash after any of them leaves the old or the new password working
// (never neither), the person can ask again and finish a reset, and nobody is locked out.
import assert from 'node:assert/strict';
import type { Tessera } from '../support/tessera.ts';
import { walkCrashes } from '../support/crash-walk.ts';
import { RelyingParty, REDIRECT_URI, UserAgent, createUser, signIn, type Page, type TestUser } from '../support/flow.ts';
import { eventually } from '../support/mail.ts';

const NEW_PASSWORD = 'Quartz#Lantern77';
const AGAIN = 'Harbour#Compass58';

interface Context { user: TestUser; client: { id: string; secret: string }; browser: UserAgent; uid: string; passwordPage: Page }

const words = (page: Page) => page.body.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').slice(0, 300);

/** The password reset code emailed to `email` after the messages in `before`. */
async function resetCode(t: Tessera, email: string, before: Set<unknown>): Promise<string> {
  const mail = await eventually(() => t.services.outbox.list().find((m) => !before.has(m) && m.to === email && /password reset code/.test(m.subject ?? '')), `a reset code to ${email}`);
  return /(\d{6}) is your/.exec(mail.subject ?? '')![1]!;
}

/** From a "Forgot your password?" page to the new password's page. */
async function toNewPassword(t: Tessera, browser: UserAgent, forgot: Page, email: string): Promise<Page> {
  assert.match(forgot.body, /Forgot your password\?/, `the reset starts over (got ${forgot.status} ${forgot.url}: ${words(forgot)})`);
  const before = new Set<unknown>(t.services.outbox.list());
  const codePage = await browser.submit(forgot, /\/forgot$/, { email });
  const passwordPage = await browser.submit(codePage, /\/forgot\/code$/, { code: await resetCode(t, email, before) });
  assert.match(passwordPage.body, /Choose a new password/, words(passwordPage));
  return passwordPage;
}

/** The sign-in page of a new authorization in `browser`, then "Forgot password?" on it. */
async function forgotPage(t: Tessera, rp: RelyingParty, browser: UserAgent) {
  const auth = await rp.authorize();
  const login = await browser.visit(auth.url);
  const link = /href="(\/interaction\/([^/"]+)\/forgot)"/.exec(login.body);
  assert.ok(link, `the sign-in page (got ${login.status} ${login.url}: ${words(login)})`);
  return { auth, uid: link[2]!, page: await browser.visit(new URL(link[1]!, t.issuer).href) };
}

describe('crash safety: "Forgot password?" setting the new password', function () {
  this.timeout(900_000);

  it('a crash after any write leaves the old or the new password working; the person asks again and finishes; nobody is locked out', async () => {
    const total = await walkCrashes<Context>({
      async setup(t) {
        const user = await createUser(t);
        const rp = await RelyingParty.register(t, { skipConsent: true });
        // signed in elsewhere too: the reset ends that session
        await signIn(new UserAgent(), (await rp.authorize()).url, user);
        const browser = new UserAgent();
        const { uid, page } = await forgotPage(t, rp, browser);
        const passwordPage = await toNewPassword(t, browser, page, user.email);
        return { user, client: { id: rp.clientId, secret: rp.clientSecret! }, browser, uid, passwordPage };
      },
      async operation(_t, c) {
        return c.browser.submit(c.passwordPage, /\/forgot\/password$/, { password: NEW_PASSWORD, confirm: NEW_PASSWORD });
      },
      async check(t, c, n) {
        const rp = await RelyingParty.discover(t.issuer, c.client.id, c.client.secret);
        const old = await t.services.accounts.authenticate(c.user.email, c.user.password);
        const fresh = await t.services.accounts.authenticate(c.user.email, NEW_PASSWORD);
        assert.ok(!!old !== !!fresh, `exactly one password works (old ${!!old}, new ${!!fresh})`);
        // nobody is locked out: the password that works signs in at the application from a new browser
        await signIn(new UserAgent(), (await rp.authorize()).url, { email: c.user.email, password: old ? c.user.password : NEW_PASSWORD });

        // the person retries in the same browser and interaction: "Forgot password?" starts over (or goes on to the sign-in)
        const again = await c.browser.visit(`${t.issuer}/interaction/${c.uid}/forgot`);
        assert.ok(again.status < 500, `${again.status}: ${words(again)}`);
        if (/Forgot your password\?|Choose a new password/.test(again.body)) {
          // before the claim the reset is still open at its last step; after it, it starts over
          const passwordPage = /Choose a new password/.test(again.body) ? again : await toNewPassword(t, c.browser, again, c.user.email);
          assert.equal(passwordPage === again, n === 0, 'the reset is still open exactly when nothing was written');
          const back = await c.browser.submit(passwordPage, /\/forgot\/password$/, { password: AGAIN, confirm: AGAIN });
          assert.ok(back.url.startsWith(REDIRECT_URI), `back at the application (got ${back.status} ${back.url}: ${words(back)})`);
        } else {
          // the sign-in began from the reset (the flow names the account): it goes on at the sign-in's page
          assert.ok(n > 0, 'only a reset that got past its claim may have moved on');
          const flow = await t.services.flows.get(c.uid);
          // (no flow at all: the sign-in finished and the provider deleted its interaction, and the page says so)
          const completed = !flow && /expired or was already completed/.test(words(again));
          assert.ok(flow?.accountId || flow?.ended.includes('login') || completed, `the reset started over unless the sign-in began (got ${again.status} ${again.url}: ${words(again)})`);
          assert.ok(fresh, 'the new password is set');
        }

        // and from a new authorization in a new browser, a whole reset works
        const browser = new UserAgent();
        const { page } = await forgotPage(t, rp, browser);
        const passwordPage = await toNewPassword(t, browser, page, c.user.email);
        const done = await browser.submit(passwordPage, /\/forgot\/password$/, { password: `${AGAIN}x`, confirm: `${AGAIN}x` });
        assert.ok(done.url.startsWith(REDIRECT_URI), `back at the application (got ${done.status} ${done.url}: ${words(done)})`);
        assert.equal((await t.services.accounts.authenticate(c.user.email, `${AGAIN}x`))?.id, c.user.id);
      },
    });
    assert.ok(total >= 4, `claim, ends, password, ends: ${total} writes`);
  });
});
