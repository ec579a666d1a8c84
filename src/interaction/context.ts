// What every hosted sign-in route shares: its dependencies, the interaction it belongs to, a
// guarded form reader, and the one way to end a step (once) and hand back to the provider.
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { AccountStore } from '../accounts/store.ts';
import type { FactorRegistry } from '../factors/registry.ts';
import type { StepUpDeps } from '../oidc/step-up.ts';
import { UserFacingError } from '../http/errors.ts';
import { alreadyDone, type InteractionSteps } from './steps.ts';
import type { SignInProgress } from './progress.ts';
import type { DeviceRegistry } from '../devices/registry.ts';
import type { SignInEvents } from '../devices/events.ts';
import type { DeviceNotices } from '../notify/device-notices.ts';
import type { Limits } from '../limits/service.ts';
import type { SessionService } from '../sessions/service.ts';

export interface InteractionDeps {
  provider: Provider;
  accounts: AccountStore;
  steps: InteractionSteps;
  factors: FactorRegistry;
  progress: SignInProgress;
  stepUp: StepUpDeps;
  devices: DeviceRegistry;
  events: SignInEvents;
  notices: DeviceNotices;
  deviceSettings: { trustDays: number; maxTrusted: number };
  /** The screen lock's unlock (a locked session opens with the PIN). */
  sessions: SessionService;
  /** Wrong PINs that end a sign-in or a locked session. */
  pinMaxFailures: number;
  /** Brute-force limits: failed sign-ins and wrong codes per account, device and IP. */
  limits: Limits;
}

export type Details = Awaited<ReturnType<Provider['interactionDetails']>>;

/** A string form field of at most `max` characters, or '' (absent, an array, an object, too long). */
export function field(ctx: Context, name: string, max = 1024): string {
  const value = (ctx.request.body as Record<string, unknown> | undefined)?.[name];
  if (typeof value !== 'string' || value.length > max) return '';
  return value;
}

export async function details(ctx: Context, provider: Provider, expectedPrompt?: string): Promise<Details> {
  const d = await provider.interactionDetails(ctx.req, ctx.res);
  if (d.uid !== ctx.params.uid) throw new UserFacingError(400, 'interaction_mismatch', 'This page does not belong to the sign-in in progress. Go back to the application and start again.');
  if (expectedPrompt && d.prompt.name !== expectedPrompt) {
    throw new UserFacingError(400, 'wrong_step', 'This step of the sign-in is already done. Go back to the application and start again.');
  }
  return d;
}

/** Ends a step of the interaction; only the first of concurrent or repeated submissions gets here. */
export async function finish(ctx: Context, deps: InteractionDeps, step: 'login' | 'consent' | 'abort', result: Parameters<Provider['interactionResult']>[2]) {
  if (!(await deps.steps.claim(String(ctx.params.uid), step))) throw alreadyDone();
  const returnTo = await deps.provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
  ctx.status = 303;
  ctx.redirect(returnTo);
}

/** The sign-in in progress on this page (past its password), or a clear error. */
export async function pendingSignIn(ctx: Context, deps: InteractionDeps) {
  const d = await details(ctx, deps.provider, 'login');
  const progress = await deps.progress.get(d.uid);
  if (!progress) throw new UserFacingError(400, 'no_sign_in', 'This sign-in has not started or has expired. Go back to the application and start again.');
  return { d, progress };
}

export async function clientOf(deps: InteractionDeps, d: Details) {
  const client = await deps.provider.Client.find(String(d.params.client_id));
  return { client, name: client?.clientName ?? String(d.params.client_id) };
}
