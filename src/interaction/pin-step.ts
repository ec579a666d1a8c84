// The PIN on the sign-in pages, in two cases. "Request PIN after sign-in": the last step of a
// sign-in (a `pin` proof; amr gains pin). The screen lock: a session closed after inactivity opens
// with the PIN alone, not a full sign-in, for any relying party. Too many wrong PINs end the
// sign-in, or the locked session (its relying parties' sessions with it).
import type Router from '@koa/router';
import type { Context } from 'koa';
import { UserFacingError } from '../http/errors.ts';
import { clientOf, details, field, finish, pendingSignIn, type Details, type InteractionDeps } from './context.ts';
import { continueSignIn, decide } from './sign-in-flow.ts';
import { countFailure } from './device.ts';

const MAX_PIN = 32;

/** A locked session this interaction must open first (its account still signed in). */
const lockedSession = (d: Details) => (d.prompt.reasons.includes('screen_locked') && d.session?.accountId ? d.session : undefined);

async function needsPin(ctx: Context, deps: InteractionDeps, d: Details, accountId: string, proofs: Parameters<typeof decide>[4]): Promise<boolean> {
  const { decision } = await decide(ctx, deps, d, accountId, proofs);
  return decision.outcome === 'steps' && decision.steps[0]!.kind === 'pin';
}

async function render(ctx: Context, deps: InteractionDeps, d: Details, mode: 'unlock' | 'sign-in', error?: string) {
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

/** Renders the PIN after sign-in when it is what this sign-in needs next (false otherwise): the last step. */
export async function renderPinStep(ctx: Context, deps: InteractionDeps, d: Details, accountId: string): Promise<boolean> {
  const progress = await deps.progress.get(d.uid);
  if (!(await needsPin(ctx, deps, d, accountId, progress?.accountId === accountId ? progress.proofs : []))) return false;
  if (!progress) await deps.progress.start(d.uid, { accountId, proofs: [] });
  await render(ctx, deps, d, 'sign-in');
  return true;
}

export function pinStepRoutes(router: Router, deps: InteractionDeps): void {
  router.post('/pin', async (ctx) => {
    const pin = field(ctx, 'pin', MAX_PIN).trim();
    const d = await details(ctx, deps.provider, 'login');
    const locked = lockedSession(d);
    if (locked) {
      const account = await deps.accounts.findById(locked.accountId!);
      if (!account) throw new UserFacingError(400, 'no_account', 'This sign-in cannot continue. Go back to the application and start again.');
      const result = await deps.sessions.unlock(locked.uid, account, pin);
      if (result.outcome === 'unlocked') return finish(ctx, deps, 'login', {});
      if (result.outcome === 'wrong') return render(ctx, deps, d, 'unlock', `That PIN is not right. ${result.left} ${result.left === 1 ? 'try' : 'tries'} left before you are signed out.`);
      ctx.status = 401;
      await ctx.render('interaction/signed-out', { title: 'Signed out', restart: restartUrl(d) });
      return;
    }
    const { progress } = await pendingSignIn(ctx, deps);
    if (!(await needsPin(ctx, deps, d, progress.accountId, progress.proofs))) {
      throw new UserFacingError(400, 'wrong_step', 'This step of the sign-in is already done. Go back to the application and start again.');
    }
    if (pin && (await deps.accounts.verifyPin(progress.accountId, pin))) {
      const proof = { factor: 'pin' as const, at: Math.floor(deps.stepUp.clock().getTime() / 1000) };
      const updated = await deps.progress.prove(d.uid, progress.accountId, proof);
      await continueSignIn(ctx, deps, d, progress.accountId, updated?.proofs ?? [...progress.proofs, proof]);
      return;
    }
    // a wrong PIN counts toward the device's block too; the PIN's own limit still answers the
    // relying party (access_denied) on the last try, and the block applies from the next attempt
    const failures = await deps.progress.pinFailed(d.uid);
    let blocked: unknown;
    await countFailure(ctx, deps, progress.accountId, 'wrong_code', 'pin').catch((err: unknown) => {
      if ((err as { code?: string }).code !== 'device_blocked') throw err;
      blocked = err;
    });
    if (failures >= deps.pinMaxFailures) {
      await deps.progress.end(d.uid);
      await finish(ctx, deps, 'login', { error: 'access_denied', error_description: 'Too many wrong PINs: the sign-in was stopped.' });
      return;
    }
    if (blocked) throw blocked;
    const left = deps.pinMaxFailures - failures;
    await render(ctx, deps, d, 'sign-in', `That PIN is not right. ${left} ${left === 1 ? 'try' : 'tries'} left.`);
  });
}
