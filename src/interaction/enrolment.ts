// Setting up a factor in the middle of a sign-in, when the account has none that reaches the level
// the relying party asked for (setting mfa.offerEnrolment, default on): first an emailed code
// proves control of the account, then an authenticator app or a security key is set up through
// the factors' own enrolment interface, and the sign-in continues with it. Declining sends the RP
// unmet_authentication_requirements.
import type Router from '@koa/router';
import type { Context } from 'koa';
import { UserFacingError } from '../http/errors.ts';
import type { Proof } from '../policy/sign-in.ts';
import { clientOf, field, pendingSignIn, finish, type Details, type InteractionDeps } from './context.ts';
import { continueSignIn, decide } from './sign-in-flow.ts';

const declined = 'the user did not set up a sign-in method that reaches the requested level';

async function enrolState(ctx: Context, deps: InteractionDeps, d: Details, accountId: string, proofs: Proof[]) {
  const { decision } = await decide(ctx, deps, d, accountId, proofs);
  if (decision.outcome !== 'enrol') return undefined;
  const account = await deps.accounts.findById(accountId);
  if (!account) throw new UserFacingError(400, 'no_account', 'This sign-in cannot continue. Go back to the application and start again.');
  return { decision, account, emailProven: proofs.some((p) => p.factor === 'email') };
}

export async function renderEnrolment(ctx: Context, deps: InteractionDeps, d: Details, accountId: string, error?: string): Promise<boolean> {
  const progress = await deps.progress.get(d.uid);
  const proofs = progress?.accountId === accountId ? progress.proofs : [];
  const state = await enrolState(ctx, deps, d, accountId, proofs);
  if (!state) return false;
  if (!progress) await deps.progress.start(d.uid, { accountId, proofs: [] });
  const { name } = await clientOf(deps, d);
  const base = { title: 'Set up a stronger sign-in', uid: d.uid, clientName: name, csrf: ctx.state._csrf, error, target: state.decision.target };
  ctx.status = error ? 400 : 200;
  if (!state.emailProven) {
    const prompt = await deps.factors.get('email')!.begin({ account: state.account, scope: d.uid, purpose: 'sign-in' });
    await ctx.render('interaction/enrol', { ...base, stage: 'email', prompt });
    return true;
  }
  const totp = state.decision.options.includes('totp') ? await deps.factors.get('totp')?.enrolment?.begin(state.account, d.uid) : undefined;
  await ctx.render('interaction/enrol', { ...base, stage: 'choose', totp, webauthn: state.decision.options.includes('webauthn') });
  return true;
}

export function enrolmentRoutes(router: Router, deps: InteractionDeps): void {
  async function pending(ctx: Context, needsEmail: boolean) {
    const { d, progress } = await pendingSignIn(ctx, deps);
    const state = await enrolState(ctx, deps, d, progress.accountId, progress.proofs);
    if (!state) throw new UserFacingError(400, 'wrong_step', 'This step of the sign-in is already done. Go back to the application and start again.');
    if (needsEmail && !state.emailProven) throw new UserFacingError(400, 'email_first', 'Confirm the code we emailed you first.');
    return { d, progress, ...state };
  }

  /** A factor set up: it counts as proven now, and the sign-in goes on. */
  async function enrolled(ctx: Context, factor: 'totp' | 'webauthn', answerField: string) {
    const { d, progress, account, decision } = await pending(ctx, true);
    const enrolment = decision.options.includes(factor) ? deps.factors.get(factor)?.enrolment : undefined;
    if (!enrolment) throw new UserFacingError(400, 'wrong_method', 'That method cannot be set up for this sign-in.');
    const result = await enrolment.complete(account, d.uid, field(ctx, answerField, 16_384), field(ctx, 'name', 64).trim());
    if (!result.ok) {
      await renderEnrolment(ctx, deps, d, progress.accountId, result.message);
      return;
    }
    const updated = await deps.progress.prove(d.uid, progress.accountId, result.proof);
    await continueSignIn(ctx, deps, d, progress.accountId, updated?.proofs ?? [...progress.proofs, result.proof]);
  }

  router.post('/enrol/email', async (ctx) => {
    const { d, progress, account } = await pending(ctx, false);
    const result = await deps.factors.get('email')!.verify({ account, scope: d.uid, purpose: 'sign-in' }, field(ctx, 'code', 64));
    if (!result.ok) {
      await renderEnrolment(ctx, deps, d, progress.accountId, result.message);
      return;
    }
    await deps.progress.prove(d.uid, progress.accountId, result.proof);
    ctx.status = 303;
    ctx.redirect(`/interaction/${d.uid}`);
  });

  router.post('/enrol/totp', (ctx) => enrolled(ctx, 'totp', 'code'));
  router.post('/enrol/webauthn', (ctx) => enrolled(ctx, 'webauthn', 'response'));

  router.post('/enrol/webauthn/options', async (ctx) => {
    const { d, account, decision } = await pending(ctx, true);
    const enrolment = decision.options.includes('webauthn') ? deps.factors.get('webauthn')?.enrolment : undefined;
    if (!enrolment?.options) throw new UserFacingError(400, 'wrong_method', 'A security key cannot be set up for this sign-in.');
    ctx.body = await enrolment.options(account, d.uid);
  });

  router.post('/enrol/decline', async (ctx) => {
    const { d } = await pending(ctx, false);
    await deps.progress.end(d.uid);
    await finish(ctx, deps, 'login', { error: 'unmet_authentication_requirements', error_description: declined });
  });
}
