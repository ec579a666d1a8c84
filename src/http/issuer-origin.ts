// Absolute URLs come only from ISSUER. The provider builds discovery, redirects and token `iss`
// from the request's own host and scheme, so a request for another host or scheme (a spoofed Host
// header, or TLS offload without TRUST_PROXY) is refused before anything is built from it.
import type { Context, Next } from 'koa';
import { UserFacingError } from './errors.ts';

/** Cookie names for an issuer: `__Host-` (https, host-only, Path=/) or `__Secure-` (https, own path). */
export function cookieName(issuer: string, name: string, scope: 'host' | 'path'): string {
  if (new URL(issuer).protocol !== 'https:') return name;
  return `${scope === 'host' ? '__Host-' : '__Secure-'}${name}`;
}

export function issuerOrigin(issuer: string) {
  const expected = new URL(issuer);
  const misdirected = new UserFacingError(421, 'misdirected_request', `This server answers only at ${expected.origin}.`, { key: 'interaction:errors.misdirected', vars: { origin: expected.origin } });
  return async (ctx: Context, next: Next) => {
    if (ctx.host.toLowerCase() !== expected.host || `${ctx.protocol}:` !== expected.protocol) throw misdirected;
    await next();
  };
}

/** Discovery and the JWKS may be cached briefly: keys are published before they sign (rotation). */
export async function metadataCaching(ctx: Context, next: Next) {
  await next();
  if (ctx.status === 200 && (ctx.path === '/.well-known/openid-configuration' || ctx.path === '/jwks')) {
    ctx.set('Cache-Control', 'public, max-age=300');
  }
}
