// Password attempts as the limits tests make them: one attempt from a browser (a fresh one unless
// given), how to read its answer, and a clock the test moves on.
import { REDIRECT_URI, UserAgent, type Page, type RelyingParty } from './flow.ts';

/** The sign-in form's answer to a wrong password (and to any attempt while locked). */
export const FAILED = 'Incorrect email or password.';

/** Tessera's clock: real time plus what the test moved on. */
export function movableClock() {
  // real time underneath: never behind the embedded database's keeper, which purges by real time
  // (a frozen clock falls behind it on a slow run, and counters vanish)
  let offset = 0;
  return { clock: () => new Date(Date.now() + offset), advance: (seconds: number) => { offset += seconds * 1000; } };
}

/** One password attempt (prompt=login) in `agent`: the page it answers with. */
export async function attempt(rp: RelyingParty, user: { email: string; password: string }, agent = new UserAgent()): Promise<Page> {
  const page = await agent.visit((await rp.authorize({ prompt: 'login' })).url);
  return agent.submit(page, /\/login$/, { email: user.email, password: user.password });
}

/** Refused like a wrong password. */
export const refused = (p: Page) => p.status === 200 && p.body.includes(FAILED);
/** Past the password: at the application, or at the sign-in's next step. */
export const passed = (p: Page) => p.url.startsWith(REDIRECT_URI) || /action="[^"]*\/(confirm|factor|device)"/.test(p.body);
