// What every hosted sign-in route shares: its dependencies, the interaction and the flow record
// it belongs to (each read once per request), a guarded form reader, and the one way to end a
// sign-in (once) and hand back to the provider.
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { AccountStore, AccountView } from '../accounts/store.ts';
import type { FactorRegistry } from '../factors/registry.ts';
import type { StepUpDeps } from '../oidc/step-up.ts';
import { endSession } from '../oidc/account-sessions.ts';
import { UserFacingError } from '../http/errors.ts';
import { applicationBrand } from '../branding/pages.ts';
import type { Ending, Flow, SignInFlows } from './flow.ts';
import type { DeviceRegistry } from '../devices/registry.ts';
import type { DeviceKeys } from '../devices/device-key.ts';
import type { SignInEvents } from '../devices/events.ts';
import type { DeviceNotices } from '../notify/device-notices.ts';
import type { Limits } from '../limits/service.ts';
import type { AccountDeletion } from '../accounts/deletion.ts';
import type { SessionService } from '../sessions/service.ts';
import type { RecoveryCodes } from '../factors/recovery/index.ts';
import type { AuditSink } from '../audit/events.ts';
import type { WebAuthnStore } from '../factors/webauthn/index.ts';
import type { Config } from '../config/schema.ts';
import type { PasswordResetDeps } from './forgot-password.ts';
import type { SignUpDeps } from './sign-up.ts';
import type { AssistedRecovery } from '../recovery/service.ts';
import type { SignInHistory } from '../sessions/history.ts';
import type { TrustedIps } from '../trusted-ips/store.ts';
import type { Metrics } from '../ops/metrics.ts';
import type { ChangeSaid } from '../notify/messages.ts';

export interface InteractionDeps {
  provider: Provider;
  accounts: AccountStore;
  flows: SignInFlows;
  factors: FactorRegistry;
  stepUp: StepUpDeps;
  devices: DeviceRegistry;
  events: SignInEvents;
  notices: DeviceNotices;
  deviceSettings: { trustDays: number; maxTrusted: number; trustCookieOnly: boolean };
  /** Device-bound trust: the challenges a browser's device key signs (devices/device-key.ts). */
  deviceKeys: DeviceKeys;
  /** The screen lock's unlock (a locked session opens with the PIN). */
  sessions: SessionService;
  /** Wrong PINs that end a sign-in or a locked session. */
  pinMaxFailures: number;
  /** Brute-force limits: failed sign-ins and wrong codes per account, device and IP. */
  limits: Limits;
  /** A sign-in cancels the account's scheduled deletion. */
  deletion: AccountDeletion;
  /** A first second factor set up during a sign-in comes with recovery codes, shown once. */
  recovery: RecoveryCodes;
  /** Emails the account a notice of a security change (account/notices.ts; in the background). */
  securityNotice(ctx: Context, account: AccountView, change: string, said?: ChangeSaid): void;
  /** Where such a change is also recorded. */
  audit: AuditSink;
  /** Passkeys: sign-in with one (passkey-sign-in.ts) and the offer to create one (passkey-upgrade.ts). */
  webauthn: WebAuthnStore;
  /** The settings the passkey pages read (the offer, the re-authentication window). */
  config: Pick<Config, 'webauthn' | 'account' | 'issuer' | 'risk'>;
  /** The adaptive sign-in's one read: the risk digest kept in the account's history head. */
  history: Pick<SignInHistory, 'riskOf'>;
  /** Whether the client address is a trusted one (reported with a risk decision, never lowering it). */
  trustedIps: Pick<TrustedIps, 'skipsFor'>;
  /** "Forgot password?" (forgot-password.ts): its code, the new password's rules, ending the account's sessions. */
  passwordReset: PasswordResetDeps;
  /** Self-service sign-up (signup.enabled): unset when it is off, and then its pages do not exist. */
  signUp?: SignUpDeps;
  /** Assisted recovery of a lost second factor (interaction/lost-factor.ts). */
  assistedRecovery: AssistedRecovery;
  /** What the sign-in steps count themselves (the rest comes from the audit log): second factors, step-ups. */
  metrics: Pick<Metrics, 'secondFactor' | 'stepUp'>;
}

export type Details = Awaited<ReturnType<Provider['interactionDetails']>>;

/** The answer to a second submission of a step that already completed. */
export const alreadyDone = () => new UserFacingError(409, 'already_done',
  'This sign-in step was already completed (the form was sent twice?). Go back to the application: you may already be signed in.', { key: 'interaction:errors.alreadyDone' });

export const restartNeeded = () => new UserFacingError(400, 'no_sign_in', 'This sign-in has not started or has expired. Go back to the application and start again.', { key: 'interaction:errors.restartNeeded' });

/** A string form field of at most `max` characters, or '' (absent, an array, an object, too long). */
export function field(ctx: Context, name: string, max = 1024): string {
  const value = (ctx.request.body as Record<string, unknown> | undefined)?.[name];
  if (typeof value !== 'string' || value.length > max) return '';
  return value;
}

