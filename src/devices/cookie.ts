// The device cookie: every browser that reaches the hosted pages gets a long-lived, signed,
// HttpOnly, SameSite=Lax cookie holding a random id (192 bits). Another browser, a private window
// or cleared cookies has another id: a new device. A tampered or malformed cookie is replaced.
// Beside it, the registration hint: the registration this browser last signed in with, bound by a
// MAC to the browser and its account (devices/registry.ts `hintFor`), so a known browser's sign-in
// reads that registration without reading its account's list first.
import { randomBytes } from 'node:crypto';
import type { Context, Next } from 'koa';
import { cookieName } from '../http/issuer-origin.ts';

const ID = /^[A-Za-z0-9_-]{32}$/;
// browsers cap cookie lifetimes at 400 days; each sign-in page visit renews it
const MAX_AGE_MS = 400 * 24 * 3600 * 1000;

export function deviceCookieName(issuer: string): string {
  return cookieName(issuer, 'tessera.device', 'host');
}

/** The browser's device id from a valid signed cookie, or undefined. */
export function browserIdOf(ctx: Pick<Context, 'cookies'>, issuer: string): string | undefined {
  const value = ctx.cookies.get(deviceCookieName(issuer), { signed: true });
  return value && ID.test(value) ? value : undefined;
}

/** Middleware: makes sure the browser has a device id (ctx.state.browserId). */
export function deviceCookie(issuer: string) {
  const name = deviceCookieName(issuer);
  const secure = issuer.startsWith('https:');
  return async (ctx: Context, next: Next) => {
    let id = browserIdOf(ctx, issuer);
    if (!id) {
      id = randomBytes(24).toString('base64url');
      ctx.cookies.set(name, id, { signed: true, httpOnly: true, sameSite: 'lax', secure, maxAge: MAX_AGE_MS, overwrite: true });
    }
    ctx.state.browserId = id;
    await next();
  };
}

/** A registration id and its MAC (devices/registry.ts `hintFor`). */
const HINT = /^dev_[\w-]{16,40}\.[\w-]{22}$/;

export function registrationHintName(issuer: string): string {
  return cookieName(issuer, 'tessera.device.known', 'host');
}

/** The browser's registration hint, if well-formed (its MAC is checked against the account by the registry). */
export function registrationHintOf(ctx: Pick<Context, 'cookies'>, issuer: string): string | undefined {
  const value = ctx.cookies.get(registrationHintName(issuer));
  return value && HINT.test(value) ? value : undefined;
}

/** Keeps `hint` as the browser's registration hint (written only when it changes). */
export function keepRegistrationHint(ctx: Pick<Context, 'cookies'>, issuer: string, hint: string): void {
  if (registrationHintOf(ctx, issuer) === hint) return;
  ctx.cookies.set(registrationHintName(issuer), hint, { httpOnly: true, sameSite: 'lax', secure: issuer.startsWith('https:'), maxAge: MAX_AGE_MS, overwrite: true });
}
