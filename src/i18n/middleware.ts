// The language of each page: chosen when the page is rendered, from what the request knows by
// then (policy/locale.ts). `ctx.state.locale` and `ctx.state.t` are read by every view (koa-views
// hands ctx.state to the templates); routes that know more say so in `ctx.state.localeHints`
// (the account's locale), and an interaction page's ui_locales is read from the interaction
// details the page loaded. The switcher (GET /language?to=pl&back=/path) remembers the choice for
// the browser in a cookie.
import type { Context, Next } from 'koa';
import Router from '@koa/router';
import { chooseLocale, supportedTag, type LocaleHints } from '../policy/locale.ts';
import { LANGUAGE_NAMES, LANGUAGES, translator, type Language, type Translate } from './index.ts';

export const LANGUAGE_COOKIE = 'tessera_lang';
const YEAR_MS = 365 * 86_400_000;

/** The language of this request's page. */
export function localeOf(ctx: Context, fallback: string): Language {
  const hints = (ctx.state.localeHints ?? {}) as Pick<LocaleHints, 'accountLocale' | 'uiLocales'>;
  const params = (ctx.state.interaction as { params?: Record<string, unknown> } | undefined)?.params;
  const uiLocales = hints.uiLocales ?? (typeof params?.ui_locales === 'string' ? params.ui_locales : undefined);
  return chooseLocale({
    chosen: ctx.cookies.get(LANGUAGE_COOKIE),
    ...(uiLocales ? { uiLocales } : {}),
    ...(hints.accountLocale ? { accountLocale: hints.accountLocale } : {}),
    acceptLanguage: ctx.get('accept-language'),
  }, LANGUAGES, fallback) as Language;
}

/** The translation function of this request's page. */
export const tOf = (ctx: Context, fallback: string): Translate => translator(localeOf(ctx, fallback));

/** Gives every view `locale`, `t`, `languages` (for the switcher) and `here` (the page's own path). */
export function localeMiddleware(fallback: string) {
  return async (ctx: Context, next: Next) => {
    const getters: Record<string, () => unknown> = {
      locale: () => localeOf(ctx, fallback),
      t: () => tOf(ctx, fallback),
      languages: () => LANGUAGES.map((code) => ({ code, name: LANGUAGE_NAMES[code] })),
      here: () => switcherBack(ctx),
    };
    for (const [name, get] of Object.entries(getters)) Object.defineProperty(ctx.state, name, { get, enumerable: true, configurable: true });
    await next();
  };
}

/** The longest way back the switcher keeps (with its query); longer, the path alone. */
const MAX_BACK = 2000;

/**
 * An error page (GET) that its query decides, and that the same request shows again, names the
 * parameters the switcher may keep: only ones that carry no secret (never a token, code or
 * id_token_hint). Every other error page's switcher returns to its path alone.
 */
export function keepQueryForSwitcher(ctx: Pick<Context, 'state'>, names: readonly string[]): void {
  ctx.state.switcherKeeps = names;
}

/**
 * Where the switcher returns to: the sign-in's own page for any step of it, this page with its
 * query for a page that opened fine, an error page with the parameters it named
 * (keepQueryForSwitcher), and only the path otherwise (a POST's page, any other error page:
 * nothing a request sent, such as a foreign redirect_uri, is echoed into the links).
 */
export function switcherBack(ctx: Context): string {
  const interaction = /^\/interaction\/[\w-]+/.exec(ctx.path);
  if (interaction) return interaction[0];
  if (ctx.method !== 'GET') return ctx.path;
  // a page being rendered has no status of its own yet (Koa's default 404 is not a decision)
  const status = (ctx.response as unknown as { _explicitStatus?: boolean })._explicitStatus ? ctx.status : 200;
  if (status < 400) return ctx.originalUrl.length <= MAX_BACK ? ctx.originalUrl : ctx.path;
  const keeps = (ctx.state as { switcherKeeps?: readonly string[] } | undefined)?.switcherKeeps;
  if (!keeps?.length) return ctx.path;
  const kept = new URLSearchParams([...new URLSearchParams(ctx.querystring)].filter(([name]) => keeps.includes(name)));
  const back = kept.size ? `${ctx.path}?${kept}` : ctx.path;
  return back.length <= MAX_BACK ? back : ctx.path;
}

/** Only a path of this site: "/x", never "//host" or "/\\host" or an absolute URL. */
const localPath = (value: unknown): string => (typeof value === 'string' && /^\/(?![/\\])/.test(value) && value.length <= MAX_BACK ? value : '/');

/** The language switcher: remembers the choice for this browser, then goes back to the page. */
export function languageRouter(secureCookies: boolean): Router {
  const router = new Router();
  router.get('/language', (ctx) => {
    const to = supportedTag(typeof ctx.query.to === 'string' ? ctx.query.to : undefined, LANGUAGES);
    if (to) ctx.cookies.set(LANGUAGE_COOKIE, to, { httpOnly: true, sameSite: 'lax', maxAge: YEAR_MS, signed: false, overwrite: true, ...(secureCookies ? { secure: true } : {}) });
    ctx.set('Cache-Control', 'no-store');
    ctx.status = 303;
    ctx.redirect(localPath(ctx.query.back));
  });
  return router;
}
