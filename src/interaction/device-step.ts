// New-device verification: a browser that has not signed in to this account before proves itself
// with a one-time code right after the password (SPEC §3, §4), by email (always) or text message
// (only with a verified mobile number; shown disabled otherwise), before the session exists. A
// "Trust this device" box makes it a trusted device too. The code is an ordinary email or SMS
// proof: amr says so, and it counts as the routine factor when that is the same method.
import type Router from '@koa/router';
import type { Context } from 'koa';
import { UserFacingError } from '../http/errors.ts';
import { deviceLabel } from '../devices/device-words.ts';
import type { Translate } from '../i18n/index.ts';
import type { FactorPrompt, Said } from '../factors/types.ts';
import { riskSentenceIn, saidOption, withCapAdvice } from './words.ts';
import { accountOf, alreadyDone, clientOf, field, movedOn, pendingSignIn, type Details, type InteractionDeps } from './context.ts';
import { continueSignIn, stepKind } from './sign-in-flow.ts';
import type { Flow } from './flow.ts';
import { clientOfRequest, countFailure, deviceFor, deviceVerified } from './device.ts';
import { withoutPhone } from './cap-advice.ts';
import { keyChallenge, keyToBind } from './device-key-proof.ts';

const CHANNELS = ['email', 'sms'] as const;
type Channel = (typeof CHANNELS)[number];
const DAY = 24 * 3600 * 1000;

/** Trusted devices count toward the account's limit (active, not expired). */
async function trustLimitReached(deps: InteractionDeps, accountId: string): Promise<boolean> {
  const now = deps.stepUp.clock().getTime();
  const trusted = (await deps.devices.listFor(accountId)).filter((dev) => dev.state === 'ACTIVE' && dev.trustedUntil && dev.trustedUntil.getTime() > now);
  return trusted.length >= deps.deviceSettings.maxTrusted;
}

async function channels(deps: InteractionDeps, accountId: string) {
  const account = await accountOf(deps, accountId);
  const options = await Promise.all(CHANNELS.map(async (id) => {
    const module = deps.factors.get(id)!;
    return { id, label: module.label, availability: await module.availability(account) };
  }));
  return { account, options };
}

/** Renders the new-device step (the flow's next step). */
export async function renderDeviceStep(ctx: Context, deps: InteractionDeps, d: Details, flow: Flow & { accountId: string }, opts: { method?: string; error?: string | Said; prompt?: FactorPrompt } = {}): Promise<void> {
  await deviceFor(ctx, deps, flow.accountId);
  const found = await channels(deps, flow.accountId);
  const { account } = found;
  let options = found.options.map((o) => ({ ...o, usable: o.availability.available }));
  const chosen = options.find((o) => o.id === opts.method && o.availability.available) ?? options.find((o) => o.availability.available)!;
  const module = deps.factors.get(chosen.id)!;
  let prompt = opts.prompt ?? await module.begin({ account, scope: d.uid, purpose: 'new-device', ip: ctx.ip });
  if (prompt.capped) {
    // no text went: email always serves this step
    options = withoutPhone(options);
    prompt = withCapAdvice(ctx.state.locale as string, prompt, options);
  }
  const { name } = await clientOf(deps, d);
  ctx.status = prompt.capped ? 429 : opts.error ? 400 : 200;
  await ctx.render('interaction/device', {
    riskSentence: flow.risk?.applied && flow.risk.applied !== 'none' ? riskSentenceIn(ctx.state.locale as string, flow.risk) : undefined,
    title: 'New device', uid: d.uid, clientName: name, csrf: ctx.state._csrf, method: chosen.id, prompt, options: options.map(saidOption), error: opts.error,
    trustDays: deps.deviceSettings.trustDays, atTrustLimit: await trustLimitReached(deps, flow.accountId), maxTrusted: deps.deviceSettings.maxTrusted,
    deviceName: deviceLabel(ctx.state.t as Translate, clientOfRequest(ctx)), keyChallenge: keyChallenge(deps, d.uid),
  });
}

export function deviceStepRoutes(router: Router, deps: InteractionDeps): void {
  async function pending(ctx: Context) {
    const { d, flow } = await pendingSignIn(ctx, deps);
    if (stepKind(flow.next) !== 'new-device') {
      throw new UserFacingError(400, 'wrong_step', 'This device is already verified. Go back to the application and start again.', { key: 'interaction:errors.deviceVerified' });
    }
    const device = await deviceFor(ctx, deps, flow.accountId);
    const method = field(ctx, 'method', 16) as Channel;
    const { account, options } = await channels(deps, flow.accountId);
    const option = options.find((o) => o.id === method);
    if (!option?.availability.available) throw new UserFacingError(400, 'wrong_method', 'Choose how to receive the code from the list.', { key: 'interaction:errors.chooseChannel' });
    return { d, flow, device, account, module: deps.factors.get(method)! };
  }

  router.post('/device', async (ctx) => {
    const { d, flow, device, account, module } = await pending(ctx);
    const verification = await module.verify({ account, scope: d.uid, purpose: 'new-device' }, field(ctx, 'code', 16));
    if (!verification.ok) {
      // the same right code sent twice at once: the other request went on with it
      if (await movedOn(deps, flow)) throw alreadyDone();
      await countFailure(ctx, deps, account.id, module.id);
      await renderDeviceStep(ctx, deps, d, flow, { method: module.id, error: verification.said ?? verification.message });
      return;
    }
    const wantsTrust = field(ctx, 'trust', 8) === 'yes' && !(await trustLimitReached(deps, account.id));
    // device-bound trust: the page sent the browser's device key with a signature over this
    // interaction's challenge; without one (no WebCrypto or IndexedDB) the browser is trusted by
    // its cookie only where the installation allows that, else it is only known
    const key = wantsTrust ? keyToBind(ctx, deps, d.uid) : undefined;
    const trust = wantsTrust && (key || deps.deviceSettings.trustCookieOnly)
      ? { until: new Date(deps.stepUp.clock().getTime() + deps.deviceSettings.trustDays * DAY), name: deviceLabel(ctx.state.t as Translate, clientOfRequest(ctx)), ...(key ? { key } : {}) }
      : undefined;
    await deviceVerified(ctx, deps, account.id, device, trust);
    await continueSignIn(ctx, deps, d, flow, verification.proof, { deviceKey: !!key });
  });

  router.post('/device/resend', async (ctx) => {
    const { d, flow, account, module } = await pending(ctx);
    const prompt = await module.resend!({ account, scope: d.uid, purpose: 'new-device', ip: ctx.ip });
    await renderDeviceStep(ctx, deps, d, flow, { method: module.id, prompt });
  });
}
