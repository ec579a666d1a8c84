// Consent, in one of two places. A sign-in whose relying party needs the person's consent asks for
// it as its last step, in the same interaction (one return to the provider, which then finds the
// grant complete): the flow record keeps the finished login until "Allow". A signed-in session
// that a relying party asks for more (the provider's own consent prompt) gets the same page in an
// interaction of its own. First-party clients (skip_consent) never see it: their grant is made
// when the provider loads it (oidc/provider.ts loadExistingGrant).
import type { Context } from 'koa';
import { SKIP_CONSENT } from '../oidc/clients.ts';
import type { SignInResult } from '../oidc/step-up.ts';
import { clientOf, type Details, type InteractionDeps } from './context.ts';

/** What a consent grants: OIDC scopes and claims (the claims parameter's). */
export interface ConsentAsked {
  scopes: string[];
  claims: string[];
}

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

/**
 * During a sign-in that is otherwise complete: what the consent page must ask for, or undefined
 * when the login can go back to the provider as it is (a first-party client; a grant of this
 * account that already covers the request; a request this page cannot grant — resource
 * indicators, authorization details — which the provider's own consent prompt then handles).
 */
export async function consentToAsk(deps: InteractionDeps, d: Details, accountId: string, supportedScopes: ReadonlySet<string>): Promise<ConsentAsked | undefined> {
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
  return missing;
}

/** Saves the grant the person allowed; resolves to the provider's consent result. */
export async function grantAllowed(deps: InteractionDeps, d: Details, accountId: string, asked: ConsentAsked): Promise<{ grantId?: string }> {
  const existing = d.grantId && d.session?.accountId === accountId ? await deps.provider.Grant.find(d.grantId) : undefined;
  const grant = existing ?? new deps.provider.Grant({ accountId, clientId: String(d.params.client_id) });
  if (asked.scopes.length) grant.addOIDCScope(asked.scopes.join(' '));
  if (asked.claims.length) grant.addOIDCClaims(asked.claims);
  const grantId = await grant.save();
  return existing ? {} : { grantId };
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
