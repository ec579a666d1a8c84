// Composes the Koa app: error rendering, security headers, views, the hosted pages (with CSRF
// protection and their own body parser) and the mounted oidc-provider.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import Koa, { type Context } from 'koa';
import mount from 'koa-mount';
import { languageRouter, localeMiddleware } from './i18n/middleware.ts';
import { brandMiddleware, brandingRouter } from './branding/pages.ts';
import { logoUpload } from './branding/upload.ts';
import views from 'koa-views';
import helmet from 'koa-helmet';
import session from 'koa-session';
import CSRF from 'koa-csrf';
import compose from 'koa-compose';
import { bodyParser } from '@koa/bodyparser';
import { withRequestMemo } from './db/request-memo.ts';
import { flushRiders } from './db/ride-along.ts';
import type { Services } from './services.ts';
import { errorMiddleware, UserFacingError } from './http/errors.ts';
import { cookieName, issuerOrigin, metadataCaching } from './http/issuer-origin.ts';
import { outboxPage } from './notify/outbox-page.ts';
import { accountRouter } from './account/routes.ts';
import { interactionRouter } from './interaction/routes.ts';
import { trustedIpRoutes } from './trusted-ips/routes.ts';
import { deviceCookie } from './devices/cookie.ts';
import { devicePageRoutes } from './devices/routes.ts';
import { phoneRoutes } from './phones/routes.ts';
import { securityNotices } from './account/notices.ts';
import { createPasswordGuard } from './account/password-guard.ts';
import { credentialRoutes } from './account/credentials.ts';
import { sessionRoutes } from './sessions/routes.ts';
import { dataExportRoutes } from './account/data-routes.ts';
import { deletionRoutes } from './account/deletion-routes.ts';
import { profileRoutes } from './account/profile-routes.ts';
import { deriveKey } from './crypto/seal.ts';
import { connectedAppRoutes } from './account/apps.ts';
import { orgWebhookRoutes } from './account/org-webhooks.ts';
import { createOrganisationWebhooks } from './webhooks/organisation.ts';
import { createConnectedApps } from './oidc/connected-apps.ts';
import { adminApiRouter } from './admin/api/router.ts';
import { adminConsoleRouter } from './admin/console/routes.ts';
import { setPasswordRouter } from './account/set-password.ts';
import { unblockRouter } from './devices/unblock-routes.ts';
import { containmentRouter } from './devices/containment-routes.ts';
import { recoveryCancelRouter } from './recovery/cancel-routes.ts';
import { endAccountSessions } from './oidc/account-sessions.ts';
import { probes } from './ops/health.ts';
import { createLogger, lineLog, type Logger } from './ops/logger.ts';
import { requestLog, routeOf } from './ops/request-log.ts';
import { httpMetrics, metricsEndpoint } from './ops/metrics-http.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const PAGE_METHODS = new Set(['GET', 'HEAD', 'POST']);

export type AppDeps = Pick<Services, 'config' | 'readiness' | 'metrics' | 'provider' | 'accounts' | 'clients' | 'flows' | 'factors' | 'stepUp' | 'outbox' | 'totp' | 'recovery' | 'webauthn' | 'trustedIps' | 'devices' | 'deviceKeys' | 'events' | 'notices' | 'messages' | 'transports' | 'verifiedPhone' | 'challenges' | 'phones' | 'sessions' | 'history' | 'admin' | 'passwordLinks' | 'audit' | 'limits' | 'phoneSends' | 'storage' | 'organisations' | 'deletion' | 'unblockLinks' | 'containment' | 'assistedRecovery' | 'signUps' | 'webhooks' | 'logos'> & {
  log?: (err: unknown, ctx: Context) => void;
  /** The server's log (ops/logger.ts); default: one made from the configuration, on stdout. */
  logger?: Logger;
};

/**
 * Logs a 5xx once, with the request id the user sees (the line carries it); the route template
 * only (no path ids, query, cookies or bodies) and the error's name, message, stack and causes.
 */
function logFailure(logger: Logger) {
  return (err: unknown, ctx: Context): void => { logger.error({ err, method: ctx.method, route: routeOf(ctx) }, 'request failed'); };
}

