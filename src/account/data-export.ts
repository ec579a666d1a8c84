// "Your data" (GDPR Art. 15 and 20): the file a person downloads with everything Tessera keeps about
// their account, assembled from what the stores return. Pure: every field is copied by name, never
// spread from a store's object, so a hash, secret, token, grant or session id added to a store later
// cannot reach the file by accident.
import type { AccountView } from '../accounts/store.ts';
import type { AuditEvent } from '../audit/events.ts';
import type { Device } from '../devices/registry.ts';
import type { SignInEvent } from '../devices/events.ts';
import type { CredentialView } from '../factors/webauthn/index.ts';
import type { Phone } from '../phones/store.ts';
import type { SessionView } from '../sessions/service.ts';
import type { TrustedIp } from '../trusted-ips/store.ts';

/** A grant as the provider stores it (its id, `jti`, is never read). */
export interface GrantFacts {
  clientId?: unknown;
  openid?: unknown;
  resources?: unknown;
  iat?: unknown;
  exp?: unknown;
}

/** What the stores returned for one account. */
export interface AccountFacts {
  account: AccountView;
  organisationName?: string;
  devices: Device[];
  sessions: SessionView[];
  /** The sign-in history, newest first. */
  history: SignInEvent[];
  phones: Phone[];
  trustedIps: TrustedIp[];
  /** When the authenticator app was set up (undefined: none is). */
  totpSince?: Date;
  keys: CredentialView[];
  recoveryCodesLeft: number;
  grants: GrantFacts[];
  /** Client id → its name, for the grants' and sessions' applications. */
  clientNames: Map<string, string | undefined>;
  /** Events about the account, newest first; `complete` false when the export stopped at its limit. */
  audit: { events: AuditEvent[]; complete: boolean };
  /** The server's longest session, in days (what auto-logout "never" means). */
  sessionMaxDays: number;
  exportedAt: Date;
}

/** The download's file name: tessera-data-YYYY-MM-DD.json (UTC). */
export const exportFileName = (at: Date) => `tessera-data-${at.toISOString().slice(0, 10)}.json`;

const optional = <K extends string, V>(key: K, value: V | undefined | null): { [P in K]?: V } =>
  (value === undefined || value === null ? {} : { [key]: value }) as { [P in K]?: V };

const seconds = (value: unknown) => (typeof value === 'number' ? new Date(value * 1000) : undefined);

/** How a device is named in the file's other sections (its registration id is the device's `id`, never the cookie's value). */
const deviceLabel = (d: Device) => d.name ?? `${d.browser ?? 'Unknown browser'} on ${d.os ?? 'unknown system'}`;

function application(clientId: string, names: Map<string, string | undefined>) {
  return { clientId, ...optional('name', names.get(clientId)) };
}

function profileOf({ account, organisationName }: AccountFacts) {
  return {
    id: account.id,
    email: account.email,
    emailVerified: account.emailVerified,
    name: account.name,
    profile: account.profile,
    role: account.role,
    ...optional('organisation', organisationName),
    createdAt: account.createdAt,
    updatedAt: account.updatedAt,
  };
}

function securityOf({ account, sessionMaxDays }: AccountFacts) {
  const { security } = account;
  return {
    pinSet: security.pinSet,
    pinAfterSignIn: security.pinAfterSignIn,
    screenLockMinutes: security.screenLockMinutes,
    autoLogoutDays: security.autoLogoutDays ?? sessionMaxDays,
    ...optional('passwordChangedAt', security.passwordChangedAt),
    routineSecondFactor: account.secondFactor ?? null,
    newDeviceVerification: account.deviceVerification,
  };
}

function deviceOf(d: Device) {
  return {
    id: d.id,
    label: deviceLabel(d),
    ...optional('name', d.name),
    state: d.state,
    flags: d.flags,
    ...optional('browser', d.browser),
    ...optional('os', d.os),
    firstSeenAt: d.firstSeenAt,
    ...optional('verifiedAt', d.verifiedAt),
    ...optional('trustedSince', d.activatedAt),
    ...optional('trustedUntil', d.trustedUntil),
    ...optional('lastUsedAt', d.lastUsedAt),
    ...optional('lastIp', d.lastIp),
    ...optional('location', d.location),
    failedAttempts: d.failures,
    history: d.history.map((h) => ({ at: h.at, from: h.from, to: h.to, by: h.by, ...optional('actor', h.actor), why: h.why })),
  };
}

