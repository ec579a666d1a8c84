// Consent, in one of two places. A sign-in whose relying party needs the person's consent asks for
// it as its last step, in the same interaction (one return to the provider, which then finds the
// grant complete): the flow record keeps the finished login until "Allow". A signed-in session
// that a relying party asks for more (the provider's own consent prompt) gets the same page in an
// interaction of its own. First-party clients (skip_consent) never see it: their grant is made
// when the provider loads it (oidc/provider.ts loadExistingGrant).
// What the person allowed is kept on the account, per application (SPEC: shown once per client
// and scope set): a later request that asks for no more is not asked again — a sign-in from any
// browser skips the page, a signed-in session's first request to the application needs no
// interaction at all — and its grant is made (or widened) when the provider loads it
// (oidc/provider.ts loadExistingGrant). "Remove access" (security center) forgets it;
// `prompt=consent` and native applications always ask.
import type { Context } from 'koa';
import { clientDigest, keptConsentAllows, keptFor, type ConsentAsked } from '../policy/consent.ts';
import { SKIP_CONSENT, appIdentity } from '../oidc/clients.ts';
import type { SignInResult } from '../oidc/step-up.ts';
import { clientOf, type Details, type InteractionDeps } from './context.ts';

export type { ConsentAsked } from '../policy/consent.ts';

/** The claims the request's `claims` parameter names (userinfo and ID token). */
function requestedClaims(claims: unknown): string[] | undefined {
  if (claims === undefined) return [];
  try {
    const parsed = JSON.parse(String(claims)) as { userinfo?: object; id_token?: object };
    return [...new Set([...Object.keys(parsed.userinfo ?? {}), ...Object.keys(parsed.id_token ?? {})])];
  } catch {
    return undefined;
  }
}

/** What the sign-in needs before going back to the provider, as far as consent goes. */
export type ConsentNeed =
  /** the consent page, asking for these */
  | { ask: ConsentAsked }
  /** nothing to ask: the person allowed these before (a kept consent); the provider's load of the grant adds them */
  | { kept: ConsentAsked };

/**
 * During a sign-in that is otherwise complete: what the consent page must ask for, what an earlier
 * consent of the person already allows, or undefined when the login can go back to the provider as
 * it is (a first-party client; a grant of this account that already covers the request; a request
 * this page cannot grant — resource indicators, authorization details — which the provider's own
 * consent prompt then handles).
 */
export async function consentToAsk(deps: InteractionDeps, d: Details, accountId: string, supportedScopes: ReadonlySet<string>): Promise<ConsentNeed | undefined> {
  const { client } = await clientOf(deps, d);
  if (!client || client[SKIP_CONSENT] === true) return undefined;
  if (d.params.resource !== undefined || d.params.authorization_details !== undefined) return undefined;
  const claims = requestedClaims(d.params.claims);
  if (!claims) return undefined;
  const scopes = String(d.params.scope ?? 'openid').split(' ').filter((s) => supportedScopes.has(s));
  const existing = d.grantId && d.session?.accountId === accountId ? await deps.provider.Grant.find(d.grantId) : undefined;
  const hadScopes = new Set(existing?.getOIDCScopeEncountered().split(' ') ?? []);
  const hadClaims = new Set(existing?.getOIDCClaimsEncountered() ?? []);
  const missing = { scopes: scopes.filter((s) => !hadScopes.has(s)), claims: claims.filter((c) => !hadClaims.has(c)) };
  const asked = String(d.params.prompt ?? '').split(' ').includes('consent') || client.applicationType === 'native';
  if (!asked && !missing.scopes.length && !missing.claims.length) return undefined;
  if (!asked && keptConsentAllows((await deps.accounts.findById(accountId))?.consents[client.clientId], appIdentity(client), missing)) return { kept: missing };
  return { ask: missing };
}

/** Saves the grant the person allowed, and keeps the consent; resolves to the provider's consent result. */
export async function grantAllowed(deps: InteractionDeps, d: Details, accountId: string, asked: ConsentAsked): Promise<{ grantId?: string }> {
  const existing = d.grantId && d.session?.accountId === accountId ? await deps.provider.Grant.find(d.grantId) : undefined;
  const grant = existing ?? new deps.provider.Grant({ accountId, clientId: String(d.params.client_id) });
  if (asked.scopes.length) grant.addOIDCScope(asked.scopes.join(' '));
  if (asked.claims.length) grant.addOIDCClaims(asked.claims);
  const grantId = await grant.save();
  await rememberConsent(deps, accountId, grant);
  return existing ? {} : { grantId };
}

/**
 * Keeps what the grant now allows as the person's consent to its application (with what was kept
 * for it before), after the grant itself is saved: a crash between only means one more question.
 */
export async function rememberConsent(deps: Pick<InteractionDeps, 'accounts' | 'provider' | 'stepUp'>, accountId: string, grant: { clientId?: string; getOIDCScope(): string; getOIDCClaims(): string[] }): Promise<void> {
  const clientId = grant.clientId;
  const client = clientId ? await deps.provider.Client.find(clientId) : undefined;
  if (!client) return;
  const app = appIdentity(client);
  const digest = clientDigest(app);
  const before = (await deps.accounts.findById(accountId))?.consents[client.clientId];
  const kept = keptFor(before, app) ? before : undefined;
  const scopes = [...new Set([...(kept?.scopes ?? []), ...grant.getOIDCScope().split(' ').filter(Boolean)])];
  const claims = [...new Set([...(kept?.claims ?? []), ...grant.getOIDCClaims()])];
  // nothing new (prompt=consent asked again for what was kept): no write
  if (kept && scopes.length === kept.scopes.length && claims.length === kept.claims.length) return;
  await deps.accounts.rememberConsent(accountId, client.clientId, { scopes, claims, client: digest, at: kept?.at ?? deps.stepUp.clock() });
}

/** The consent page: the scopes in plain words, Allow and Deny. */
export async function renderConsent(ctx: Context, deps: InteractionDeps, d: Details, scopes: string[]): Promise<void> {
  const { name } = await clientOf(deps, d);
  await ctx.render('interaction/consent', { title: 'Allow access', uid: d.uid, clientName: name, scopes, csrf: ctx.state._csrf });
}

/** A sign-in waiting for consent: the finished login and what the page asks for. */
export interface AwaitingConsent {
  login: SignInResult;
  asked: ConsentAsked;
}
