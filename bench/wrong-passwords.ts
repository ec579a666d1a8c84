// A wrong password must cost the same whether the email has an account, a disabled one, none, or
// is locked out: the same hashing and the same database writes, so the answer's time tells
// nothing. Prints the four medians side by side with the commands each attempt sent.
import { randomBytes } from 'node:crypto';
import type { Services } from '../src/services.ts';
import { REDIRECT_URI, UserAgent, formOn } from '../test/support/flow.ts';
import { printTable, type Credentials } from './common.ts';

const ATTEMPTS = Number(process.env.BENCH_WRONG_PASSWORDS ?? 24);

export async function compareWrongPasswords(services: Services, issuer: string, clientId: string, user: Credentials): Promise<void> {
  const tag = randomBytes(3).toString('hex');
  const make = async (name: string) => (await services.accounts.create({ email: `${name}-${tag}@example.com`, password: user.password, deviceVerification: false })).email;
  // one email per attempt (an account's own limit would lock it after a few); the locked ones are
  // locked out beforehand
  const emails = async (kind: string, create: boolean, disable = false) => Promise.all(Array.from({ length: ATTEMPTS }, async (_, i) => {
    if (!create) return `${kind}-${i}-${tag}@example.com`;
    const email = await make(`${kind}-${i}`);
    if (disable) await services.accounts.setDisabled(email, true);
    return email;
  }));
  const kinds: Record<string, string[]> = {
    'existing account': await emails('existing', true), 'disabled account': await emails('disabled', true, true),
    'unknown email': await emails('nobody', false), 'locked out': await emails('locked', true),
  };
  const url = new URL('/auth', issuer);
  for (const [k, v] of Object.entries({ client_id: clientId, response_type: 'code', scope: 'openid', redirect_uri: REDIRECT_URI, code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' })) url.searchParams.set(k, v);

  const client = services.db.connection.getClient();
  let seen: Record<string, number> = {};
  const listener = (e: { commandName: string }) => { seen[e.commandName] = (seen[e.commandName] ?? 0) + 1; };
  async function attempt(email: string, measure: boolean): Promise<{ ms: number; commands: Record<string, number> }> {
    const agent = new UserAgent();
    const form = formOn(await agent.visit(url.href), /\/login$/);
    await services.audit.flush();
    seen = {};
    if (measure) client.on('commandStarted', listener);
    const t0 = performance.now();
    const res = await agent.request(form.action, { form: { ...form.fields, email, password: `Wrong#${randomBytes(4).toString('hex')}` } });
    const ms = performance.now() - t0;
    await services.audit.flush();
    client.off('commandStarted', listener);
    if (res.status !== 200 || !res.body.includes('Incorrect email or password')) throw new Error(`unexpected answer ${res.status} for ${email}`);
    return { ms, commands: { ...seen } };
  }
  // lock those accounts out: their later attempts are refused without being counted
  for (const locked of kinds['locked out']!) for (let i = 0; i < services.limits.settings.lockAfter; i++) await attempt(locked, false);

  const results: Record<string, { ms: number[]; commands: Record<string, number> }> = {};
  for (let i = 0; i < ATTEMPTS; i++) {
    // each round starts with another kind: no kind always comes last (after the others' garbage)
    const order = Object.entries(kinds);
    for (const [kind, list] of [...order.slice(i % order.length), ...order.slice(0, i % order.length)]) {
      const { ms, commands } = await attempt(list[i]!, true);
      (results[kind] ??= { ms: [], commands }).ms.push(ms);
      results[kind].commands = commands;
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(`Wrong passwords from fresh browsers (${ATTEMPTS} each, interleaved, each round in another order; the POST of the form):`);
  printTable(['', 'median ms', 'database commands of the last attempt'], Object.entries(results).map(([kind, r]) => [
    kind, median(r.ms).toFixed(1), Object.entries(r.commands).sort().map(([k, v]) => `${k} ${v}`).join(', '),
  ]));
}
