// The PIN on the sign-in pages, in two cases. "Request PIN after sign-in": the last step of a
// sign-in (a `pin` proof; amr gains pin). The screen lock: a session closed after inactivity opens
// with the PIN alone, not a full sign-in, for any relying party. Too many wrong PINs end the
// sign-in, or the locked session (its relying parties' sessions with it).
import type Router from '@koa/router';
import type { Context } from 'koa';
import { UserFacingError } from '../http/errors.ts';
import type { Said } from '../factors/types.ts';
import { accountOf, clientOf, details, field, finish, pendingSignIn, type Details, type InteractionDeps } from './context.ts';
import { continueSignIn, stepKind } from './sign-in-flow.ts';
import { countFailure } from './device.ts';

const MAX_PIN = 32;

/** A locked session this interaction must open first (its account still signed in). */
const lockedSession = (d: Details) => (d.prompt.reasons.includes('screen_locked') && d.session?.accountId ? d.session : undefined);

async function render(ctx: Context, deps: InteractionDeps, d: Details, mode: 'unlock' | 'sign-in', error?: string | Said) {
  const { name } = await clientOf(deps, d);
  ctx.status = error ? 400 : 200;
  await ctx.render('interaction/pin', { title: mode === 'unlock' ? 'Unlock' : 'Enter your PIN', uid: d.uid, clientName: name, mode, error, csrf: ctx.state._csrf });
}

/** The URL that starts this relying party's request again (a full sign-in once the session ended). */
function restartUrl(d: Details): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(d.params)) if (typeof v === 'string') params.set(k, v);
  return `/auth?${params}`;
}

/** Renders the unlock page when the screen lock closed the session (false otherwise): before any other step. */
export async function renderUnlock(ctx: Context, deps: InteractionDeps, d: Details): Promise<boolean> {
  if (!lockedSession(d)) return false;
  await render(ctx, deps, d, 'unlock');
  return true;
}

/** Renders the PIN after sign-in (the flow's next step): the last step. */
export async function renderPinStep(ctx: Context, deps: InteractionDeps, d: Details, error?: string | Said): Promise<void> {
  await render(ctx, deps, d, 'sign-in', error);
}

export function pinStepRoutes(router: Router, deps: InteractionDeps): void {
  router.post('/pin', async (ctx) => {
    const pin = field(ctx, 'pin', MAX_PIN).trim();
    const d = await details(ctx, deps.provider, 'login');
    const locked = lockedSession(d);
    if (locked) {
      const account = await accountOf(deps, locked.accountId!);
      const result = await deps.sessions.unlock(locked.uid, account, pin);
      if (result.outcome === 'unlocked') return finish(ctx, deps, 'login', {});
      if (result.outcome === 'wrong') return render(ctx, deps, d, 'unlock', { key: 'interaction:pin.wrongUnlock', vars: { count: result.left } });
      ctx.status = 401;
      await ctx.render('interaction/signed-out', { title: 'Signed out', restart: restartUrl(d) });
      return;
    }
    const { flow } = await pendingSignIn(ctx, deps);
    if (stepKind(flow.next) !== 'pin') {
      throw new UserFacingError(400, 'wrong_step', 'This step of the sign-in is already done. Go back to the application and start again.', { key: 'interaction:errors.wrongStep' });
    }
    if (pin && (await deps.accounts.verifyPin(flow.accountId, pin))) {
      await continueSignIn(ctx, deps, d, flow, { factor: 'pin', at: Math.floor(deps.stepUp.clock().getTime() / 1000) });
      return;
    }
    // a wrong PIN counts toward the device's block too; the PIN's own limit still answers the
    // relying party (access_denied) on the last try, and the block applies from the next attempt
    const failures = await deps.flows.pinFailed(d.uid);
    let blocked: unknown;
    await countFailure(ctx, deps, flow.accountId, 'pin').catch((err: unknown) => {
      if ((err as { code?: string }).code !== 'device_blocked') throw err;
      blocked = err;
    });
    if (failures >= deps.pinMaxFailures) {
      await finish(ctx, deps, 'login', { error: 'access_denied', error_description: 'Too many wrong PINs: the sign-in was stopped.' });
      return;
    }
    if (blocked) throw blocked;
    const left = deps.pinMaxFailures - failures;
    await render(ctx, deps, d, 'sign-in', { key: 'interaction:pin.wrong', vars: { count: left } });
  });
}
