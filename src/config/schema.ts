// The one typed description of every Tessera setting, with its environment variable.
// Defaults live in config/default.json; this file says what a valid value is.
import { z } from 'zod';
import { brandColourProblem } from '../policy/brand-colour.ts';

/** https, or http on a loopback host (a development installation). */
const webUrl = (u: string) => URL.canParse(u) && (new URL(u).protocol === 'https:' || /^http:\/\/(localhost|127(\.\d{1,3}){3}|\[::1\])(:\d+)?\//.test(u));

const seconds = z.number().int().positive();

export const configSchema = z.object({
  env: z.enum(['development', 'test', 'production']),
  port: z.number().int().min(0).max(65535),
  issuer: z
    .url()
    .refine((u) => !u.includes('?') && !u.includes('#') && !u.endsWith('/'), 'must have no query, fragment or trailing slash'),
  dataDir: z.string().min(1),
  mongodbUri: z
    .string()
    .regex(/^mongodb(\+srv)?:\/\/.+/, 'must start with mongodb:// or mongodb+srv://')
    .optional(),
  trustProxy: z.boolean(),
  /** The language of pages and emails when nothing chooses one (i18n/index.ts LANGUAGES). */
  defaultLanguage: z.enum(['en', 'pl', 'de']),
  /** The installation's branding: Tessera's own pages and applications without their own (README "Branding"). */
  brand: z.object({
    name: z.string().trim().min(1).max(100),
    logoUrl: z.string().max(2000).refine(webUrl, 'must be an https URL (http only on a loopback host)').optional(),
    color: z.string().refine((c) => !brandColourProblem(c), 'must be #rrggbb with white text on it reaching 4.5:1 (WCAG AA): choose a darker colour').optional(),
  }),
  /** With TRUST_PROXY: how many proxies append to X-Forwarded-For; the client IP is the entry they saw. */
  proxyCount: z.number().int().min(1).max(10),
  /** HTTP worker processes sharing the port (node:cluster); state lives only in the database. */
  workers: z.number().int().min(1).max(64),
  /** On SIGTERM/SIGINT: how long requests in flight may take to finish before their connections are cut. */
  shutdownGraceMs: z.number().int().min(0).max(120000),
  /** On SIGTERM/SIGINT: how long /readyz answers 503 while the process still serves, so a balancer drains it. */
  shutdownDrainSeconds: z.number().int().min(0).max(300),
  /** How long /readyz waits for the database's answer to a ping before it reports 503. */
  readinessDbTimeoutMs: z.number().int().min(50).max(60000),
  /** The server's log (ops/logger.ts): pino level, and JSON lines or human-readable output (unset: pretty in development, JSON otherwise). */
  log: z.object({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    format: z.enum(['json', 'pretty']).optional(),
  }),
  cookieKeys: z.array(z.string().min(32, 'each key must be at least 32 characters')).min(1),
  encryptionKey: z
    .string()
    .refine((v) => Buffer.from(v, 'base64').length === 32, 'must be 32 bytes, base64-encoded'),
  database: z.object({
    serverSelectionTimeoutMs: z.number().int().positive(),
    connectTimeoutMs: z.number().int().positive(),
    expiryPurgeIntervalSeconds: seconds,
  }),
  password: z.object({
    memoryCostKiB: z.number().int().min(1024),
    timeCost: z.number().int().min(1),
    parallelism: z.number().int().min(1),
    /** New passwords must reach this zxcvbn score (0 turns the common-password check off). */
    minStrength: z.union([z.literal(0), z.literal(1), z.literal(2), z.literal(3), z.literal(4)]),
    /** The rule set every new password meets (SPEC §2): length, character classes, symbols ('' turns that rule off). */
    rules: z.object({
      minLength: z.number().int().min(8).max(64),
      requireUpper: z.boolean(),
      requireLower: z.boolean(),
      requireDigit: z.boolean(),
      symbols: z.string().max(32),
    }),
  }),
  pin: z.object({
    minLength: z.number().int().min(4).max(12),
    maxLength: z.number().int().min(4).max(12),
    /** Refuse 1111, 1234, 9876, 1212 and the like. */
    rejectTrivial: z.boolean(),
    /** Wrong PINs in a row that end the session (screen lock) or the sign-in. */
    maxFailures: z.number().int().min(1).max(20),
  }),
  account: z.object({
    /** How recent a password or second factor must be for a change in the account center, without asking again. */
    reauthMinutes: z.number().int().min(1).max(60),
    /** Wrong passwords typed to confirm a change before the session ends (account pages, admin console). */
    reauthMaxFailures: z.number().int().min(3).max(1000),
    /** The longest a session may live, and the "never" choice of auto-logout (days). */
    sessionMaxDays: z.number().int().min(1).max(365),
    /** Session history entries kept per account (newest; older ones drop off). */
    historyEntries: z.number().int().min(20).max(10000),
    /** How long an invitation or password-reset link (set-password page) stays usable. */
    setPasswordLinkHours: z.number().int().min(1).max(720),
    /** Days between a person's request to delete their account and the deletion; a sign-in meanwhile cancels it. */
    deletionGraceDays: z.number().int().min(1).max(90),
    /** Hours between an admin's approval of an assisted recovery and the reset of the second factors (the person can cancel meanwhile). */
    recoveryWaitHours: z.number().int().min(1).max(720),
  }),
  clients: z.object({
    /** After a secret rotation the old client secret keeps working this long (0: not at all). */
    secretGraceHours: z.number().int().min(0).max(720),
    /**
     * How long a process keeps a client it read (0: read once per request). Changes made in the
     * same process apply at once; another process sees them within this time.
     */
    cacheSeconds: z.number().int().min(0).max(300),
  }),
  audit: z.object({
    /** Audit events are kept this long, then expire (they are never updated or deleted otherwise). */
    retentionDays: z.number().int().min(1).max(3650),
    /** The most rows one CSV export holds (narrow the time range for more). */
    exportMaxRows: z.number().int().min(100).max(1000000),
  }),
  webhooks: z.object({
    /** Deliver to private, loopback and link-local addresses too (tests, development); off: such endpoints are refused. */
    allowPrivate: z.boolean(),
    /** Accept http:// endpoint URLs (tests, development); off: https only. */
    allowHttp: z.boolean(),
    /** A PEM file of extra certificate authorities webhook receivers may be signed by (a private CA); '' for none. */
    caFile: z.string(),
    /** How long one delivery request may take before it counts as failed. */
    timeoutMs: z.number().int().min(500).max(60000),
    /** How often the delivery worker looks for due deliveries. */
    intervalSeconds: z.number().int().min(1).max(3600),
  }),
  /** Prometheus metrics (ops/metrics.ts): /metrics behind a bearer token, or on a listener of its own; neither set: not served. */
  metrics: z.object({
    /** Bearer token for /metrics on the main port (METRICS_TOKEN). */
    token: z.string().min(32, 'must be at least 32 characters (openssl rand -hex 32)').optional(),
    /** A listener of its own for /metrics, without a token (METRICS_PORT). */
    port: z.number().int().min(0).max(65535).optional(),
    /** The address that listener binds to: loopback unless a private network address is set (METRICS_HOST). */
    host: z.string().min(1),
  }),
  notify: z.object({
    /** smtp://user:pass@host:port; unset outside production: emails go to the development outbox. */
    smtpUrl: z.string().regex(/^smtps?:\/\/.+/, 'must start with smtp:// or smtps://').optional(),
    mailFrom: z.string().min(3),
    smsProvider: z.enum(['twilio', 'outbox']),
    twilio: z.object({
      accountSid: z.string().min(1).optional(),
      authToken: z.string().min(1).optional(),
      from: z.string().min(1).optional(),
      apiBase: z.url(),
    }),
    /** The longest one delivery waits: SMTP connect, greeting and socket idle; the SMS/voice provider's HTTP answer. */
    timeoutMs: z.number().int().positive(),
  }),
  codes: z.object({
    signInLifetimeSeconds: seconds,
    resendIntervalSeconds: seconds,
    maxAttempts: z.number().int().min(1).max(10),
    /** Adding or removing a trusted device: the code lives this long, "Extend" adds as much again up to the cap. */
    deviceLifetimeSeconds: seconds,
    deviceMaxLifetimeSeconds: seconds,
  }),
  devices: z.object({
    /** How long a trusted device skips the account's routine second factor. */
    trustDays: z.number().int().min(1).max(365),
    /** Trusted devices per account; at the limit a new one replaces (transfers) an old one. */
    maxTrusted: z.number().int().min(1).max(100),
    /** Failed attempts (wrong password, wrong code) from one device before it is blocked for the account. */
    maxFailures: z.number().int().min(1).max(100),
    /** Registrations per account; past it the oldest never-verified ones are pruned. */
    maxRegistrations: z.number().int().min(5).max(1000),
    /** How long the unblock link in a blocked-device email works (its one block only). */
    unblockLinkHours: z.number().int().min(1).max(720),
    /** How long the "This wasn't me" link of a new-device or unusual sign-in email works (once). */
    containmentLinkDays: z.number().int().min(1).max(30),
    /**
     * Device-bound trust: whether a trusted registration without a device key (a browser without
     * WebCrypto or IndexedDB, or trusted before keys) skips the routine factor by its cookie alone.
     */
    trustCookieOnly: z.boolean(),
  }),
  limits: z.object({
    /** Failed sign-ins per account (from new devices) and per account+device before the first lock (NIST: at most 100; here 5–10). */
    lockAfter: z.number().int().min(5).max(10),
    /** The softer per-account limit for the account's known devices (failures from new devices never count toward it). */
    knownDeviceLockAfter: z.number().int().min(5).max(1000),
    /** Failed sign-ins from one client IP, any account, before it is locked. */
    ipLockAfter: z.number().int().min(5).max(100000),
    /** The first lock; each further lock doubles, up to maxLockSeconds. */
    lockSeconds: z.number().int().min(1).max(86400),
    maxLockSeconds: z.number().int().min(1).max(604800),
    /** How long failures are remembered, from the first. */
    memorySeconds: z.number().int().min(60).max(2592000),
    /** Wrong codes (email, SMS, voice, TOTP, PIN, recovery, security key) per account before code entry is locked (same backoff). */
    codeLockAfter: z.number().int().min(3).max(100),
    /** "Resend" per account per hour. */
    resendPerHour: z.number().int().min(1).max(1000),
    /** "Forgot password?" codes asked for from one client IP per hour (any email; per email: resendPerHour). */
    resetPerIpPerHour: z.number().int().min(1).max(100000),
    /**
     * Texts and calls per day to numbers the sending account has not verified (verification
     * codes: the toll-fraud path): per account, per client IP, per number across accounts.
     */
    phonePerAccountPerDay: z.number().int().min(1).max(1000),
    phonePerIpPerDay: z.number().int().min(1).max(100000),
    phonePerNumberPerDay: z.number().int().min(1).max(1000),
    /** Texts and calls per day to a number its account verified (sign-in codes, confirmations), per account and number. */
    phonePerOwnerPerDay: z.number().int().min(1).max(1000),
  }),
  signup: z.object({
    /** Whether the sign-in page offers self-service sign-up (an emailed code confirms the address before the account exists). */
    enabled: z.boolean(),
    /** Email domains a sign-up may use (lower case, e.g. example.com); empty: any. */
    allowedDomains: z.array(z.string().regex(/^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/, 'must be lower-case domain names such as example.com')),
  }),
  mfa: z.object({
    /** Whether an emailed code counts toward urn:tessera:acr:mfa (NIST SP 800-63B-4: it does not). */
    emailCountsAsMfa: z.boolean(),
    /** Offer to set up an authenticator app or security key when an account cannot reach the level asked for. */
    offerEnrolment: z.boolean(),
  }),
  /** Adaptive sign-in (policy/risk.ts): which signals ask for more, and whether it applies. */
  risk: z.object({
    /** enforce: apply the action; observe: decide and record, change nothing; off: nothing. */
    mode: z.enum(['enforce', 'observe', 'off']),
    maxSpeedKmh: z.number().int().min(100).max(100000),
    maxFailuresPerHour: z.number().int().min(1).max(10000),
    inactiveDays: z.number().int().min(1).max(3650),
    actions: z.object({
      newDevice: z.enum(['none', 'second-factor', 'phishing-resistant', 'refuse']),
      newCountry: z.enum(['none', 'second-factor', 'phishing-resistant', 'refuse']),
      impossibleTravel: z.enum(['none', 'second-factor', 'phishing-resistant', 'refuse']),
      failureVelocity: z.enum(['none', 'second-factor', 'phishing-resistant', 'refuse']),
      longInactivity: z.enum(['none', 'second-factor', 'phishing-resistant', 'refuse']),
      /** A signed-in session used from another country than its sign-in's: asked again (never refused). */
      sessionMoved: z.enum(['none', 'second-factor', 'phishing-resistant']),
    }),
    /** Signals whose triggering also emails the account. */
    notify: z.array(z.enum(['new-device', 'new-country', 'impossible-travel', 'failure-velocity', 'long-inactivity', 'session-moved'])),
  }),
  webauthn: z.object({
    /** After a password sign-in in a browser that can make one, offer once to create a passkey. */
    passkeyUpgradeOffer: z.boolean(),
    /** Authenticator models (AAGUIDs) a new security key or passkey must be; empty: any. */
    aaguidAllowlist: z.array(z.string().regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, 'must be AAGUIDs such as cb69481e-8ff7-4039-93ec-0a2729a154a8')),
  }),
  ttl: z.object({
    sessionSeconds: seconds,
    interactionSeconds: seconds,
    authorizationCodeSeconds: seconds,
    accessTokenSeconds: seconds,
    idTokenSeconds: seconds,
    refreshTokenSeconds: seconds,
    grantSeconds: seconds,
    clientCredentialsSeconds: seconds,
  }),
});

