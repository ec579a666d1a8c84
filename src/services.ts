// Opens everything Tessera runs on — database (embedded or MONGODB_URI), stores, signing keys and
// the configured provider — in one place, for the server, the CLI and the tests alike.
import type Provider from 'oidc-provider';
import type { Config } from './config/schema.ts';
import { connectDatabase, type Database } from './db/database.ts';
import { launchEmbedded, type EmbeddedDatabase } from './db/embedded.ts';
import { createSealer, deriveKey } from './crypto/seal.ts';
import { createPasswordHasher } from './accounts/password.ts';
import { createAccountStore, type AccountStore } from './accounts/store.ts';
import { createPasswordLinks, type PasswordLinks } from './accounts/password-links.ts';
import { createSignUps, type SignUps } from './accounts/sign-ups.ts';
import { createOidcStorage, type OidcStorage } from './oidc/adapter.ts';
import { createKeyStore, SIGNING_ALGS, type KeyStore } from './oidc/keys.ts';
import { createClientStore, withSealedClientSecrets, type ClientStore } from './oidc/clients.ts';
import { createProvider } from './oidc/provider.ts';
import { endAccountSessions } from './oidc/account-sessions.ts';
import { logBackchannelFailures } from './oidc/backchannel-logout.ts';
import { createAccountDeletion, type AccountDeletion } from './accounts/deletion.ts';
import { describeLocation } from './devices/client-info.ts';
import { createSignInFlows, type SignInFlows } from './interaction/flow.ts';
import { riskSettings } from './interaction/risk-signals.ts';
import type { StepUpDeps } from './oidc/step-up.ts';
import { createChallenges } from './factors/challenges.ts';
import { createFactorRegistry, type FactorRegistry } from './factors/registry.ts';
import { emailFactor } from './factors/email/index.ts';
import { smsFactor, voiceFactor } from './factors/phone/index.ts';
import { createTotp, totpFactor, type TotpStore } from './factors/totp/index.ts';
import { createRecoveryCodes, recoveryFactor, type RecoveryCodes } from './factors/recovery/index.ts';
import { createWebAuthn, webauthnFactor, type WebAuthnStore } from './factors/webauthn/index.ts';
import { createOutbox, createTransports, type Outbox, type Transports, type TransportSettings } from './notify/transports.ts';
import { createMessages, type CodeMessages, type Reader } from './notify/messages.ts';
import { createTrustedIps, type TrustedIps } from './trusted-ips/store.ts';
import { createDeviceRegistry, type DeviceRegistry } from './devices/registry.ts';
import { createUnblockLinks, type UnblockLinks } from './devices/unblock-links.ts';
import { createDeviceKeys, trustFactsOf, type DeviceKeys } from './devices/device-key.ts';
import { createContainment, describeDevice, DEVICES_PATH, type Containment } from './devices/containment.ts';
import { createSignInEvents, type SignInEvents } from './devices/events.ts';
import { browserIdOf } from './devices/cookie.ts';
import { createOrganisations, type Organisations } from './orgs/store.ts';
import { createDeviceNotices, type DeviceNotices } from './notify/device-notices.ts';
import { pinSkipped, routineSkipped } from './policy/trust.ts';
import { createPhones, type Phones } from './phones/store.ts';
import type { Challenges } from './factors/challenges.ts';
import { createSessionRecords } from './sessions/store.ts';
import { createSignInHistory, type SignInHistory } from './sessions/history.ts';
import { createSessionService, type SessionService } from './sessions/service.ts';
import { createAuditLog, type AuditLog } from './audit/store.ts';
import { createAdminService } from './admin/service.ts';
import { createLimits, type Limits } from './limits/service.ts';
import { phoneSendCheck, type PhoneSendCheck } from './limits/phone-caps.ts';
import type { AdminService } from './admin/types.ts';
import { createRecoveryStore } from './recovery/store.ts';
import { createAssistedRecovery, type AssistedRecovery } from './recovery/service.ts';
import { createReadiness, type Readiness } from './ops/health.ts';
import { createMetrics, type Metrics } from './ops/metrics.ts';
import { createWebhooks, type Webhooks } from './webhooks/index.ts';
import { createLogoStore, type LogoStore } from './branding/logos.ts';

