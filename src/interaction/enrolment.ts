// Setting up a factor in the middle of a sign-in, when the account has none that reaches the level
// the relying party asked for (setting mfa.offerEnrolment, default on): first an emailed code
// proves control of the account, then an authenticator app or a security key is set up through
// the factors' own enrolment interface, and the sign-in continues with it (a first second factor
// shows its recovery codes first: recovery-step.ts; with no routine method yet, the same form asks,
// ticked by default, whether every sign-in should need it). Declining sends the RP
// unmet_authentication_requirements.
import type Router from '@koa/router';
import type { Context } from 'koa';
import { UserFacingError } from '../http/errors.ts';
import type { Said } from '../factors/types.ts';
import type { AccountView } from '../accounts/store.ts';
import { normalizeIp } from '../policy/ip-ranges.ts';
import { accountOf, clientOf, field, pendingSignIn, finish, restartNeeded, type Details, type InteractionDeps } from './context.ts';
import { continueSignIn, recordProof } from './sign-in-flow.ts';
import { codesNeeded, showFirstCodes } from './recovery-step.ts';
import type { Flow } from './flow.ts';

const declined = 'the user did not set up a sign-in method that reaches the requested level';

/**
 * Any emailed code proven in this sign-in proves the account: the new-device code (the decision
 * asks for it before an enrolment) or this step's own. A code sent by text does not: a new way to
 * sign in is added only with the account's email address, so the page says why it asks.
 */
function enrolState(flow: Flow) {
  const decision = flow.next;
  // a setup whose recovery codes were shown is done: Continue carries the sign-in on
  if (decision?.outcome !== 'enrol' || flow.recoveryCodes) return undefined;
  return { decision, emailProven: flow.proofs.some((p) => p.factor === 'email'), textedFirst: flow.proofs.some((p) => p.factor === 'sms' || p.factor === 'voice') };
}

/** Renders the flow's enrolment step: the emailed code first, then the choice of factor. */
export async function renderEnrolment(ctx: Context, deps: InteractionDeps, d: Details, flow: Flow & { accountId: string }, error?: string | Said): Promise<void> {
  const state = enrolState(flow);
  if (!state) throw new UserFacingError(400, 'wrong_step', 'This step of the sign-in is already done. Go back to the application and start again.', { key: 'interaction:errors.wrongStep' });
  const account = await accountOf(deps, flow.accountId);
  const { name } = await clientOf(deps, d);
  const base = { title: 'Set up a stronger sign-in', uid: d.uid, clientName: name, csrf: ctx.state._csrf, error, target: state.decision.target };
  ctx.status = error ? 400 : 200;
  if (!state.emailProven) {
    const prompt = await deps.factors.get('email')!.begin({ account, scope: d.uid, purpose: 'sign-in' });
    await ctx.render('interaction/enrol', { ...base, stage: 'email', prompt, textedFirst: state.textedFirst });
    return;
  }
  const totp = state.decision.options.includes('totp') ? await deps.factors.get('totp')?.enrolment?.begin(account, d.uid) : undefined;
  await ctx.render('interaction/enrol', { ...base, stage: 'choose', totp, webauthn: state.decision.options.includes('webauthn'), askEverySignIn: !account.secondFactor });
}

const ROUTINE_NAMES = { totp: 'the authenticator app', webauthn: 'security keys' } as const;

/**
 * "Ask for it at every sign-in" (ticked by default when the account has no routine method): the
 * factor just set up becomes the routine one. That moves the account's stamp, which stops other
 * sign-ins in progress; this one carries the new stamp on (a crash in between only stops this
 * sign-in: the person signs in again with the new factor).
 */
