// The recovery codes a first second factor comes with when it is set up during a sign-in (an
// enrolment step, or a passkey made at the passkey offer; the security center does the same for its
// own setups): a person who loses the phone or the key then
// still has a way in. The codes are shown once, right after the setup; a reload shows a short page
// instead (never the codes, never the setup again), and Continue carries the sign-in on, once,
// from the proofs the flow recorded.
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { AccountView } from '../accounts/store.ts';
import type { Proof } from '../policy/sign-in.ts';
import type { Said } from '../factors/types.ts';
import { normalizeIp } from '../policy/ip-ranges.ts';
import { UserFacingError } from '../http/errors.ts';
import { accountOf, alreadyDone, clientOf, pendingSignIn, type Details, type InteractionDeps } from './context.ts';
import { carryOn, recordProof } from './sign-in-flow.ts';
import type { Flow } from './flow.ts';

const CREATED = 'Recovery codes were created for your account.';
/** What the codes page says was just set up, by the factor the setup proved. */
const SET_UP: Partial<Record<Proof['factor'], Said>> = { totp: { key: 'interaction:recoveryCodes.appSetUp' }, webauthn: { key: 'interaction:recoveryCodes.keySetUp' } };

/** Whether a first second factor set up now comes with codes: the account has no unused ones. */
export async function codesNeeded(deps: InteractionDeps, accountId: string): Promise<boolean> {
  return (await deps.recovery.remaining(accountId)) === 0;
}

/**
 * The setup's proof is recorded (once) together with "codes shown", then a new batch is made, the
 * account is told and the page shows them. In that order a crash leaves a sign-in that Continue
 * completes, at worst with an account without codes, which the security center offers to create.
 */
export async function showFirstCodes(ctx: Context, deps: InteractionDeps, d: Details, flow: Flow & { accountId: string }, account: AccountView, proof: Proof): Promise<void> {
  await recordProof(deps, d, flow, proof, true);
  await showNewCodes(ctx, deps, d, account, SET_UP[proof.factor]);
}

/**
 * After the once-only write that made the sign-in wait for Continue (a setup's proof, or the
 * passkey offer's answer: flow.ts `recoveryCodes: 'shown'`): a new batch, the account told, the page.
 */
export async function showNewCodes(ctx: Context, deps: InteractionDeps, d: Details, account: AccountView, intro?: Said): Promise<void> {
  const codes = await deps.recovery.generate(account.id);
  const ip = normalizeIp(ctx.ip);
  deps.audit.record({
    type: 'mfa.changed', outcome: 'success', actor: { type: 'user', id: account.id, label: account.email }, ...(ip ? { ip } : {}),
    subject: { type: 'account', id: account.id, label: account.email }, accountId: account.id, details: { change: CREATED },
  });
  deps.securityNotice(ctx, account, CREATED, { key: 'email:securityChange.recoveryCreated' });
  await render(ctx, deps, d, account, codes, intro);
}

/** The interaction page after the codes were shown (a reload, the back button): they are not shown again. */
export async function renderCodesShown(ctx: Context, deps: InteractionDeps, d: Details, flow: Flow & { accountId: string }): Promise<void> {
  await render(ctx, deps, d, await accountOf(deps, flow.accountId));
}

async function render(ctx: Context, deps: InteractionDeps, d: Details, account: AccountView, codes?: string[], intro?: Said): Promise<void> {
  const { name } = await clientOf(deps, d);
  await ctx.render('interaction/recovery-codes', {
    title: codes ? 'Your recovery codes' : 'Recovery codes shown', uid: d.uid, clientName: name, csrf: ctx.state._csrf, email: account.email, codes, intro,
  });
}

export function recoveryStepRoutes(router: Router, deps: InteractionDeps): void {
  // Continue after the codes: the decision is taken from what the flow recorded (the setup's proof,
  // or the answered passkey offer)
  router.post('/enrol/continue', async (ctx) => {
    const { d, flow } = await pendingSignIn(ctx, deps);
    if (flow.recoveryCodes === 'continued') throw alreadyDone();
    const setUp = flow.proofs.at(-1);
    if (flow.recoveryCodes !== 'shown' || !(flow.passkeyOffer === 'answered' || (setUp && SET_UP[setUp.factor]))) {
      throw new UserFacingError(400, 'nothing_set_up', 'Nothing was set up in this sign-in to continue from. Go back to the sign-in page and finish the step it shows, or go back to the application and start again.', { key: 'interaction:errors.nothingSetUp' });
    }
    if (!(await deps.flows.continueAfterCodes(d.uid, flow.accountId))) throw alreadyDone();
    await carryOn(ctx, deps, d, flow);
  });
}
