// The second-factor step of a sign-in: the page offers every factor that can satisfy the step
// (unavailable ones shown disabled, with the reason), runs the chosen one, and hands every success
// back to the sign-in flow. Factors are reached only through the registry's one interface.
import type Router from '@koa/router';
import type { Context } from 'koa';
import { UserFacingError } from '../http/errors.ts';
import type { SecondFactor } from '../policy/sign-in.ts';
import type { FactorPrompt, Said } from '../factors/types.ts';
import { riskSentenceIn, saidOption, withCapAdvice } from './words.ts';
import { accountOf, alreadyDone, clientOf, field, movedOn, pendingSignIn, type Details, type InteractionDeps } from './context.ts';
import { continueSignIn, factorStep } from './sign-in-flow.ts';
import type { Flow } from './flow.ts';
import { countFailure } from './device.ts';
import { withoutPhone } from './cap-advice.ts';
import { recoveryCompleted } from './lost-factor.ts';
import { keepTrusting, keyBindable, keyChallenge } from './device-key-proof.ts';

/** Renders the flow's second-factor step for the chosen method (default: the first this account can use). */
export async function renderSecondFactor(ctx: Context, deps: InteractionDeps, d: Details, flow: Flow & { accountId: string }, opts: { method?: string; error?: string | Said; prompt?: FactorPrompt } = {}): Promise<void> {
  const step = factorStep(flow.next);
  if (!step) throw alreadyDone();
  // an approved assisted recovery whose waiting period is over: the factors are reset, a new one is set up
  if (await recoveryCompleted(ctx, deps, d, flow)) return;
  const account = await accountOf(deps, flow.accountId);
  const all = await deps.factors.options(account);
  let options = all.filter((o) => step.options.includes(o.id) || o.id === 'sms' || o.id === 'voice')
    .map((o) => ({ ...o, usable: step.options.includes(o.id) && o.availability.available }));
  const chosen = options.find((o) => o.id === opts.method && o.usable) ?? options.find((o) => o.usable);
  if (!chosen) throw new UserFacingError(400, 'no_method', 'None of the sign-in methods this step needs can be used now. Go back to the application and start again.', { key: 'interaction:errors.noMethod' });
  const module = deps.factors.get(chosen.id)!;
  let prompt = opts.prompt ?? await module.begin({ account, scope: d.uid, purpose: 'sign-in', ip: ctx.ip });
  // a prompt is the step shown for a method (again after a wrong answer or a resend: not counted)
  if (!opts.prompt && !opts.error) deps.metrics.secondFactor(chosen.id, 'prompted');
  if (prompt.capped) {
    // no text or call went: say so, and name what else finishes this step (or who can help)
    options = withoutPhone(options);
    prompt = withCapAdvice(ctx.state.locale as string, prompt, options);
  }
  const { name } = await clientOf(deps, d);
  // a device trusted before device keys: "Keep trusting this device" binds the browser's key once
  // the factor (a code or a security key's assertion) passes
  const keepTrust = await keyBindable(ctx, deps, flow.accountId);
  ctx.status = prompt.capped ? 429 : opts.error ? 400 : 200;
  await ctx.render('interaction/factor', {
    title: 'Verify it is you', uid: d.uid, clientName: name, csrf: ctx.state._csrf,
    method: chosen.id, label: chosen.label, prompt, options: options.map(saidOption), error: opts.error,
    reason: step.reason,
    // the risk policy raised this sign-in (enforce): the one plain sentence why
    riskSentence: flow.risk?.applied && flow.risk.applied !== 'none' ? riskSentenceIn(ctx.state.locale as string, flow.risk) : undefined,
    // the new-device code came first: say why it does not finish this step
    emailedFirst: step.reason === 'level' && flow.proofs.some((p) => p.factor === 'email'),
    keyChallenge: keepTrust ? keyChallenge(deps, d.uid) : undefined,
  });
}

export function secondFactorRoutes(router: Router, deps: InteractionDeps): void {
  async function pending(ctx: Context) {
    const { d, flow } = await pendingSignIn(ctx, deps);
    const method = field(ctx, 'method', 32);
    const module = deps.factors.get(method);
    if (!module) throw new UserFacingError(400, 'unknown_method', 'Choose a sign-in method from the list.', { key: 'interaction:errors.unknownMethod' });
    const step = factorStep(flow.next);
    // no factor step left: another request (the same form sent twice) completed it
    if (!step) throw alreadyDone();
    if (!step.options.includes(module.id as SecondFactor)) throw new UserFacingError(400, 'wrong_method', 'That method cannot be used for this step. Choose another one.', { key: 'interaction:errors.wrongMethod' });
    const account = await accountOf(deps, flow.accountId);
    return { d, flow, module, account };
  }

  router.post('/factor', async (ctx) => {
    const { d, flow, module, account } = await pending(ctx);
    // a code, or a WebAuthn assertion (JSON); each factor checks its own answer's shape
    const verification = await module.verify({ account, scope: d.uid, purpose: 'sign-in' }, field(ctx, 'code', 16_384));
    if (!verification.ok) {
      // the same right code sent twice at once (a double click): the other request completed this
      // step with it; this one is no wrong code and must not count against the browser
      if (await movedOn(deps, flow)) throw alreadyDone();
      // a right code already spent (by the other request of a double click, before it recorded its
      // proof) is no guess either
      if (!verification.spent) {
        deps.metrics.secondFactor(module.id, 'failure');
        await countFailure(ctx, deps, flow.accountId, module.id);
      }
      await renderSecondFactor(ctx, deps, d, flow, { method: module.id, error: verification.said ?? verification.message });
      return;
    }
    deps.metrics.secondFactor(module.id, 'success');
    // only now, with the factor passed: "Keep trusting this device" binds the browser's device key
    await keepTrusting(ctx, deps, d.uid, flow.accountId);
    await continueSignIn(ctx, deps, d, flow, verification.proof);
  });

  router.post('/resend', async (ctx) => {
    const { d, flow, module, account } = await pending(ctx);
    if (!module.resend) throw new UserFacingError(400, 'no_resend', 'This method does not send codes.', { key: 'interaction:errors.noResend' });
    const prompt = await module.resend({ account, scope: d.uid, purpose: 'sign-in', ip: ctx.ip });
    await renderSecondFactor(ctx, deps, d, flow, { method: module.id, prompt });
  });
}
