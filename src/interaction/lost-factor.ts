// "I can't use this method" on the second-factor step: the alternatives this account has for the
// step (its other factors, recovery codes), each one click back to the step with that method; with
// none left, an assisted recovery (recovery/service.ts) asked for from here, only by a sign-in that
// proved the password itself. The step also finishes a recovery whose waiting period is over: the
// second factors are reset and this same sign-in goes on to set up a new one (the enrolment step).
import type Router from '@koa/router';
import type { Context } from 'koa';
import { UserFacingError } from '../http/errors.ts';
import { ACR } from '../policy/assurance.ts';
import { clientOfRequest } from './device.ts';
import { enrolmentAfterReset, stageOf } from '../policy/recovery.ts';
import { accountOf, alreadyDone, clientOf, pendingSignIn, type Details, type InteractionDeps } from './context.ts';
import { factorStep } from './sign-in-flow.ts';
import type { Flow } from './flow.ts';
import type { Said } from '../factors/types.ts';
import { saidOption } from './words.ts';
import { stamp } from '../i18n/format.ts';

const MAX_MESSAGE = 500;

/**
 * Before the second-factor step is shown: an approved recovery whose waiting period is over is
 * completed now (the factors reset), and the sign-in moves on to setting up a new factor. True
 * when it did (the response is the redirect to that step).
 */
export async function recoveryCompleted(ctx: Context, deps: InteractionDeps, d: Details, flow: Flow & { accountId: string }): Promise<boolean> {
  if (!(await deps.assistedRecovery.completeIfDue(flow.accountId))) return false;
  const next = flow.next?.outcome === 'steps' ? flow.next.target : undefined;
  // the reset moved the account's stamp on: this sign-in, which proved the password, carries on with it
  const account = await accountOf(deps, flow.accountId);
  await deps.flows.identify(d.uid, flow.accountId, { stamp: account.stamp, proofs: flow.proofs, sessionProofs: flow.sessionProofs, next: enrolmentAfterReset(next ?? ACR.mfa) });
  ctx.status = 303;
  ctx.redirect(`/interaction/${d.uid}`);
  return true;
}

async function render(ctx: Context, deps: InteractionDeps, d: Details, flow: Flow & { accountId: string }, opts: { error?: Said; message?: string; status?: number; from?: string } = {}): Promise<void> {
  const step = factorStep(flow.next);
  if (!step) throw alreadyDone();
  const account = await accountOf(deps, flow.accountId);
  const all = await deps.factors.options(account);
  const options = all.filter((o) => step.options.includes(o.id));
  // the method the person cannot use is no alternative
  const usable = options.filter((o) => o.availability.available && o.id !== opts.from);
  const unusable = options.filter((o) => !o.availability.available);
  const request = await deps.assistedRecovery.get(account.id);
  const stage = stageOf(request, deps.stepUp.clock());
  const { name } = await clientOf(deps, d);
  const when = (at: Date) => stamp(at, account.profile.zoneinfo, ctx.state.locale as string);
  ctx.status = opts.status ?? (opts.error ? 400 : 200);
  await ctx.render('interaction/lost-factor', {
    uid: d.uid, clientName: name, csrf: ctx.state._csrf, usable: usable.map(saidOption), unusable: unusable.map(saidOption),
    stage, requestedAt: request ? when(request.requestedAt) : undefined, resetAfter: request?.resetAfter ? when(request.resetAfter) : undefined,
    passwordProven: flow.proofs.some((p) => p.factor === 'password'), waitHours: deps.assistedRecovery.waitHours,
    error: opts.error, message: opts.message ?? '', maxMessage: MAX_MESSAGE,
  });
}

export function lostFactorRoutes(router: Router, deps: InteractionDeps): void {
  async function pending(ctx: Context) {
    const { d, flow } = await pendingSignIn(ctx, deps);
    if (!factorStep(flow.next)) throw new UserFacingError(400, 'wrong_step', 'This sign-in is not at its second-factor step. Go back to the sign-in page and finish the step it shows, or go back to the application and start again.', { key: 'interaction:errors.notSecondFactorStep' });
    return { d, flow };
  }

  router.get('/lost-factor', async (ctx) => {
    const { d, flow } = await pending(ctx);
    if (await recoveryCompleted(ctx, deps, d, flow)) return;
    const from = typeof ctx.query.from === 'string' ? ctx.query.from.slice(0, 32) : undefined;
    await render(ctx, deps, d, flow, from ? { from } : {});
  });

  router.post('/lost-factor', async (ctx) => {
    const { d, flow } = await pending(ctx);
    const raw = (ctx.request.body as Record<string, unknown> | undefined)?.message;
    if (raw !== undefined && (typeof raw !== 'string' || raw.length > MAX_MESSAGE)) {
      return render(ctx, deps, d, flow, { error: { key: 'interaction:lostFactor.tooLong', vars: { count: MAX_MESSAGE } } });
    }
    const message = (raw ?? '').trim();
    // only a sign-in that proved the password itself may ask: nobody can ask for someone else's account
    if (!flow.proofs.some((p) => p.factor === 'password')) {
      return render(ctx, deps, d, flow, { error: { key: 'interaction:lostFactor.needsPassword' }, message });
    }
    const account = await accountOf(deps, flow.accountId);
    const result = await deps.assistedRecovery.request(account, clientOfRequest(ctx), message);
    if (!result.ok) {
      const error: Said = result.why === 'open'
        ? { key: 'interaction:lostFactor.open' }
        : { key: 'interaction:lostFactor.tooSoon', vars: { after: stamp(result.after, account.profile.zoneinfo, ctx.state.locale as string) } };
      return render(ctx, deps, d, flow, { error, message, status: result.why === 'open' ? 409 : 429 });
    }
    ctx.status = 303;
    ctx.redirect(`/interaction/${d.uid}/lost-factor`);
  });
}