function sessionOf(s: SessionView, names: Map<string, string | undefined>) {
  return {
    thisSession: s.current,
    ...optional('signedInAt', s.signedInAt),
    ...optional('lastActiveAt', s.lastActiveAt),
    ...optional('endsAt', s.endsAt),
    ...optional('device', s.deviceName),
    browser: s.browser,
    os: s.os,
    ...optional('ip', s.ip),
    ...optional('location', s.location),
    locked: s.locked,
    applications: s.clientIds.map((id) => application(id, names)),
  };
}

function signInOf(e: SignInEvent, devices: Map<string, string>) {
  return {
    at: e.at,
    result: e.result,
    ...optional('ip', e.ip),
    ...optional('location', e.location),
    ...optional('browser', e.browser),
    ...optional('os', e.os),
    ...optional('device', e.deviceId ? devices.get(e.deviceId) : undefined),
    factors: e.factors,
    ...optional('application', e.application),
  };
}

function grantOf(g: GrantFacts, names: Map<string, string | undefined>) {
  const openid = (g.openid ?? {}) as { scope?: unknown; claims?: unknown };
  const resources = Object.entries((g.resources ?? {}) as Record<string, unknown>)
    .filter((entry): entry is [string, string] => typeof entry[1] === 'string')
    .map(([resource, scope]) => ({ resource, scopes: scope.split(' ').filter(Boolean) }));
  return {
    application: application(typeof g.clientId === 'string' ? g.clientId : 'unknown', names),
    scopes: typeof openid.scope === 'string' ? openid.scope.split(' ').filter(Boolean) : [],
    ...(Array.isArray(openid.claims) && openid.claims.length ? { claims: openid.claims.filter((c): c is string => typeof c === 'string') } : {}),
    ...(resources.length ? { resources } : {}),
    ...optional('grantedAt', seconds(g.iat)),
    ...optional('expiresAt', seconds(g.exp)),
  };
}

function auditOf(e: AuditEvent) {
  return {
    at: e.at,
    type: e.type,
    outcome: e.outcome,
    actor: { type: e.actor.type, ...optional('label', e.actor.label) },
    ...optional('ip', e.ip),
    details: e.details,
  };
}

/** The whole file, as a plain object (JSON.stringify writes dates as ISO 8601 UTC). */
export function assembleExport(facts: AccountFacts) {
  const devices = new Map(facts.devices.map((d) => [d.id, deviceLabel(d)]));
  return {
    about: {
      service: 'Tessera',
      exportedAt: facts.exportedAt,
      contents: 'Everything Tessera keeps about this account. It holds no password, PIN, authenticator secret, recovery code, token, cookie or session identifier.',
    },
    profile: profileOf(facts),
    security: securityOf(facts),
    devices: facts.devices.map(deviceOf),
    sessions: facts.sessions.map((s) => sessionOf(s, facts.clientNames)),
    signInHistory: facts.history.map((e) => signInOf(e, devices)),
    phoneNumbers: facts.phones.map((p) => ({
      number: p.number, type: p.type, status: p.status, primary: p.primary, addedAt: p.addedAt, ...optional('verifiedAt', p.verifiedAt),
    })),
    trustedIps: facts.trustedIps.map((t) => ({ range: t.cidr, skips: t.skips, createdAt: t.createdAt, updatedAt: t.updatedAt })),
    secondFactors: {
      authenticatorApp: { setUp: facts.totpSince !== undefined, ...optional('since', facts.totpSince) },
      securityKeys: facts.keys.map((k) => ({ name: k.name, synced: k.synced, createdAt: k.createdAt, ...optional('lastUsedAt', k.lastUsedAt) })),
      recoveryCodesLeft: facts.recoveryCodesLeft,
    },
    connectedApplications: facts.grants.map((g) => grantOf(g, facts.clientNames)),
    // what the person allowed each application, kept so later sign-ins do not ask again
    consents: Object.entries(facts.account.consents).map(([clientId, c]) => ({
      application: application(clientId, facts.clientNames), scopes: [...c.scopes], ...(c.claims.length ? { claims: [...c.claims] } : {}), givenAt: c.at,
    })),
    auditLog: {
      complete: facts.audit.complete,
      events: facts.audit.events.map(auditOf),
    },
  };
}

export type DataExport = ReturnType<typeof assembleExport>;