export type Config = z.infer<typeof configSchema>;

/** Rules a valid file can still break: the ones that depend on NODE_ENV or on several settings. */
export function configProblems(c: Config): string | undefined {
  if (c.limits.knownDeviceLockAfter < c.limits.lockAfter) return `LOCKOUT_KNOWN_DEVICE_AFTER (${c.limits.knownDeviceLockAfter}) is below LOCKOUT_AFTER (${c.limits.lockAfter}): known devices get the softer limit`;
  if (c.limits.maxLockSeconds < c.limits.lockSeconds) return `LOCKOUT_MAX_SECONDS (${c.limits.maxLockSeconds}) is below LOCKOUT_SECONDS (${c.limits.lockSeconds})`;
  if (c.metrics.port !== undefined && c.metrics.port !== 0 && c.metrics.port === c.port) return `METRICS_PORT (${c.metrics.port}) is the main PORT: give the metrics a port of their own, or set METRICS_TOKEN instead`;
  if (c.workers > 1 && c.metrics.token && c.metrics.port === undefined) return 'METRICS_TOKEN with WORKERS > 1 would show one worker\'s metrics per scrape: set METRICS_PORT (the primary adds up every worker\'s)';
  if (c.pin.minLength > c.pin.maxLength) return `PIN_MIN_LENGTH (${c.pin.minLength}) is above PIN_MAX_LENGTH (${c.pin.maxLength})`;
  if (c.notify.smsProvider === 'twilio') {
    const missing = (['accountSid', 'authToken', 'from'] as const).filter((k) => !c.notify.twilio[k]);
    if (missing.length) return `SMS_PROVIDER=twilio needs ${missing.map((k) => ({ accountSid: 'TWILIO_ACCOUNT_SID', authToken: 'TWILIO_AUTH_TOKEN', from: 'TWILIO_FROM' })[k]).join(', ')}`;
  }
  if (c.env === 'production') {
    if (c.notify.smsProvider === 'outbox') return 'SMS_PROVIDER=outbox is for development: set SMS_PROVIDER=twilio when NODE_ENV=production';
    if (!c.notify.smtpUrl) return 'SMTP_URL is required when NODE_ENV=production (emails would go to the development outbox)';
  }
  return undefined;
}

