// New-device verification: a browser that has not signed in to this account before proves itself
// with a one-time code right after the password (SPEC §3, §4), by email (always) or text message
// (only with a verified mobile number; shown disabled otherwise), before the session exists. A
// "Trust this device" box makes it a trusted device too. The code is an ordinary email or SMS
// proof: amr says so, and it counts as the routine factor when that is the same method.
import type Router from '@koa/router';
import type { Context } from 'koa';
import { UserFacingError } from '../http/errors.ts';
import { deviceLabel } from '../devices/client-info.ts';
import type { FactorPrompt } from '../factors/types.ts';
import { clientOf, field, pendingSignIn, type Details, type InteractionDeps } from './context.ts';
import { continueSignIn, decide } from './sign-in-flow.ts';
import { clientOfRequest, countFailure, deviceFor, deviceVerified } from './device.ts';

const CHANNELS = ['email', 'sms'] as const;
type Channel = (typeof CHANNELS)[number];
const DAY = 24 * 3600 * 1000;

async function needsDeviceStep(ctx: Context, deps: InteractionDeps, d: Details, accountId: string, proofs: Parameters<typeof decide>[4]): Promise<boolean> {
  const { decision } = await decide(ctx, deps, d, accountId, proofs);
  return decision.outcome === 'steps' && decision.steps[0]!.kind === 'new-device';
}

/** Trusted devices count toward the account's limit (active, not expired). */
async function trustLimitReached(deps: InteractionDeps, accountId: string): Promise<boolean> {
  const now = deps.stepUp.clock().getTime();
  const trusted = (await deps.devices.listFor(accountId)).filter((dev) => dev.state === 'ACTIVE' && dev.trustedUntil && dev.trustedUntil.getTime() > now);
  return trusted.length >= deps.deviceSettings.maxTrusted;
}

async function channels(deps: InteractionDeps, accountId: string) {
  const account = await deps.accounts.findById(accountId);
  if (!account) throw new UserFacingError(400, 'no_account', 'This sign-in cannot continue. Go back to the application and start again.');
  const options = await Promise.all(CHANNELS.map(async (id) => {
    const module = deps.factors.get(id)!;
    return { id, label: module.label, availability: await module.availability(account) };
  }));
  return { account, options };
}

/** Renders the new-device step when it is the next one (false otherwise). */
export async function renderDeviceStep(ctx: Context, deps: InteractionDeps, d: Details, accountId: string, opts: { method?: string; error?: string; prompt?: FactorPrompt } = {}): Promise<boolean> {
  const progress = await deps.progress.get(d.uid);
  const proofs = progress?.accountId === accountId ? progress.proofs : [];
  if (!(await needsDeviceStep(ctx, deps, d, accountId, proofs))) return false;
  await deviceFor(ctx, deps, accountId);
  if (!progress) await deps.progress.start(d.uid, { accountId, proofs: [] });
  const { account, options } = await channels(deps, accountId);
  const chosen = options.find((o) => o.id === opts.method && o.availability.available) ?? options.find((o) => o.availability.available)!;
  const module = deps.factors.get(chosen.id)!;
  const prompt = opts.prompt ?? await module.begin({ account, scope: d.uid, purpose: 'new-device' });
  const { name } = await clientOf(deps, d);
  ctx.status = opts.error ? 400 : 200;
  await ctx.render('interaction/device', {
    title: 'New device', uid: d.uid, clientName: name, csrf: ctx.state._csrf, method: chosen.id, prompt, options, error: opts.error,
    trustDays: deps.deviceSettings.trustDays, atTrustLimit: await trustLimitReached(deps, accountId), maxTrusted: deps.deviceSettings.maxTrusted,
    deviceName: deviceLabel(clientOfRequest(ctx)),
  });
  return true;
}

export function deviceStepRoutes(router: Router, deps: InteractionDeps): void {
  async function pending(ctx: Context) {
    const { d, progress } = await pendingSignIn(ctx, deps);
    if (!(await needsDeviceStep(ctx, deps, d, progress.accountId, progress.proofs))) {
      throw new UserFacingError(400, 'wrong_step', 'This device is already verified. Go back to the application and start again.');
    }
    const device = await deviceFor(ctx, deps, progress.accountId);
    const method = field(ctx, 'method', 16) as Channel;
    const { account, options } = await channels(deps, progress.accountId);
    const option = options.find((o) => o.id === method);
    if (!option?.availability.available) throw new UserFacingError(400, 'wrong_method', 'Choose how to receive the code from the list.');
    return { d, progress, device, account, module: deps.factors.get(method)! };
  }

  router.post('/device', async (ctx) => {
    const { d, progress, device, account, module } = await pending(ctx);
    const verification = await module.verify({ account, scope: d.uid, purpose: 'new-device' }, field(ctx, 'code', 16));
    if (!verification.ok) {
      await countFailure(ctx, deps, account.id, 'wrong_code', module.id);
      await renderDeviceStep(ctx, deps, d, account.id, { method: module.id, error: verification.message });
      return;
    }
    const wantsTrust = field(ctx, 'trust', 8) === 'yes' && !(await trustLimitReached(deps, account.id));
    const trust = wantsTrust
      ? { until: new Date(deps.stepUp.clock().getTime() + deps.deviceSettings.trustDays * DAY), name: deviceLabel(clientOfRequest(ctx)) }
      : undefined;
    await deviceVerified(ctx, deps, account.id, device, trust);
    const updated = await deps.progress.prove(d.uid, account.id, verification.proof);
    await continueSignIn(ctx, deps, d, progress.accountId, updated?.proofs ?? [verification.proof]);
  });

  router.post('/device/resend', async (ctx) => {
    const { d, account, module } = await pending(ctx);
    const prompt = await module.resend!({ account, scope: d.uid, purpose: 'new-device' });
    await renderDeviceStep(ctx, deps, d, account.id, { method: module.id, prompt });
  });
}