export function createApp(deps: AppDeps): Koa {
  const { config, provider, outbox } = deps;
  const logger = deps.logger ?? createLogger(config);
  const log = deps.log ?? logFailure(logger);
  const app = new Koa();
  // koa-mount runs the provider on this app's ctx: its cookies must be signed with the same keys
  app.keys = config.cookieKeys;
  app.proxy = config.trustProxy;
  // the client IP (ctx.ip): X-Forwarded-For only behind a trusted proxy, and only the entries our proxies added
  app.maxIpsCount = config.proxyCount;
  app.silent = true;

  // every request's duration by route template and status class (ops/metrics-http.ts), probes too
  app.use(httpMetrics(deps.metrics));
  // /healthz and /readyz next: a probe addressed to the pod's IP is answered before the
  // issuer-origin check, and costs no request id, log line, session, view or CSRF check
  app.use(probes(deps.readiness));
  // every response carries a request id; error pages show it and the log line of a 5xx names it;
  // every request reads an account or client at most once (db/request-memo.ts)
  // (and one log line: ops/request-log.ts)
  app.use(requestLog(logger));
  // /metrics with METRICS_TOKEN: any Host header, like the probes (logged at debug level only)
  app.use(metricsEndpoint(deps.metrics, config.metrics.token));
  app.use((ctx, next) => withRequestMemo(next));
  // templates are compiled once per process (read and compiled on every render before), except in
  // development, where an edited template shows at the next request
  app.use(views(path.join(ROOT, 'views'), { extension: 'ejs', options: { cache: config.env !== 'development' } }));
  // every view's language (i18n/middleware.ts): chosen when it renders, from what the request knows
  app.use(localeMiddleware(config.defaultLanguage));
  // every view's brand: the installation's, replaced by an application's on its pages (branding/pages.ts)
  app.use(brandMiddleware(config.brand));
  app.use(errorMiddleware(log));
  // a write that waited to ride along with another one (db/ride-along.ts) and found none goes now,
  // before the answer leaves (its failure is an error page like any other)
  app.use(async (_ctx, next) => {
    try {
      await next();
    } finally {
      await flushRiders();
    }
  });
  app.use(issuerOrigin(config.issuer));
  app.use(metadataCaching);
  // the provider answers its own 500s (they never reach errorMiddleware): log them here, once
  // (errorMiddleware turns the provider's 500 for an unreachable database into a 503 from the cause kept here)
  provider.on('server_error', (ctx: Context, err: unknown) => {
    ctx.state.providerError = err;
    log(err, ctx);
  });
  app.use(helmet({
    contentSecurityPolicy: {
      useDefaults: true,
      directives: {
        'default-src': ["'self'"],
        'script-src': ["'self'"],
        'style-src': ["'self'"],
        // https: an application's logo may be an https URL of its own (branding; images only)
        'img-src': ["'self'", 'data:', 'https:'],
        'frame-ancestors': ["'none'"],
        'base-uri': ["'none'"],
        // form-action would also block the redirect back to the relying party after a form post
        'form-action': null,
      },
    },
    crossOriginEmbedderPolicy: false,
    frameguard: { action: 'deny' }, // as frame-ancestors 'none', for browsers without CSP 2
  }));

  // the pages' own static files, and the WebAuthn browser helper from its package (no CDN)
  const statics = new Map<string, { type: string; body: Buffer }>([
    ['/static/tessera.css', { type: 'text/css', body: readFileSync(path.join(ROOT, 'views', 'static', 'tessera.css')) }],
    ['/static/webauthn.js', { type: 'application/javascript', body: readFileSync(path.join(ROOT, 'views', 'static', 'webauthn.js')) }],
    ['/static/passkeys.js', { type: 'application/javascript', body: readFileSync(path.join(ROOT, 'views', 'static', 'passkeys.js')) }],
    ['/static/copy.js', { type: 'application/javascript', body: readFileSync(path.join(ROOT, 'views', 'static', 'copy.js')) }],
    ['/static/a11y.js', { type: 'application/javascript', body: readFileSync(path.join(ROOT, 'views', 'static', 'a11y.js')) }],
    ['/static/device-key.js', { type: 'application/javascript', body: readFileSync(path.join(ROOT, 'views', 'static', 'device-key.js')) }],
    ['/static/simplewebauthn-browser.js', { type: 'application/javascript', body: readFileSync(path.join(ROOT, 'node_modules', '@simplewebauthn', 'browser', 'dist', 'bundle', 'index.umd.min.js')) }],
  ]);
  app.use(async (ctx, next) => {
    const file = ctx.method === 'GET' ? statics.get(ctx.path) : undefined;
    if (!file) return next();
    ctx.state.route = ctx.path; // one of the few files above: a bounded route for the request log
    ctx.type = file.type;
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = file.body;
  });

  const clock = deps.stepUp.clock;
  const serviceLog = lineLog(logger);
  const notices = securityNotices({ messages: deps.messages, transports: deps.transports, clock, log: serviceLog });
  // the hosted pages get a cookie-backed form session for CSRF tokens and a small form parser;
  // the provider's own endpoints parse their own bodies and keep their own CSRF defences
  // (a first second factor set up during a sign-in comes with recovery codes and this notice)
  // "Forgot password?": its code, the new password's rules, and ending every session of the account
  const passwordReset = {
    challenges: deps.challenges, messages: deps.messages, transports: deps.transports, rules: config.password.rules, log: serviceLog,
    codeMinutes: Math.round(config.codes.signInLifetimeSeconds / 60), endSessions: (accountId: string) => endAccountSessions(provider, deps.storage, accountId),
    verifiedPhone: deps.verifiedPhone, phoneSends: deps.phoneSends,
  };
  // self-service sign-up exists only when the setting is on (off: its pages answer 404)
  const signUp = config.signup.enabled
    ? { allowedDomains: config.signup.allowedDomains, signUps: deps.signUps, challenges: deps.challenges, transports: deps.transports, messages: deps.messages, passwordRules: config.password.rules }
    : undefined;
  const interactions = interactionRouter({ ...deps, deviceSettings: config.devices, pinMaxFailures: config.pin.maxFailures, securityNotice: notices, passwordReset, ...(signUp ? { signUp } : {}) });
  // every password typed to confirm a change goes through the sign-in limits (account pages and console)
  const guard = createPasswordGuard({ accounts: deps.accounts, limits: deps.limits, sessions: deps.sessions, audit: deps.audit, notify: notices, maxFailures: config.account.reauthMaxFailures });
  const reauth = {
    seconds: config.account.reauthMinutes * 60, proofsOf: deps.stepUp.proofsOf, recordProofs: deps.stepUp.recordProofs, checkPassword: guard.check, clock,
    changeConfirmedAt: deps.sessions.changeConfirmedAt, changeConfirmed: deps.sessions.changeConfirmed,
  };
  const account = accountRouter(
    {
      issuer: config.issuer, provider, accounts: deps.accounts, clients: deps.clients, totp: deps.totp, recovery: deps.recovery, webauthn: deps.webauthn, factors: deps.factors,
      phones: deps.phones, sessions: deps.sessions,
      reauth,
      notify: notices,
      audit: deps.audit,
      guard: deps.sessions,
      administersOrganisation: async (account) => (await deps.organisations.administeredBy(account)) !== undefined,
    },
    [
      credentialRoutes({ accounts: deps.accounts, sessions: deps.sessions, passwordRules: config.password.rules, pinRules: config.pin }),
      sessionRoutes({ accounts: deps.accounts, sessions: deps.sessions, history: deps.history, devices: deps.devices, maxDays: config.account.sessionMaxDays, keepEntries: config.account.historyEntries }),
      connectedAppRoutes(createConnectedApps({ provider, storage: deps.storage, clients: deps.clients, accounts: deps.accounts })),
      trustedIpRoutes(deps.trustedIps),
      phoneRoutes({ phones: deps.phones, challenges: deps.challenges, transports: deps.transports, messages: deps.messages, phoneSends: deps.phoneSends, appSetUp: (id) => deps.totp.enrolled(id), clock, log: serviceLog }),
      devicePageRoutes({ devices: deps.devices, factors: deps.factors, messages: deps.messages, transports: deps.transports, phoneSends: deps.phoneSends, settings: config.devices, clock, phoneOf: deps.verifiedPhone, notices: deps.notices, log: serviceLog,
        endDeviceSessions: (accountId, deviceId, why) => deps.sessions.endForDevice(accountId, deviceId, { actor: { type: 'system' }, why }) }),
      deletionRoutes({ deletion: deps.deletion, sessions: deps.sessions }),
      profileRoutes({ accounts: deps.accounts, challenges: deps.challenges, transports: deps.transports, messages: deps.messages, codeSends: (id) => deps.limits.resend(id),
        key: deriveKey(config.encryptionKey, 'tessera:email-addresses'), clock, log: serviceLog }),
      dataExportRoutes({ ...deps, keepEntries: config.account.historyEntries, auditMaxRows: config.audit.exportMaxRows, sessionMaxDays: config.account.sessionMaxDays, clock }),
      orgWebhookRoutes({ webhooks: createOrganisationWebhooks({ endpoints: deps.webhooks.endpoints, audit: deps.audit }), organisations: deps.organisations }),
    ],
  );
  // administration: the console is a hosted page area (form session, CSRF); the JSON API takes
  // bearer tokens only (no cookies, so no CSRF) and parses its own JSON bodies
  const adminConsole = adminConsoleRouter({
    issuer: config.issuer, provider, admin: deps.admin, accounts: deps.accounts, clients: deps.clients,
    reauth,
    guard: deps.sessions, emailCountsAsMfa: config.mfa.emailCountsAsMfa, recoveries: deps.assistedRecovery, history: deps.history,
  });
  const adminApi = adminApiRouter({ admin: deps.admin, provider, clients: deps.clients, accounts: deps.accounts, log });
  const pages = compose([
    // a page takes GET, HEAD and POST; anything else is answered before the form session and CSRF
    // check (which would read a body the parser never made)
    async (ctx: Context, next: Koa.Next) => {
      if (PAGE_METHODS.has(ctx.method)) return next();
      ctx.set('Allow', [...PAGE_METHODS].join(', '));
      throw new UserFacingError(405, 'method_not_allowed', 'This page can only be opened or its form sent. Go back and use the page\'s own links and buttons.');
    },
    session({ key: cookieName(config.issuer, 'tessera.form', 'host'), signed: true, httpOnly: true, sameSite: 'lax', maxAge: 'session', secure: config.issuer.startsWith('https:') }, app),
    bodyParser({ enableTypes: ['form'], formLimit: '16kb' }),
    // the console's one file upload (an application's logo), a multipart form (branding/upload.ts)
    logoUpload(),
    // the token only from the form body or a header: a URL leaks it into logs and Referer (ASVS 5.0)
    CSRF({ disableQuery: true }),
    // every browser on the hosted pages carries its device id (new-device verification, trust)
    deviceCookie(config.issuer),
    interactions.routes(),
    interactions.allowedMethods(),
    // no sign-in: the emailed link's token is the proof
    setPasswordRouter({ accounts: deps.accounts, passwordLinks: deps.passwordLinks, passwordRules: config.password.rules }).routes(),
    // no sign-in either: the blocked-device email's link, then the password and an emailed code
    unblockRouter({ links: deps.unblockLinks, devices: deps.devices, accounts: deps.accounts, factors: deps.factors, limits: deps.limits, audit: deps.audit, notify: notices, clock }).routes(),
    // no sign-in either: "This wasn't me" from a sign-in email (a page with a POST button)
    containmentRouter(deps.containment).routes(),
    // no sign-in either: the assisted-recovery cancel link (a page with a POST button)
    recoveryCancelRouter(deps.assistedRecovery).routes(),
    account.routes(),
    account.allowedMethods(),
    adminConsole.routes(),
    adminConsole.allowedMethods(),
  ] as Koa.Middleware[]);
  const api = compose([adminApi.routes(), adminApi.allowedMethods()] as Koa.Middleware[]);
  const isApi = (p: string) => p === '/admin/api' || p.startsWith('/admin/api/');
  const isPage = (p: string) => p.startsWith('/interaction/') || p.startsWith('/account/') || p === '/admin' || (p.startsWith('/admin/') && !isApi(p));
  // a person who opens Tessera's own address (or /account) lands in the security center; any
  // other address nothing answers gets a page with a way on, not the bare "Not Found"
  // the language switcher of every page (remembers the choice for this browser)
  const languages = languageRouter(config.issuer.startsWith('https:'));
  app.use(languages.routes());
  // brand colours as stylesheets and uploaded logos (branding/pages.ts)
  app.use(brandingRouter(deps.logos).routes());
  app.use(async (ctx, next) => {
    if ((ctx.path === '/' || ctx.path === '/account') && (ctx.method === 'GET' || ctx.method === 'HEAD')) return ctx.redirect('/account/security');
    await next();
    if (ctx.status === 404 && (ctx.body === undefined || ctx.body === null || ctx.body === 'Not Found') && !isApi(ctx.path) && ctx.accepts(['html', 'json']) === 'html') {
      ctx.status = 404;
      ctx.set('Cache-Control', 'no-store');
      await ctx.render('not-found', { title: 'Page not found', path: ctx.path.slice(0, 200) });
    }
  });
  app.use((ctx, next) => (isApi(ctx.path) ? api(ctx, next) : isPage(ctx.path) ? pages(ctx, next) : next()));

  // development only: the messages the outbox transports recorded, so a newcomer can read codes
  if (config.env === 'development') app.use(outboxPage(outbox));

  app.use(mount(provider));
  return app;
}
