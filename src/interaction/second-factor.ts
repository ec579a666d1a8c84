// The second-factor step of a sign-in: the page offers every factor that can satisfy the step
// (unavailable ones shown disabled, with the reason), runs the chosen one, and hands every success
// back to the sign-in flow. Factors are reached only through the registry's one interface.
import type Router from '@koa/router';
import type { Context } from 'koa';
import { UserFacingError } from '../http/errors.ts';
import type { SecondFactor, Step } from '../policy/sign-in.ts';
import type { FactorPrompt } from '../factors/types.ts';
import { clientOf, field, pendingSignIn, type Details, type InteractionDeps } from './context.ts';
import { continueSignIn, decide } from './sign-in-flow.ts';
import { countFailure } from './device.ts';
import { alreadyDone } from './steps.ts';

type FactorStep = Extract<Step, { kind: 'second-factor' }>;

async function currentStep(ctx: Context, deps: InteractionDeps, d: Details, accountId: string, proofs: Parameters<typeof decide>[4]): Promise<FactorStep | undefined> {
  const { decision } = await decide(ctx, deps, d, accountId, proofs);
  if (decision.outcome !== 'steps') return undefined;
  const step = decision.steps[0]!;
  if (step.kind === 'phishing-resistant') return { kind: 'second-factor', options: ['webauthn'], reason: 'level' };
  return step.kind === 'second-factor' ? step : undefined;
}

/** Renders the step for the chosen method (default: the first this account can use). */
export async function renderSecondFactor(ctx: Context, deps: InteractionDeps, d: Details, accountId: string, opts: { method?: string; error?: string; prompt?: FactorPrompt } = {}): Promise<boolean> {
  const progress = await deps.progress.get(d.uid);
  const proofs = progress?.accountId === accountId ? progress.proofs : [];
  const step = await currentStep(ctx, deps, d, accountId, proofs);
  if (!step) return false;
  if (!progress) await deps.progress.start(d.uid, { accountId, proofs: [] });
  const account = await deps.accounts.findById(accountId);
  if (!account) throw new UserFacingError(400, 'no_account', 'This sign-in cannot continue. Go back to the application and start again.');
  const all = await deps.factors.options(account);
  const options = all.filter((o) => step.options.includes(o.id) || o.id === 'sms' || o.id === 'voice')
    .map((o) => ({ ...o, usable: step.options.includes(o.id) && o.availability.available }));
  const chosen = options.find((o) => o.id === opts.method && o.usable) ?? options.find((o) => o.usable);
  if (!chosen) return false;
  const module = deps.factors.get(chosen.id)!;
  const prompt = opts.prompt ?? await module.begin({ account, scope: d.uid, purpose: 'sign-in' });
  const { name } = await clientOf(deps, d);
  ctx.status = opts.error ? 400 : 200;
  await ctx.render('interaction/factor', {
    title: 'Verify it is you', uid: d.uid, clientName: name, csrf: ctx.state._csrf,
    method: chosen.id, label: chosen.label, prompt, options, error: opts.error,
    reason: step.reason,
  });
  return true;
}

export function secondFactorRoutes(router: Router, deps: InteractionDeps): void {
  async function pending(ctx: Context) {
    const { d, progress } = await pendingSignIn(ctx, deps);
    const method = field(ctx, 'method', 32);
    const module = deps.factors.get(method);
    if (!module) throw new UserFacingError(400, 'unknown_method', 'Choose a sign-in method from the list.');
    const account = await deps.accounts.findById(progress.accountId);
    if (!account) throw new UserFacingError(400, 'no_account', 'This sign-in cannot continue. Go back to the application and start again.');
    const step = await currentStep(ctx, deps, d, progress.accountId, progress.proofs);
    // no factor step left: another request (the same form sent twice) completed it
    if (!step) throw alreadyDone();
    if (!step.options.includes(module.id as SecondFactor)) throw new UserFacingError(400, 'wrong_method', 'That method cannot be used for this step. Choose another one.');
    return { d, progress, module, account };
  }

  router.post('/factor', async (ctx) => {
    const { d, progress, module, account } = await pending(ctx);
    // a code, or a WebAuthn assertion (JSON); each factor checks its own answer's shape
    const verification = await module.verify({ account, scope: d.uid, purpose: 'sign-in' }, field(ctx, 'code', 16_384));
    if (!verification.ok) {
      // the same right code sent twice at once (a double click): the other request completed this
      // step with it; this one is no wrong code and must not count against the browser
      const now = await deps.progress.get(d.uid);
      if (now && !(await currentStep(ctx, deps, d, progress.accountId, now.proofs))) throw alreadyDone();
      await countFailure(ctx, deps, progress.accountId, 'wrong_code', module.id);
      if (!(await renderSecondFactor(ctx, deps, d, progress.accountId, { method: module.id, error: verification.message }))) throw alreadyDone();
      return;
    }
    const updated = await deps.progress.prove(d.uid, progress.accountId, verification.proof);
    await continueSignIn(ctx, deps, d, progress.accountId, updated?.proofs ?? [verification.proof]);
  });

  router.post('/resend', async (ctx) => {
    const { d, progress, module, account } = await pending(ctx);
    if (!module.resend) throw new UserFacingError(400, 'no_resend', 'This method does not send codes.');
    const prompt = await module.resend({ account, scope: d.uid, purpose: 'sign-in' });
    await renderSecondFactor(ctx, deps, d, progress.accountId, { method: module.id, prompt });
  });
}
