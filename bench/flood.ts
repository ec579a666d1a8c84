// Nobody can slow a chosen person's sign-in by posting wrong passwords for their email from fresh
// browsers: the person's own sign-in (from their known browser) is timed before and after 2,000
// such attempts, and the medians are printed side by side with the account's registrations.
import { randomBytes } from 'node:crypto';
import type { Services } from '../src/services.ts';
import { UserAgent } from '../test/support/flow.ts';
import { signInFlow, type Party } from './common.ts';

const ATTEMPTS = Number(process.env.BENCH_FLOOD ?? 2000);
const OWN_SIGN_INS = 20;

export async function floodComparison(services: Services, issuer: string, client: Party): Promise<void> {
  const owner = { email: `flooded-${randomBytes(3).toString('hex')}@example.com`, password: 'Lantern#Passw0rd' };
  const account = await services.accounts.create({ ...owner, deviceVerification: false });
  const home = new UserAgent();
  await signInFlow(issuer, client, owner, 'openid', home);
  const own = async () => {
    const times: number[] = [];
    for (let i = 0; i < OWN_SIGN_INS; i++) {
      const t0 = performance.now();
      await signInFlow(issuer, client, owner, 'openid', home, { prompt: 'login' });
      times.push(performance.now() - t0);
    }
    return times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
  };
  const before = await own();
  const devicesBefore = (await services.devices.listFor(account.id)).length;
  let next = 0;
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < ATTEMPTS) {
      next++;
      const url = new URL('/auth', issuer);
      for (const [k, v] of Object.entries({ client_id: client.id, response_type: 'code', scope: 'openid', redirect_uri: 'http://127.0.0.1:9/callback', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' })) url.searchParams.set(k, v);
      const browser = new UserAgent();
      await browser.submit(await browser.visit(url.href), /\/login$/, { email: owner.email, password: `Wrong#${next}` });
    }
  }));
  const after = await own();
  const devicesAfter = (await services.devices.listFor(account.id)).length;
  console.log(`The owner's own sign-in (known browser, median of ${OWN_SIGN_INS}) before and after ${ATTEMPTS} wrong passwords from fresh browsers: ${before.toFixed(1)} → ${after.toFixed(1)} ms (${(after / before).toFixed(2)}x); registrations ${devicesBefore} → ${devicesAfter}`);
}