function transportSettings(config: Config): TransportSettings {
  const { notify } = config;
  const { accountSid, authToken, from, apiBase } = notify.twilio;
  return {
    ...(notify.smtpUrl ? { smtpUrl: notify.smtpUrl } : {}),
    mailFrom: notify.mailFrom,
    smsProvider: notify.smsProvider,
    ...(accountSid && authToken && from ? { twilio: { accountSid, authToken, from, apiBase } } : {}),
    timeoutMs: notify.timeoutMs,
  };
}

export interface Services {
  config: Config;
  db: Database;
  accounts: AccountStore;
  /** The person's own account deletion: schedule, cancel (a sign-in does), and the sweep that deletes what is due. */
  deletion: AccountDeletion;
  keys: KeyStore;
  /** What /readyz reports (database ping, signing keys, shutdown); main.ts begins the shutdown on it. */
  readiness: Readiness;
  /** Prometheus metrics of this instance (ops/metrics.ts); served only when METRICS_TOKEN or METRICS_PORT is set. */
  metrics: Metrics;
  clients: ClientStore;
  storage: OidcStorage;
  provider: Provider;
  /** One record per sign-in in progress (interaction/flow.ts). */
  flows: SignInFlows;
  factors: FactorRegistry;
  stepUp: StepUpDeps;
  outbox: Outbox;
  totp: TotpStore;
  recovery: RecoveryCodes;
  webauthn: WebAuthnStore;
  trustedIps: TrustedIps;
  devices: DeviceRegistry;
  /** The signed links of blocked-device emails that let the person unblock the device (DEVICE_UNBLOCK_LINK_HOURS). */
  unblockLinks: UnblockLinks;
  /** Device-bound trust: the challenges a trusted browser's device key signs (devices/device-key.ts). */
  deviceKeys: DeviceKeys;
  containment: Containment;
  events: SignInEvents;
  organisations: Organisations;
  notices: DeviceNotices;
  /** The factor modules' messages and transports (device settings send codes and confirmations). */
  messages: CodeMessages;
  transports: Transports;
  challenges: Challenges;
  phones: Phones;
  /** Browser sessions: records, screen lock, auto-logout, listing and ending them. */
  sessions: SessionService;
  /** Each account's sign-in attempts, newest first (session history). */
  history: SignInHistory;
  /** The audit log: every security event and admin action (modules record; administration reads). */
  audit: AuditLog;
  /** Set-password links (invitations and admin password resets), single use, SET_PASSWORD_LINK_HOURS. */
  passwordLinks: PasswordLinks;
  /** Sign-ups waiting for their emailed code (signup.enabled), as long as the code lives. */
  signUps: SignUps;
  /** Administration (clients, users, devices, organisations, audit): what the console and the JSON API call. */
  admin: AdminService;
  /** Security events delivered to webhook endpoints: the outbox, the endpoints and the delivery worker (README "Webhooks"). */
  webhooks: Webhooks;
  /** Applications' uploaded logos (branding/logos.ts), served at /branding/logos/<sha256>.<ext>. */
  logos: LogoStore;
  /** Brute-force and abuse limits: sign-in lockout, code and resend limits, text/voice caps (README "Limits and lockout"). */
  limits: Limits;
  /** Counts a text or call on its daily caps, or throws the refusal (limits/phone-caps.ts). */
  phoneSends: PhoneSendCheck;
  /** Assisted recovery of a lost second factor: requests, the admin queue, the waiting period and the reset (RECOVERY_WAIT_HOURS). */
  assistedRecovery: AssistedRecovery;
  /** The account's verified primary mobile number (E.164), if any. */
  verifiedPhone(account: { id: string; email: string }): Promise<string | undefined>;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** Who starts the embedded database when MONGODB_URI is unset; the CLI may join a running one. */
  owner: 'server' | 'cli' | 'test';
  log?: (line: string) => void;
  allowPrivateFetch?: boolean;
  /** Emit the database driver's command events (tests and the benchmark count operations). */
  monitorCommands?: boolean;
  /** The one clock every expiry of Tessera's own reads (codes, trust, progress); tests move it. */
  clock?: () => Date;
  /** Waits between attempts to send a device notice (default 2 s, then 10 s); tests shorten it. */
  noticeRetryDelayMs?: (attempt: number) => number;
  /** TEST-ONLY (never from configuration): the database layer's write-fault hook and MongoDB guard lines (db/database.ts). */
  testDatabase?: { faults?: boolean; guardsInServer?: boolean };
}