/** Environment variable → config path. The only names Tessera reads from the environment. */
export const ENV_VARS: Record<string, { path: string; kind: 'string' | 'int' | 'bool' | 'list' }> = {
  NODE_ENV: { path: 'env', kind: 'string' },
  PORT: { path: 'port', kind: 'int' },
  ISSUER: { path: 'issuer', kind: 'string' },
  TESSERA_DATA_DIR: { path: 'dataDir', kind: 'string' },
  MONGODB_URI: { path: 'mongodbUri', kind: 'string' },
  TRUST_PROXY: { path: 'trustProxy', kind: 'bool' },
  DEFAULT_LANGUAGE: { path: 'defaultLanguage', kind: 'string' },
  BRAND_NAME: { path: 'brand.name', kind: 'string' },
  BRAND_LOGO_URL: { path: 'brand.logoUrl', kind: 'string' },
  BRAND_COLOR: { path: 'brand.color', kind: 'string' },
  TRUST_PROXY_COUNT: { path: 'proxyCount', kind: 'int' },
  DEVICE_TRUST_DAYS: { path: 'devices.trustDays', kind: 'int' },
  MAX_TRUSTED_DEVICES: { path: 'devices.maxTrusted', kind: 'int' },
  DEVICE_MAX_FAILURES: { path: 'devices.maxFailures', kind: 'int' },
  DEVICE_MAX_REGISTRATIONS: { path: 'devices.maxRegistrations', kind: 'int' },
  DEVICE_UNBLOCK_LINK_HOURS: { path: 'devices.unblockLinkHours', kind: 'int' },
  CONTAINMENT_LINK_DAYS: { path: 'devices.containmentLinkDays', kind: 'int' },
  DEVICE_TRUST_COOKIE_ONLY: { path: 'devices.trustCookieOnly', kind: 'bool' },
  LOCKOUT_AFTER: { path: 'limits.lockAfter', kind: 'int' },
  LOCKOUT_KNOWN_DEVICE_AFTER: { path: 'limits.knownDeviceLockAfter', kind: 'int' },
  LOCKOUT_IP_AFTER: { path: 'limits.ipLockAfter', kind: 'int' },
  LOCKOUT_SECONDS: { path: 'limits.lockSeconds', kind: 'int' },
  LOCKOUT_MAX_SECONDS: { path: 'limits.maxLockSeconds', kind: 'int' },
  LOCKOUT_MEMORY_SECONDS: { path: 'limits.memorySeconds', kind: 'int' },
  CODE_LOCKOUT_AFTER: { path: 'limits.codeLockAfter', kind: 'int' },
  RESEND_PER_HOUR: { path: 'limits.resendPerHour', kind: 'int' },
  RESET_PER_IP_HOUR: { path: 'limits.resetPerIpPerHour', kind: 'int' },
  PHONE_SENDS_PER_ACCOUNT_DAY: { path: 'limits.phonePerAccountPerDay', kind: 'int' },
  PHONE_SENDS_PER_NUMBER_DAY: { path: 'limits.phonePerNumberPerDay', kind: 'int' },
  PHONE_SENDS_PER_IP_DAY: { path: 'limits.phonePerIpPerDay', kind: 'int' },
  PHONE_SENDS_PER_OWNER_DAY: { path: 'limits.phonePerOwnerPerDay', kind: 'int' },
  PASSWORD_MIN_LENGTH: { path: 'password.rules.minLength', kind: 'int' },
  PASSWORD_SYMBOLS: { path: 'password.rules.symbols', kind: 'string' },
  PIN_MIN_LENGTH: { path: 'pin.minLength', kind: 'int' },
  PIN_MAX_LENGTH: { path: 'pin.maxLength', kind: 'int' },
  PIN_MAX_FAILURES: { path: 'pin.maxFailures', kind: 'int' },
  REAUTH_MINUTES: { path: 'account.reauthMinutes', kind: 'int' },
  REAUTH_MAX_FAILURES: { path: 'account.reauthMaxFailures', kind: 'int' },
  SESSION_MAX_DAYS: { path: 'account.sessionMaxDays', kind: 'int' },
  SET_PASSWORD_LINK_HOURS: { path: 'account.setPasswordLinkHours', kind: 'int' },
  ACCOUNT_DELETION_GRACE_DAYS: { path: 'account.deletionGraceDays', kind: 'int' },
  RECOVERY_WAIT_HOURS: { path: 'account.recoveryWaitHours', kind: 'int' },
  CLIENT_SECRET_GRACE_HOURS: { path: 'clients.secretGraceHours', kind: 'int' },
  CLIENT_CACHE_SECONDS: { path: 'clients.cacheSeconds', kind: 'int' },
  AUDIT_RETENTION_DAYS: { path: 'audit.retentionDays', kind: 'int' },
  AUDIT_EXPORT_MAX_ROWS: { path: 'audit.exportMaxRows', kind: 'int' },
  WEBHOOK_ALLOW_PRIVATE: { path: 'webhooks.allowPrivate', kind: 'bool' },
  WEBHOOK_ALLOW_HTTP: { path: 'webhooks.allowHttp', kind: 'bool' },
  WEBHOOK_CA_FILE: { path: 'webhooks.caFile', kind: 'string' },
  WEBHOOK_TIMEOUT_MS: { path: 'webhooks.timeoutMs', kind: 'int' },
  WEBHOOK_INTERVAL_SECONDS: { path: 'webhooks.intervalSeconds', kind: 'int' },
  WORKERS: { path: 'workers', kind: 'int' },
  SHUTDOWN_GRACE_MS: { path: 'shutdownGraceMs', kind: 'int' },
  SHUTDOWN_DRAIN_SECONDS: { path: 'shutdownDrainSeconds', kind: 'int' },
  READINESS_DB_TIMEOUT_MS: { path: 'readinessDbTimeoutMs', kind: 'int' },
  LOG_LEVEL: { path: 'log.level', kind: 'string' },
  LOG_FORMAT: { path: 'log.format', kind: 'string' },
  METRICS_TOKEN: { path: 'metrics.token', kind: 'string' },
  METRICS_PORT: { path: 'metrics.port', kind: 'int' },
  METRICS_HOST: { path: 'metrics.host', kind: 'string' },
  COOKIE_KEYS: { path: 'cookieKeys', kind: 'list' },
  ENCRYPTION_KEY: { path: 'encryptionKey', kind: 'string' },
  DB_SERVER_SELECTION_TIMEOUT_MS: { path: 'database.serverSelectionTimeoutMs', kind: 'int' },
  PASSWORD_MEMORY_COST_KIB: { path: 'password.memoryCostKiB', kind: 'int' },
  PASSWORD_TIME_COST: { path: 'password.timeCost', kind: 'int' },
  PASSWORD_MIN_STRENGTH: { path: 'password.minStrength', kind: 'int' },
  SIGNUP_ENABLED: { path: 'signup.enabled', kind: 'bool' },
  SIGNUP_ALLOWED_DOMAINS: { path: 'signup.allowedDomains', kind: 'list' },
  MFA_EMAIL_COUNTS: { path: 'mfa.emailCountsAsMfa', kind: 'bool' },
  MFA_OFFER_ENROLMENT: { path: 'mfa.offerEnrolment', kind: 'bool' },
  RISK_MODE: { path: 'risk.mode', kind: 'string' },
  RISK_MAX_SPEED_KMH: { path: 'risk.maxSpeedKmh', kind: 'int' },
  RISK_MAX_FAILURES_PER_HOUR: { path: 'risk.maxFailuresPerHour', kind: 'int' },
  RISK_INACTIVE_DAYS: { path: 'risk.inactiveDays', kind: 'int' },
  RISK_NEW_COUNTRY: { path: 'risk.actions.newCountry', kind: 'string' },
  RISK_IMPOSSIBLE_TRAVEL: { path: 'risk.actions.impossibleTravel', kind: 'string' },
  RISK_FAILURE_VELOCITY: { path: 'risk.actions.failureVelocity', kind: 'string' },
  RISK_LONG_INACTIVITY: { path: 'risk.actions.longInactivity', kind: 'string' },
  RISK_SESSION_MOVED: { path: 'risk.actions.sessionMoved', kind: 'string' },
  PASSKEY_UPGRADE_OFFER: { path: 'webauthn.passkeyUpgradeOffer', kind: 'bool' },
  WEBAUTHN_AAGUID_ALLOWLIST: { path: 'webauthn.aaguidAllowlist', kind: 'list' },
  SMTP_URL: { path: 'notify.smtpUrl', kind: 'string' },
  MAIL_FROM: { path: 'notify.mailFrom', kind: 'string' },
  SMS_PROVIDER: { path: 'notify.smsProvider', kind: 'string' },
  TWILIO_ACCOUNT_SID: { path: 'notify.twilio.accountSid', kind: 'string' },
  TWILIO_AUTH_TOKEN: { path: 'notify.twilio.authToken', kind: 'string' },
  TWILIO_FROM: { path: 'notify.twilio.from', kind: 'string' },
  TWILIO_API_BASE: { path: 'notify.twilio.apiBase', kind: 'string' },
  NOTIFY_TIMEOUT_MS: { path: 'notify.timeoutMs', kind: 'int' },
};
