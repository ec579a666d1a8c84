// What a page shows of a brand: an application's (its client metadata: name, logo, colour, links)
// on the pages shown for it, the installation's (BRAND_NAME, BRAND_LOGO_URL, BRAND_COLOR) on
// Tessera's own. Views read `brand` (koa-views hands ctx.state to them): views/partials/brand.ejs
// in the head, brand-links.ejs on sign-in and consent. The colour reaches the page as a stylesheet
// generated from the validated value (/branding/colour/<rrggbb>.css), never as an inline style,
// so the CSP stays strict.
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import { BRAND_COLOR, SUPPORT_URI } from '../oidc/clients.ts';
import { BRAND_COLOUR, brandColourProblem, shadeForDark } from '../policy/brand-colour.ts';
import { LOGO_PATH, type LogoStore } from './logos.ts';

export interface Brand {
  name: string;
  logoUrl?: string;
  /** The stylesheet that sets --brand, when the colour is not the default one. */
  colorCss?: string;
  policyUri?: string;
  tosUri?: string;
  supportUri?: string;
}

export interface InstallationBrand {
  name: string;
  logoUrl?: string | undefined;
  color?: string | undefined;
}

const YEAR = 'public, max-age=31536000, immutable';
const COLOUR_CSS = /^([0-9a-f]{6})\.css$/;

export const colorCssPath = (hex: string) => `/branding/colour/${hex.slice(1).toLowerCase()}.css`;

export function installationBrand(settings: InstallationBrand): Brand {
  return {
    name: settings.name,
    ...(settings.logoUrl ? { logoUrl: settings.logoUrl } : {}),
    ...(settings.color ? { colorCss: colorCssPath(settings.color) } : {}),
  };
}

/** A client as oidc-provider hands it over (standard metadata camel-cased, extra metadata by its name). */
type ClientLike = Record<string, unknown> & { clientName?: string; logoUri?: string; policyUri?: string; tosUri?: string };

/**
 * The brand of the pages shown for `client`: what it sets, the installation's for the rest (an
 * application with its own name but no logo shows no logo rather than the installation's).
 */
export function applicationBrand(client: ClientLike | undefined, installation: Brand): Brand {
  if (!client) return installation;
  const text = (v: unknown) => (typeof v === 'string' && v ? v : undefined);
  const name = text(client.clientName);
  const logo = text(client.logoUri) ?? (name ? undefined : installation.logoUrl);
  const color = text(client[BRAND_COLOR]);
  const colorCss = color && BRAND_COLOUR.test(color) ? colorCssPath(color) : installation.colorCss;
  const links = { policyUri: text(client.policyUri), tosUri: text(client.tosUri), supportUri: text(client[SUPPORT_URI]) };
  return {
    name: name ?? installation.name,
    ...(logo ? { logoUrl: logo } : {}),
    ...(colorCss ? { colorCss } : {}),
    ...Object.fromEntries(Object.entries(links).filter(([, v]) => v)),
  };
}

/** Every page starts with the installation's brand; the pages shown for an application replace it. */
export function brandMiddleware(settings: InstallationBrand) {
  const brand = installationBrand(settings);
  return (ctx: Context, next: Next) => {
    ctx.state.brand = brand;
    ctx.state.installationBrand = brand;
    return next();
  };
}

/** GET /branding/colour/<rrggbb>.css and /branding/logos/<sha256>.<ext>: immutable, cached for a year. */
export function brandingRouter(logos: Pick<LogoStore, 'find'>): Router {
  const router = new Router();
  router.get('/branding/colour/:file', (ctx) => {
    const hex = COLOUR_CSS.exec(ctx.params.file ?? '')?.[1];
    // only a colour that could have been saved (AA with white): the file is made from the name
    if (!hex || brandColourProblem(`#${hex}`)) return;
    ctx.state.route = '/branding/colour/:file';
    ctx.type = 'text/css; charset=utf-8';
    ctx.set('Cache-Control', YEAR);
    ctx.body = `:root { --brand: #${hex}; --brand-on-dark: ${shadeForDark(`#${hex}`)}; }\n`;
  });
  router.get(`${LOGO_PATH}/:file`, async (ctx) => {
    const logo = await logos.find(ctx.params.file ?? '');
    if (!logo) return;
    ctx.state.route = `${LOGO_PATH}/:file`;
    ctx.type = logo.type;
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Cache-Control', YEAR);
    // opened on its own, the image is only an image: no script, no plugins, no framing
    ctx.set('Content-Security-Policy', "default-src 'none'; sandbox");
    ctx.body = logo.data;
  });
  return router;
}