export async function openServices(config: Config, { owner, log = () => {}, allowPrivateFetch, monitorCommands, clock = () => new Date(), noticeRetryDelayMs, testDatabase }: OpenOptions): Promise<Services> {
  let embedded: EmbeddedDatabase | undefined;
  const uri = config.mongodbUri ?? (embedded = await launchEmbedded({
    dataDir: config.dataDir, owner, log, purgeIntervalSeconds: config.database.expiryPurgeIntervalSeconds,
  })).uri;
  let db: Database;
  // counted always (cheap); process metrics and database command timing only when they are served
  const metricsServed = !!config.metrics.token || config.metrics.port !== undefined;
  const metrics = createMetrics({ defaultMetrics: metricsServed });
  try {
    // one process (no WORKERS) is the database's only writer: see ConnectOptions.soleWriter
    db = await connectDatabase(uri, { ...config.database, monitorCommands: monitorCommands || metricsServed, soleWriter: config.workers <= 1, ...testDatabase });
    if (metricsServed) metrics.watchDatabase(db.connection.getClient() as never);
  } catch (err) {
    await embedded?.stop();
    throw err;
  }
  try {
    const sealer = createSealer(config.encryptionKey);
    const accounts = createAccountStore(db, createPasswordHasher(config.password), { minStrength: config.password.minStrength, passwordRules: config.password.rules });
    const storage = withSealedClientSecrets(createOidcStorage(db, { tokenKey: deriveKey(config.encryptionKey, 'tessera:token-ids'), clientCacheSeconds: config.clients.cacheSeconds }), sealer);
    const keys = createKeyStore(db, sealer);
    const flows = createSignInFlows(db);
    const signUps = createSignUps(db, config.codes.signInLifetimeSeconds, clock);
    // the webhook outbox is written with each audit batch, just before it (webhooks/index.ts)
    let webhooks: Webhooks | undefined;
    const audit = metrics.auditSink(createAuditLog(db, { retentionDays: config.audit.retentionDays, exportMaxRows: config.audit.exportMaxRows, clock, log,
      beforeWrite: (batch) => webhooks?.enqueue(batch) ?? Promise.resolve() }));
    const passwordLinks = createPasswordLinks(db, { key: deriveKey(config.encryptionKey, 'tessera:password-links'), hours: config.account.setPasswordLinkHours, clock });
    const outbox = createOutbox();
    const transports = metrics.transports(createTransports(transportSettings(config), outbox));
    const limits = metrics.limits(createLimits(db, config.limits, deriveKey(config.encryptionKey, 'tessera:limits'), clock,
      { messages: createMessages('Tessera', Math.round(config.codes.signInLifetimeSeconds / 60), config.defaultLanguage), transports, log }));
    // texts and calls are capped per day: the owner's own number on its own allowance, any other
    // number per sender, IP and number (toll fraud); every code page and confirmation asks first
    const phoneSends = phoneSendCheck(limits);
    const deviceCodes = { seconds: config.codes.deviceLifetimeSeconds, maxSeconds: config.codes.deviceMaxLifetimeSeconds };
    const challenges = createChallenges(db, sealer, {
      lifetimeSeconds: config.codes.signInLifetimeSeconds, resendIntervalSeconds: config.codes.resendIntervalSeconds, maxAttempts: config.codes.maxAttempts,
      lifetimes: { 'device-trust': deviceCodes, 'device-remove': deviceCodes },
    }, clock, audit, limits);
    const messages = createMessages('Tessera', Math.round(config.codes.signInLifetimeSeconds / 60), config.defaultLanguage);
    const totp = createTotp(db, sealer, { issuer: 'Tessera', clock });
    // the order the sign-in page offers them in: the first one the account can use is preselected
    const recovery = createRecoveryCodes(db, deriveKey(config.encryptionKey, 'tessera:recovery-codes'), clock);
    const recoveryUsed = async (account: { id: string; email: string; profile?: Reader }, left: number) => {
      audit.record({ type: 'mfa.recovery_code_used', outcome: 'success', actor: { type: 'user', id: account.id, label: account.email }, subject: { type: 'account', id: account.id, label: account.email }, accountId: account.id, details: { left } });
      await transports.email(await messages.in(account.profile).recoveryCodeUsed(account.email, left));
    };
    // text and voice codes go to the account's primary verified mobile number (its contacts)
    const organisations = createOrganisations(db, accounts, clock);
    const phones = createPhones(db, {
      clock, numberKey: deriveKey(config.encryptionKey, 'tessera:phone-numbers'),
      // membership holds where the account and the organisation agree (orgs/store.ts, crash rule)
      organisationOf: async (accountId) => {
        const account = await accounts.findById(accountId);
        return account ? (await organisations.memberOf(account))?.id : undefined;
      },
    });
    const verifiedPhone = (account: { id: string; email: string }): Promise<string | undefined> => phones.primaryVerified(account.id);
    const phoneDeps = { challenges, transports, messages, clock, verifiedPhone, phoneSends };
    const webauthn = createWebAuthn(db, { issuer: config.issuer, rpName: 'Tessera', clock, aaguidAllowlist: config.webauthn.aaguidAllowlist, challengeKey: deriveKey(config.encryptionKey, 'tessera:passkey-challenges') });
    const factors = createFactorRegistry([
      webauthnFactor(webauthn, clock), totpFactor(totp, clock), smsFactor(phoneDeps), voiceFactor(phoneDeps), emailFactor({ challenges, transports, messages, clock }),
      recoveryFactor(recovery, recoveryUsed, clock),
    ]);
    const trustedIps = createTrustedIps(db, clock);
    const devices = createDeviceRegistry(db, deriveKey(config.encryptionKey, 'tessera:device-ids'), { maxFailures: config.devices.maxFailures, maxRegistrations: config.devices.maxRegistrations }, clock, audit);
    const history = createSignInHistory(db, { keepEntries: config.account.historyEntries });
    const events = createSignInEvents(history, clock, log, audit);
    const deviceKeys = createDeviceKeys({ key: deriveKey(config.encryptionKey, 'tessera:device-key-challenges'), clock });
    const unblockLinks = createUnblockLinks({ key: deriveKey(config.encryptionKey, 'tessera:device-unblock-links'), hours: config.devices.unblockLinkHours, issuer: config.issuer, clock, devices, accounts });
    let provider: Provider | undefined;
    // "This wasn't me" (the link of new-device and unusual-sign-in emails): announced through the notices below
    const containment = createContainment(db, {
      key: deriveKey(config.encryptionKey, 'tessera:containment-links'), days: config.devices.containmentLinkDays, issuer: config.issuer, clock, accounts, devices, audit,
      // someone else used the account: what they may have allowed applications is asked again, then every session and grant ends
      endSessions: async (accountId) => {
        await accounts.forgetAllConsents(accountId);
        return endAccountSessions(provider!, storage, accountId);
      },
      announce: (account, device, seen) => notices.accountSecured(account, describeDevice(device), seen),
    });
    const notices = createDeviceNotices({ accounts, organisations, messages, transports, clock, log, unblockLink: unblockLinks.forNotice,
      containmentLinks: (accountId, deviceId) => ({ notMe: containment.linkFor(accountId, deviceId), wasMe: `${config.issuer}${DEVICES_PATH}`, days: containment.days }),
      ...(noticeRetryDelayMs ? { retryDelayMs: noticeRetryDelayMs } : {}) });
    const records = createSessionRecords(db, { maxDays: config.account.sessionMaxDays, clock });
    const sessions = createSessionService({
      provider: () => provider!, storage, records, accounts, devices, trustedIps,
      refKey: deriveKey(config.encryptionKey, 'tessera:session-refs'), maxDays: config.account.sessionMaxDays, maxPinFailures: config.pin.maxFailures, clock, audit,
    });
    const stepUp: StepUpDeps = {
      async factorsOf(accountId, withAvailable) {
        const account = await accounts.findById(accountId);
        if (!account) return { available: [], deviceVerification: true };
        const routine = account.secondFactor;
        const available = withAvailable || routine ? await factors.available(account) : [];
        return { available, ...(routine ? { routine } : {}), deviceVerification: account.deviceVerification, pinAfterSignIn: account.security.pinAfterSignIn };
      },
      proofsOf: (uid, accountId) => sessions.proofsOf(uid, accountId),
      recordProofs: (uid, accountId, list) => sessions.addProofs(uid, accountId, list),
      async trustOf(accountId, where, needs) {
        const device = where.device ?? (where.browserId ? await devices.registrationFor(accountId, where.browserId) : undefined);
        const now = Math.floor(clock().getTime() / 1000);
        const ipSkips = needs.routine || needs.pin ? await trustedIps.skipsFor(accountId, where.ip) : [];
        // device-bound trust: the sign-in's key proof (a signed-in session's sign-in made it, where.keyProven unset)
        const skipped = !!needs.routine && routineSkipped(needs.routine, { ...trustFactsOf(device, now, where.keyProven, config.devices.trustCookieOnly), ipSkips });
        return { routineSkipped: skipped, newDevice: needs.newDeviceCheck && !device?.verifiedAt, pinSkipped: pinSkipped(ipSkips) };
      },
      browserOf: (ctx) => browserIdOf(ctx, config.issuer),
      sessionSignedIn: (ctx, uid, accountId, proofs, deviceId, fresh) => sessions.signedIn(uid, accountId, requester(ctx), { proofs, ...(deviceId ? { deviceId } : {}), ...(fresh ? { fresh } : {}) }),
      async sessionState(ctx, session) {
        const account = await accounts.findById(session.accountId);
        return account ? sessions.check(session.uid, account, requester(ctx), session.loginTs) : 'active';
      },
      sessionMoved: (ctx, session) => sessions.moved(session.uid, session.accountId, requester(ctx), riskSettings(config.risk)),
      emailCountsAsMfa: config.mfa.emailCountsAsMfa,
      offerEnrolment: config.mfa.offerEnrolment,
      clock,
    };
    function requester(ctx: { ip: string; get(field: string): string; cookies: Parameters<typeof browserIdOf>[0]['cookies'] }) {
      const browserId = browserIdOf(ctx, config.issuer);
      return { ip: ctx.ip, userAgent: ctx.get('user-agent'), ...(browserId ? { browserId } : {}) };
    }
    const recoveryRequests = createRecoveryStore(db, clock);
    // the person's own account deletion: every module forgets the account, the audit log keeps a pseudonym
    const deletion = createAccountDeletion(db, accounts, {
      endSessions: (accountId) => endAccountSessions(provider!, storage, accountId),
      stores: [
        { name: 'organisation', forget: async (id) => { const a = await accounts.findById(id); const org = a && (await organisations.memberOf(a)); if (org) await organisations.removeMember(org.id, id); } },
        { name: 'session records', forget: (id) => records.forgetAccount(id) },
        { name: 'sign-in history', forget: (id) => history.forgetAccount(id) },
        { name: 'devices', forget: (id) => devices.forgetAccount(id) },
        { name: 'phones', forget: (id) => phones.forgetAccount(id) },
        { name: 'trusted IPs', forget: (id) => trustedIps.forgetAccount(id) },
        { name: 'authenticator app', forget: (id) => totp.remove(id) },
        { name: 'security keys', forget: (id) => webauthn.removeAll(id) },
        { name: 'recovery codes', forget: (id) => recovery.removeAll(id) },
        { name: 'set-password links', forget: (id) => passwordLinks.forgetAccount(id) },
        { name: 'codes', forget: (id) => challenges.forgetAccount(id) },
        { name: 'sign-ins in progress', forget: (id) => flows.forgetAccount(id) },
        { name: 'assisted recovery', forget: (id) => recoveryRequests.forgetAccount(id) },
        { name: 'OIDC references', forget: (id) => storage.forgetAccount(id) },
      ],
      pseudonymise: (id, emails, pseudonym) => audit.pseudonymise(id, emails, pseudonym),
    }, {
      graceDays: config.account.deletionGraceDays, pseudonymKey: deriveKey(config.encryptionKey, 'tessera:deleted-accounts'), clock, log,
      announce(account, type, change, seen, said) {
        // once deleted, the audit log knows the account only by its pseudonym (account.id then)
        const deleted = type === 'account.deleted';
        audit.record({
          type, outcome: 'success', actor: deleted ? { type: 'system' } : { type: 'user', id: account.id, label: account.email },
          subject: { type: 'account', id: account.id, label: deleted ? account.id : account.email }, ...(deleted ? {} : { accountId: account.id }),
          ...(seen?.ip ? { ip: seen.ip } : {}), details: { change },
        });
        const where = { at: clock(), ...(seen?.ip ? { ip: seen.ip } : {}), where: describeLocation(seen?.location), browser: seen?.browser ?? 'unknown', os: seen?.os ?? 'unknown' };
        void messages.in(account.profile).securityChange(account.email, change, where, said).then((email) => transports.email(email))
          .catch((err: Error) => log(`[tessera] could not email ${type} to an account: ${err.message}`));
      },
    });
    const hooks = createWebhooks({
      db, sealer, settings: config.webhooks, issuer: config.issuer, clock, log, audit, transports, messages,
      organisationOf: async (accountId) => {
        const account = await accounts.findById(accountId);
        return account ? (await organisations.memberOf(account))?.id : undefined;
      },
      organisationExists: async (id) => (await organisations.byId(id)) !== undefined,
      async admins(organisationId) {
        const admins = (await accounts.list()).filter((a) => a.role === 'admin' && !a.disabled);
        const orgAdmins = await Promise.all((await organisations.adminsOf(organisationId)).map((id) => accounts.findById(id)));
        // one notice per address, in that account's language
        const byEmail = new Map([...admins, ...orgAdmins.filter((a) => a !== undefined)].map((a) => [a.email, { email: a.email, profile: a.profile }]));
        return [...byEmail.values()];
      },
      counted: (outcome) => metrics.webhookDelivery(outcome),
    });
    webhooks = hooks;
    const logos = createLogoStore(db, config.issuer, clock);
    // every store has registered its models by now: create their collections and indexes (TTL
    // indexes on MongoDB) before anything reads or writes
    await db.init();
    // sign-in flow records had a collection of their own before they moved into the interaction's
    // document (interaction/flow.ts): a sign-in in progress across the upgrade starts again
    await db.connection.db!.dropCollection('sign_in_flows').catch((err: { codeName?: string; message?: string }) => {
      if (err.codeName !== 'NamespaceNotFound') log(`[tessera] could not drop the retired collection sign_in_flows: ${err.message} (retried at the next start)`);
    });
    const backfill = await accounts.backfillEmailLookups();
    for (const problem of backfill.failed) log(`[tessera] email lookup backfill: ${problem} (retried at the next start)`);
    for (const problem of (await webauthn.backfillLookups()).failed) log(`[tessera] passkey lookup backfill: ${problem} (retried at the next start)`);
    for (const problem of (await limits.migrate()).failed) log(`[tessera] limit counter migration: ${problem} (retried at the next start)`);
    for (const problem of (await devices.migrate()).failed) log(`[tessera] device failure count migration: ${problem} (retried at the next start)`);
    await keys.ensure();
    await hooks.refresh();
    const jwks = await keys.jwks();
    provider = createProvider({ config, storage, accounts, stepUp, jwks, phoneOf: (accountId) => phones.primaryVerified(accountId), log, ...(allowPrivateFetch ? { allowPrivateFetch } : {}) });
    metrics.watchProvider(provider as never);
    logBackchannelFailures(provider as never, log);
    // /readyz: the database answers a ping in time and the provider holds a signing key per algorithm
    const readiness = createReadiness({
      ping: () => db.connection.db!.admin().command({ ping: 1 }),
      signingKeysLoaded: () => SIGNING_ALGS.every((alg) => jwks.some((k) => k.alg === alg)),
      timeoutMs: config.readinessDbTimeoutMs,
    });
    const clients = createClientStore(storage, (metadata) => provider.Client.validate(metadata as unknown as Parameters<Provider['Client']['validate']>[0]), clock);
    const admin = createAdminService({
      issuer: config.issuer, accounts, clients, devices, organisations, audit, passwordLinks, factorStores: [totp, webauthn, recovery], messages, transports,
      endSessions: (accountId) => endAccountSessions(provider!, storage, accountId),
      endDeviceSessions: (accountId, deviceId, why) => sessions.endForDevice(accountId, deviceId, { actor: { type: 'system' }, why }),
      secretGraceSeconds: config.clients.secretGraceHours * 3600, linkHours: config.account.setPasswordLinkHours, clock, log, webhooks: hooks.endpoints, logos, phones,
    });
    const assistedRecovery = createAssistedRecovery({
      store: recoveryRequests, accounts, history, audit, transports, messages, verifiedPhone, admin: () => admin, waitHours: config.account.recoveryWaitHours,
      issuer: config.issuer, key: deriveKey(config.encryptionKey, 'tessera:recovery-cancel-links'), clock, log,
    });
    // pending webhook deliveries (those of before a restart too) are sent by the server's worker
    if (owner === 'server') hooks.start();
    // accounts whose deletion grace period is over are deleted by the server, hourly
    const sweeper = owner === 'server'
      ? setInterval(() => { deletion.sweep().catch((err: Error) => log(`[tessera] account deletion sweep failed: ${err.message}`)); }, 3_600_000).unref()
      : undefined;
    // assisted-recovery resets a crash cut short are finished by the server, every minute
    const recoverySweeper = owner === 'server'
      ? setInterval(() => { assistedRecovery.sweep().catch((err: Error) => log(`[tessera] assisted recovery sweep failed: ${err.message}`)); }, 60_000).unref()
      : undefined;
    return {
      config, db, accounts, deletion, keys, readiness, metrics, clients, storage, provider, flows, factors, stepUp, outbox, totp, recovery, webauthn, trustedIps, devices, deviceKeys, unblockLinks, containment, events, organisations, notices, messages, transports, challenges, phones, sessions, history, audit, verifiedPhone, passwordLinks, signUps, admin, limits, phoneSends, assistedRecovery, webhooks: hooks, logos,
      async close() {
        clearInterval(sweeper);
        clearInterval(recoverySweeper);
        try {
          await notices.stop();
          await limits.settled();
          await hooks.stop();
          await audit.flush();
        } finally {
          await db.close();
          await embedded?.stop();
        }
      },
    };
  } catch (err) {
    await db.close();
    await embedded?.stop();
    throw err;
  }
}
