// Self-service sign-up (signup.enabled, off by default), inside a sign-in's interaction so the
// person goes on to the application that sent them. The form (email, name, password by the
// password rules) is checked field by field; then a 6-digit code is emailed and proves the
// address BEFORE the account exists (accounts/sign-ups.ts keeps the hashed sign-up as long as the
// code). The right code makes the account once (the crash-ordered creation every account gets,
// its address verified), this browser is its first device (it just proved the code), and the
// sign-in carries on from the two proofs (password, emailed code) through the one decision.
//
// An address that already has an account gets exactly the same answers (status, page, writes,
// hashing): the page says a code was emailed, the owner is emailed that someone tried to sign up
// and how to sign in or reset the password instead (never a code), and every code is refused as a
// wrong one. Codes are the one-time code challenges (sealed, 3 tries, Resend once a minute), each
// code sent counts on the hourly caps per address and per client IP, and wrong codes count on the
// code limits per address and per IP. With the setting off none of these routes exist (404).
import type Router from '@koa/router';
import type { Context } from 'koa';
import { AccountError, normalizeEmail, type SignUpProblems } from '../accounts/store.ts';
import type { PendingSignUp, SignUps } from '../accounts/sign-ups.ts';
import type { Challenges } from '../factors/challenges.ts';
import { createCodeFactor } from '../factors/code-factor.ts';
import type { FactorContext, FactorPrompt, Said } from '../factors/types.ts';
import type { Translate } from '../i18n/index.ts';
import { fieldProblemIn, ruleWords } from './words.ts';
import type { CodeMessages } from '../notify/messages.ts';
import type { Transports } from '../notify/transports.ts';
import type { PasswordRules } from '../policy/password.ts';
import { UserFacingError } from '../http/errors.ts';
import { alreadyDone, clientOf, details, field, type Details, type InteractionDeps } from './context.ts';
import { codeVerificationSaid } from '../factors/code-messages.ts';
import { beginSignIn } from './sign-in-flow.ts';
import { deviceFor, deviceVerified } from './device.ts';

export interface SignUpDeps {
  /** Email domains a sign-up may use (lower case); empty: any. */
  allowedDomains: string[];
  signUps: SignUps;
  challenges: Challenges;
  transports: Transports;
  messages: CodeMessages;
  passwordRules: PasswordRules;
}

const MAX_EMAIL = 254;
const MAX_NAME = 400;
const MAX_PASSWORD = 1024;
const CAPPED: Said = { key: 'interaction:signUp.capped' };
const CODES_LOCKED: Said = { key: 'interaction:signUp.codesLocked' };

type Field = keyof SignUpProblems | 'confirm';
interface FormState { values: { email: string; name: string }; problems: Partial<Record<Field, string | Said>> }

const sentence = (text: string) => `${text[0]!.toUpperCase()}${text.slice(1)}${/[.!?]$/.test(text) ? '' : '.'}`;

/** The domain of an address outside `allowed` (none: any domain is allowed). */
export function domainRefused(email: string, allowed: string[]): boolean {
  if (!allowed.length) return false;
  const domain = normalizeEmail(email).split('@').at(-1) ?? '';
  return !allowed.includes(domain);
}