async function everySignIn(ctx: Context, deps: InteractionDeps, d: Details, flow: Flow & { accountId: string }, account: AccountView, factor: 'totp' | 'webauthn'): Promise<void> {
  const stamp = await deps.accounts.setSecondFactor(account.id, factor);
  if (!(await deps.flows.restamp(d.uid, account.id, flow.stamp ?? 0, stamp))) throw restartNeeded();
  flow.stamp = stamp;
  const change = `Two-factor sign-in with ${ROUTINE_NAMES[factor]} was turned on: every sign-in now asks for it.`;
  const ip = normalizeIp(ctx.ip);
  deps.audit.record({
    type: 'mfa.changed', outcome: 'success', actor: { type: 'user', id: account.id, label: account.email }, ...(ip ? { ip } : {}),
    subject: { type: 'account', id: account.id, label: account.email }, accountId: account.id, details: { change },
  });
  deps.securityNotice(ctx, account, change, { key: 'email:securityChange.twoFactorOn', vars: { method: { key: factor === 'totp' ? 'account:methods.totp' : 'account:methods.webauthn' } } });
}

export function enrolmentRoutes(router: Router, deps: InteractionDeps): void {
  async function pending(ctx: Context, needsEmail: boolean) {
    const { d, flow } = await pendingSignIn(ctx, deps);
    const state = enrolState(flow);
    if (!state) throw new UserFacingError(400, 'wrong_step', 'This step of the sign-in is already done. Go back to the application and start again.', { key: 'interaction:errors.wrongStep' });
    if (needsEmail && !state.emailProven) throw new UserFacingError(400, 'email_first', 'Confirm the code we emailed you first.', { key: 'interaction:errors.emailFirst' });
    return { d, flow, account: await accountOf(deps, flow.accountId), ...state };
  }

  /** A factor set up: it counts as proven now, and the sign-in goes on (after the codes a first one comes with). */
  async function enrolled(ctx: Context, factor: 'totp' | 'webauthn', answerField: string) {
    const { d, flow, account, decision } = await pending(ctx, true);
    const enrolment = decision.options.includes(factor) ? deps.factors.get(factor)?.enrolment : undefined;
    if (!enrolment) throw new UserFacingError(400, 'wrong_method', 'That method cannot be set up for this sign-in.', { key: 'interaction:errors.cannotSetUp' });
    const result = await enrolment.complete(account, d.uid, field(ctx, answerField, 16_384), field(ctx, 'name', 64).trim());
    if (!result.ok) {
      await renderEnrolment(ctx, deps, d, flow, result.said ?? result.message);
      return;
    }
    if (!account.secondFactor && field(ctx, 'everySignIn', 8) === 'on') await everySignIn(ctx, deps, d, flow, account, factor);
    if (await codesNeeded(deps, account.id)) await showFirstCodes(ctx, deps, d, flow, account, result.proof);
    else await continueSignIn(ctx, deps, d, flow, result.proof);
  }

  router.post('/enrol/email', async (ctx) => {
    const { d, flow, account } = await pending(ctx, false);
    const result = await deps.factors.get('email')!.verify({ account, scope: d.uid, purpose: 'sign-in' }, field(ctx, 'code', 64));
    if (!result.ok) {
      await renderEnrolment(ctx, deps, d, flow, result.said ?? result.message);
      return;
    }
    // the code proves the account, and the setup comes next as decided: an emailed code never
    // reaches the level an enrolment is for (it would not be one otherwise), and the enrolment that
    // ends an assisted recovery (lost-factor.ts) is not the relying party's to drop
    await recordProof(deps, d, flow, result.proof);
    ctx.status = 303;
    ctx.redirect(`/interaction/${d.uid}`);
  });

  router.post('/enrol/totp', (ctx) => enrolled(ctx, 'totp', 'code'));
  router.post('/enrol/webauthn', (ctx) => enrolled(ctx, 'webauthn', 'response'));

  router.post('/enrol/webauthn/options', async (ctx) => {
    const { d, account, decision } = await pending(ctx, true);
    const enrolment = decision.options.includes('webauthn') ? deps.factors.get('webauthn')?.enrolment : undefined;
    if (!enrolment?.options) throw new UserFacingError(400, 'wrong_method', 'A security key cannot be set up for this sign-in.', { key: 'interaction:errors.keyCannotSetUp' });
    ctx.body = await enrolment.options(account, d.uid);
  });

  router.post('/enrol/decline', async (ctx) => {
    await pending(ctx, false);
    await finish(ctx, deps, 'login', { error: 'unmet_authentication_requirements', error_description: declined });
  });
}
