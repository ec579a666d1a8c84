// Whether a sign-in that is done should first offer to create a passkey (the offer's pages:
// passkey-upgrade.ts). Once per sign-in, only after the password (a passkey sign-in has one), only
// in a browser whose page found it can make one, never again for 30 days after "Not now" there,
// and only for an account without a security key or passkey. The browser's answers are cookies:
// the capability is a hint the sign-in page's script sets (a wrong hint shows an offer the page
// then explains it cannot do, with "Not now"); "Not now" is signed, with its end on Tessera's clock.
import type { Context } from 'koa';
import type { Proof } from '../policy/sign-in.ts';
import type { InteractionDeps } from './context.ts';
import type { Flow } from './flow.ts';
import { cookieName } from '../http/issuer-origin.ts';

export const NOT_NOW_DAYS = 30;
/** Set by views/static/passkey-sign-in.js when the browser has a platform authenticator that verifies its user. */
export const CAPABLE_COOKIE = 'tessera.passkey-capable';

export const notNowCookie = (issuer: string) => cookieName(issuer, 'tessera.passkey-not-now', 'host');

/** "Not now" in this browser: no offer for NOT_NOW_DAYS (a signed cookie holding its end). */
export function rememberNotNow(ctx: Context, deps: InteractionDeps): void {
  const until = deps.stepUp.clock().getTime() + NOT_NOW_DAYS * 86_400_000;
  ctx.cookies.set(notNowCookie(deps.config.issuer), String(until), {
    signed: true, httpOnly: true, sameSite: 'lax', secure: deps.config.issuer.startsWith('https:'), maxAge: NOT_NOW_DAYS * 86_400_000, overwrite: true,
  });
}

function saidNotNow(ctx: Context, deps: InteractionDeps): boolean {
  const until = Number(ctx.cookies.get(notNowCookie(deps.config.issuer), { signed: true }));
  return Number.isFinite(until) && until > deps.stepUp.clock().getTime();
}

/**
 * `proofs`: what this interaction proved (not the session before it). Reads nothing from the
 * database unless every other condition holds: an ordinary sign-in costs nothing more.
 */
export async function passkeyOfferDue(ctx: Context, deps: InteractionDeps, accountId: string, proofs: Proof[], stage?: Flow['passkeyOffer']): Promise<boolean> {
  if (!deps.config.webauthn.passkeyUpgradeOffer || stage) return false;
  if (!proofs.some((p) => p.factor === 'password') || proofs.some((p) => p.factor === 'webauthn')) return false;
  if (ctx.cookies.get(CAPABLE_COOKIE) !== '1' || saidNotNow(ctx, deps)) return false;
  return (await deps.webauthn.list(accountId)).length === 0;
}