/** The interaction this page belongs to (read once per request). */
export async function details(ctx: Context, provider: Provider, expectedPrompt?: string): Promise<Details> {
  const d = (ctx.state.interaction ??= await provider.interactionDetails(ctx.req, ctx.res)) as Details;
  // the page (and its errors) shows the application's brand (branding/pages.ts)
  if (ctx.state.brandClient === undefined) {
    ctx.state.brandClient = String(d.params.client_id);
    ctx.state.brand = applicationBrand(await provider.Client.find(ctx.state.brandClient) as never, ctx.state.installationBrand ?? ctx.state.brand);
  }
  if (d.uid !== ctx.params.uid) throw new UserFacingError(400, 'interaction_mismatch', 'This page does not belong to the sign-in in progress. Go back to the application and start again.', { key: 'interaction:errors.interactionMismatch' });
  if (expectedPrompt && d.prompt.name !== expectedPrompt) {
    throw new UserFacingError(400, 'wrong_step', 'This step of the sign-in is already done. Go back to the application and start again.', { key: 'interaction:errors.wrongStep' });
  }
  return d;
}

/** This sign-in's flow record, if it has one (read once per request). */
export async function flowOf(ctx: Context, deps: InteractionDeps): Promise<Flow | undefined> {
  if (!('flow' in ctx.state)) ctx.state.flow = await deps.flows.get(String(ctx.params.uid));
  return ctx.state.flow as Flow | undefined;
}

/** The sign-in in progress on this page (past its password), or a clear error. */
export async function pendingSignIn(ctx: Context, deps: InteractionDeps): Promise<{ d: Details; flow: Flow & { accountId: string } }> {
  const [d, flow] = await Promise.all([details(ctx, deps.provider, 'login'), flowOf(ctx, deps)]);
  if (flow?.ended.includes('login')) throw alreadyDone();
  if (!flow?.accountId) throw restartNeeded();
  await accountUnchanged(deps, flow as Flow & { accountId: string });
  return { d, flow: flow as Flow & { accountId: string } };
}

/**
 * Every step of a sign-in checks the account again: one that was disabled, locked or reset, or
 * whose password or routine second factor changed since the sign-in named it (the security
 * stamp moved on), stops the sign-in here, whatever was proven before.
 */
export async function accountUnchanged(deps: InteractionDeps, flow: Flow & { accountId: string }): Promise<void> {
  const account = await deps.accounts.findById(flow.accountId);
  if (account && !account.disabled && !account.locked && !account.passwordResetRequired && account.stamp === (flow.stamp ?? 0)) return;
  throw new UserFacingError(409, 'account_changed',
    'This sign-in was stopped because the account changed while it was in progress (a new password, a reset, or a lock by an administrator). Go back to the application and sign in again.', { key: 'interaction:errors.accountChanged' });
}

/**
 * Whether another request moved this sign-in on since `flow` was read (a right code sent twice
 * at once: the other copy completed the step). A wrong answer then is no wrong code.
 */
export async function movedOn(deps: InteractionDeps, flow: Flow): Promise<boolean> {
  const now = await deps.flows.get(flow.uid, true);
  return !now || now.proofs.length !== flow.proofs.length || now.ended.includes('login');
}

/**
 * Ends the sign-in (once: a double-submitted form or a replay gets "already done") and hands the
 * result to the provider: the end's claim and the result are one write of the interaction. When
 * another person is signed in in this browser, their session ends first (their relying parties get
 * back-channel logout, as the provider's own logout would do), so the new sign-in gets a session of
 * its own and the old cookie carries nothing of it. What the result needs written (a grant) is
 * written before: two copies of the request both write it, and only one goes on. What must happen
 * once (the sign-in recorded) has its own once before it (device.ts signInCompleted).
 */
export async function finish(ctx: Context, deps: InteractionDeps, ending: Ending, result: Parameters<Provider['interactionResult']>[2]): Promise<void> {
  const d = await resultOn(ctx, deps, result);
  if (!(await deps.flows.end(d.uid, ending, await resultFields(d)))) throw alreadyDone();
  backToProvider(ctx, d);
}

/** The interaction with the sign-in's result on it (not saved); another account's session in this browser ends first. */
async function resultOn(ctx: Context, deps: InteractionDeps, result: Parameters<Provider['interactionResult']>[2]): Promise<Details> {
  const d = await details(ctx, deps.provider);
  const accountId = (result as { login?: { accountId?: string } }).login?.accountId;
  if (accountId && d.session?.accountId && d.session.accountId !== accountId) {
    if (d.session.uid) await endSession(deps.provider, d.session.uid, d.session.accountId);
    delete d.session;
  }
  d.result = result;
  return d;
}

/** The interaction's fields as its save would write them (oidc/adapter.ts): the provider's payload and its unchanged expiry. */
async function resultFields(d: Details): Promise<Record<string, unknown>> {
  const { payload } = await (d as unknown as { getValueAndPayload(): Promise<{ payload: Record<string, unknown> }> }).getValueAndPayload();
  return { payload, expiresAt: new Date(d.exp * 1000) };
}

function backToProvider(ctx: Context, d: Details): void {
  ctx.status = 303;
  ctx.redirect(d.returnTo);
}

export async function clientOf(deps: InteractionDeps, d: Details) {
  const client = await deps.provider.Client.find(String(d.params.client_id));
  return { client, name: client?.clientName ?? String(d.params.client_id) };
}

/** The account of a sign-in in progress, or a clear error (it was deleted meanwhile). */
export async function accountOf(deps: InteractionDeps, accountId: string) {
  const account = await deps.accounts.findById(accountId);
  if (!account) throw new UserFacingError(400, 'no_account', 'This sign-in cannot continue. Go back to the application and start again.', { key: 'interaction:errors.noAccount' });
  return account;
}