export function signUpRoutes(router: Router, deps: InteractionDeps): void {
  if (!deps.signUp) return;
  const signUp: SignUpDeps = deps.signUp;
  const { accounts, limits, audit } = deps;
  const clock = deps.stepUp.clock;
  const base = (uid: string) => `/interaction/${uid}/sign-up`;

  /** The address's own key on the caps and code limits, and the client IP's. */
  const capKeys = (ctx: Context, email: string) => [`sign-up:${normalizeEmail(email)}`, `sign-up-ip:${ctx.ip}`];

  /** The emailed code of a sign-up: to a new address the code, to one with an account the notice instead. */
  const factorFor = (pending: PendingSignUp) => createCodeFactor({
    id: 'email', label: 'Email me a code',
    destination: async () => pending.email, unavailableReason: 'no address',
    // in the page's language: the address has no account yet (or one it does not tell this page about)
    deliver: async (to, code, minutes, _purpose, c) => signUp.transports.email(pending.taken
      ? await signUp.messages.in({ locale: c.language }).signUpAttempt(to)
      : await signUp.messages.in({ locale: c.language }).signUpCode(to, code, minutes)),
    describe: (to) => `We emailed a 6-digit code to ${to}.`,
    said: (to) => ({ key: 'interaction:prompt.emailed', vars: { to } }),
  }, { challenges: signUp.challenges, clock });
  const contextOf = (ctx: Context, d: Details, pending: PendingSignUp): FactorContext =>
    ({ account: { id: `sign-up:${pending.id}`, email: pending.email }, scope: d.uid, purpose: 'sign-up', ip: ctx.ip, language: ctx.state.locale as string });

  async function form(ctx: Context, d: Details, state: FormState = { values: { email: '', name: '' }, problems: {} }, status?: number) {
    const { name } = await clientOf(deps, d);
    ctx.status = status ?? (Object.keys(state.problems).length ? 400 : 200);
    await ctx.render('interaction/sign-up', {
      title: 'Create an account', uid: d.uid, clientName: name, csrf: ctx.state._csrf, ...state,
      rules: ruleWords(ctx.state.t as Translate, signUp.passwordRules), domains: signUp.allowedDomains,
    });
  }

  async function codePage(ctx: Context, d: Details, pending: PendingSignUp, prompt: FactorPrompt, error?: string | Said, status?: number) {
    const { name } = await clientOf(deps, d);
    ctx.status = status ?? (prompt.capped ? 429 : error ? 400 : 200);
    await ctx.render('interaction/sign-up-code', { title: 'Confirm your email address', uid: d.uid, clientName: name, csrf: ctx.state._csrf, address: pending.email, prompt, error });
  }

  /** The sign-up in progress on this page, or the form again with why (expired, or never started). */
  async function pendingOf(ctx: Context, d: Details): Promise<PendingSignUp | undefined> {
    const pending = await signUp.signUps.get(d.uid);
    if (pending) return pending;
    await form(ctx, d, { values: { email: '', name: '' }, problems: { email: { key: 'interaction:signUp.expired' } } });
    return undefined;
  }

  /** Counts one code sent on the hourly caps of the address and the IP; false at either cap (nothing sent). */
  async function maySend(ctx: Context, email: string): Promise<boolean> {
    const [byAddress, byIp] = capKeys(ctx, email);
    return (await limits.resend(byAddress!)) && (await limits.resend(byIp!));
  }

  router.get('/sign-up', async (ctx) => {
    await form(ctx, await details(ctx, deps.provider, 'login'));
  });

  router.post('/sign-up', async (ctx) => {
    const d = await details(ctx, deps.provider, 'login');
    const typed = field(ctx, 'email', 4096);
    const values = { email: typed.slice(0, MAX_EMAIL).trim(), name: field(ctx, 'name', 4096).slice(0, MAX_NAME) };
    const password = field(ctx, 'password', MAX_PASSWORD);
    const confirm = field(ctx, 'confirm', MAX_PASSWORD);
    const problems: FormState['problems'] = {};
    if (typed.trim().length > MAX_EMAIL) problems.email = { key: 'interaction:signUp.emailTooLong', vars: { count: MAX_EMAIL } };
    // every field's problem at once (the password by the rules, the name and address included)
    const prepared = await accounts.prepareSignUp({ email: values.email, name: values.name, password });
    if ('problems' in prepared) {
      for (const [key, problem] of Object.entries(prepared.problems) as [keyof SignUpProblems, string][]) problems[key] ??= fieldProblemIn(ctx.state.t as Translate, ctx.state.locale as string, problem, sentence);
    }
    // a domain outside the allowed ones says nothing about accounts: it is refused before any lookup
    if (!problems.email && domainRefused(values.email, signUp.allowedDomains)) {
      problems.email = { key: 'interaction:signUp.domainOnly', vars: { domains: signUp.allowedDomains.join(', ') } };
    }
    if (!problems.password && password !== confirm) problems.confirm = { key: 'interaction:signUp.mismatch' };
    if (Object.keys(problems).length || !('account' in prepared)) return form(ctx, d, { values, problems });
    if (!(await maySend(ctx, values.email))) return form(ctx, d, { values, problems: { email: CAPPED } }, 429);
    // from here on a known address does what an unknown one does: one lookup, one write, one code, one email
    const taken = !!(await accounts.findByEmail(values.email));
    const pending = await signUp.signUps.begin(d.uid, prepared.account, taken);
    const prompt = await factorFor(pending).begin(contextOf(ctx, d, pending));
    if (prompt.capped) return codePage(ctx, d, pending, prompt);
    ctx.status = 303;
    ctx.redirect(`${base(d.uid)}/code`);
  });

  router.get('/sign-up/code', async (ctx) => {
    const d = await details(ctx, deps.provider, 'login');
    const pending = await pendingOf(ctx, d);
    if (!pending) return;
    // a reload shows the code as it stands: nothing is made or sent
    await codePage(ctx, d, pending, await factorFor(pending).begin(contextOf(ctx, d, pending)));
  });

  router.post('/sign-up/resend', async (ctx) => {
    const d = await details(ctx, deps.provider, 'login');
    const pending = await pendingOf(ctx, d);
    if (!pending) return;
    const factor = factorFor(pending);
    const c = contextOf(ctx, d, pending);
    if (!(await resendCounted(ctx, d, pending))) return codePage(ctx, d, pending, await factor.begin(c), CAPPED, 429);
    const prompt = await factor.resend!(c);
    if (prompt.expiresAt) await signUp.signUps.extend(d.uid, pending, prompt.expiresAt);
    await codePage(ctx, d, pending, prompt);
  });

  /** A Resend too soon sends nothing and counts nothing; any other counts on the caps. */
  async function resendCounted(ctx: Context, d: Details, pending: PendingSignUp): Promise<boolean> {
    const state = await signUp.challenges.peek(d.uid, 'sign-up', 'email', `sign-up:${pending.id}`);
    if (state && state.resendAt > clock()) return true;
    return maySend(ctx, pending.email);
  }

  router.post('/sign-up/code', async (ctx) => {
    const d = await details(ctx, deps.provider, 'login');
    const pending = await pendingOf(ctx, d);
    if (!pending) return;
    const factor = factorFor(pending);
    const c = contextOf(ctx, d, pending);
    const parties = capKeys(ctx, pending.email).map((accountId) => ({ accountId, knownDevice: false }));
    const lockedFor = Math.max(...(await Promise.all(parties.map((p) => limits.codesLockedFor(p)))));
    if (lockedFor > 0) {
      ctx.set('Retry-After', String(Math.ceil(lockedFor / 1000)));
      return codePage(ctx, d, pending, await factor.begin(c), CODES_LOCKED, 429);
    }
    // an address with an account: whatever was typed is checked as a code that can never be right
    // (it counts as a wrong entry, the same write and answer)
    const entered = field(ctx, 'code', 16).trim();
    const result = await signUp.challenges.verify(d.uid, 'sign-up', 'email', c.account.id, pending.taken ? 'taken' : entered);
    // the right code sent twice at once: the other request goes on with it (no guess, nothing counted)
    if (!result.ok && result.reason === 'used') throw alreadyDone();
    if (!result.ok) {
      for (const p of parties) await limits.codeFailed(p);
      const { problem: _said, ...prompt } = await factor.begin(c);
      return codePage(ctx, d, pending, prompt, codeVerificationSaid(result));
    }
    const proof = { factor: 'email' as const, at: Math.floor(clock().getTime() / 1000) };
    const prepared = await signUp.signUps.claim(d.uid, pending);
    if (!prepared) throw alreadyDone();
    let account;
    try {
      account = await accounts.createSignedUp(prepared);
    } catch (err) {
      if (!(err instanceof AccountError) || err.code !== 'email_taken') throw err;
      // made meanwhile (another sign-up, an admin): only the address's owner, who has the code, sees this
      throw new UserFacingError(409, 'email_taken', 'An account with this email address was created meanwhile. Go back to the application and sign in with it.', { key: 'interaction:errors.emailTaken' });
    }
    audit.record({
      type: 'account.signed_up', outcome: 'success', actor: { type: 'user', id: account.id, label: account.email },
      subject: { type: 'account', id: account.id, label: account.email }, accountId: account.id, ip: ctx.ip,
      details: { client: String(d.params.client_id) },
    });
    // this browser just proved the emailed code: it is the account's first device, verified by
    // it, so the decision below sees a known browser (and the new-device notice goes out)
    await deviceVerified(ctx, deps, account.id, await deviceFor(ctx, deps, account.id));
    await beginSignIn(ctx, deps, d, account.id, [{ factor: 'password', at: proof.at }, proof]);
  });
}
