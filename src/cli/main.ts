// The `tessera` admin command (npm run tessera -- <command>): bootstrap users, clients and signing
// keys on the same database as the server, embedded or MONGODB_URI. --json prints one JSON object.
// User, client, device and organisation commands go through the admin service (admin/service.ts)
// as the COMMAND_LINE actor, so they are checked and audited as the console and the API are.
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { loadConfig } from '../config/load.ts';
import { openServices, type Services } from '../services.ts';
import { SIGNING_ALGS, type SigningAlg } from '../oidc/keys.ts';
import type { PkcePolicy } from '../oidc/clients.ts';
import { parseClientJwks, type ClientJwks } from '../oidc/client-jwks.ts';
import type { Profile } from '../accounts/profile.ts';
import { COMMAND_LINE } from '../admin/types.ts';

const USAGE = `usage: tessera <command> [--json]
  user create --email E --password P [--name N] [--admin] [PROFILE]
  user update --email E [--name N] [--device-verification on|off] [PROFILE]   (an empty value clears a field)
  user set-phone --email E --number +41... [--primary]   (an already verified number: no code is sent; the person is emailed)
  user list
  user disable --email E
  client create --client-id ID [--redirect-uri URI ...] [--public] [--grant refresh_token|client_credentials ...]
                [--post-logout-redirect-uri URI ...] [--skip-consent] [--name N] [--backchannel-logout-uri URI]
                [--pkce required|optional] [--minimum-acr urn:tessera:acr:pwd|urn:tessera:acr:mfa|phr] [CLIENT SECURITY]
  client update --client-id ID [--name N] [--redirect-uri URI ...] [CLIENT SECURITY]   (an empty value clears a field)
  client list
  client delete --client-id ID
  client grant-admin-api --client-id ID   (a confidential client may then use the admin API: client_credentials, scope admin)
  device list --email E                 (every registration with its state and history)
  device unblock --id ID
  device remove --id ID                 (final: the browser is a new device from then on)
  device flag --id ID --add F | --remove F
  device rename --id ID --name N
  org create --name N
  org add-member --org ID|NAME --email E
  org add-admin --org ID|NAME --email E   (organisation admins receive members' new-device notices)
  org list
  keys list
  keys rotate [--alg ES256|RS256]
  keys remove --kid KID
CLIENT SECURITY: [--auth-method client_secret_basic|client_secret_post|private_key_jwt] [--jwks JSON | --jwks-file PATH | --jwks-uri URI]
         [--require-par on|off] [--dpop on|off] [--security-profile fapi2|none]
PROFILE: [--given-name N] [--family-name N] [--middle-name N] [--nickname N] [--preferred-username U] [--locale en-GB]
         [--zoneinfo Europe/Paris] [--picture https://...] [--profile-url https://...] [--website https://...] [--gender G]
         [--birthdate YYYY-MM-DD|0000-MM-DD|YYYY] [--street-address S] [--locality L] [--region R] [--postal-code P] [--country C]`;

class UsageError extends Error {}

const PROFILE_FLAGS = ['given-name', 'family-name', 'middle-name', 'nickname', 'preferred-username', 'locale', 'zoneinfo', 'picture', 'profile-url', 'website', 'gender', 'birthdate',
  'street-address', 'locality', 'region', 'postal-code', 'country'] as const;

const OPTIONS = {
  json: { type: 'boolean' },
  email: { type: 'string' },
  password: { type: 'string' },
  name: { type: 'string' },
  admin: { type: 'boolean' },
  'client-id': { type: 'string' },
  'redirect-uri': { type: 'string', multiple: true },
  'post-logout-redirect-uri': { type: 'string', multiple: true },
  'backchannel-logout-uri': { type: 'string' },
  grant: { type: 'string', multiple: true },
  public: { type: 'boolean' },
  'skip-consent': { type: 'boolean' },
  pkce: { type: 'string' },
  'minimum-acr': { type: 'string' },
  'auth-method': { type: 'string' },
  jwks: { type: 'string' },
  'jwks-file': { type: 'string' },
  'jwks-uri': { type: 'string' },
  'require-par': { type: 'string' },
  dpop: { type: 'string' },
  'security-profile': { type: 'string' },
  ...Object.fromEntries(PROFILE_FLAGS.map((f) => [f, { type: 'string' }])) as Record<(typeof PROFILE_FLAGS)[number], { type: 'string' }>,
  alg: { type: 'string' },
  'device-verification': { type: 'string' },
  number: { type: 'string' },
  primary: { type: 'boolean' },
  id: { type: 'string' },
  add: { type: 'string' },
  remove: { type: 'string' },
  org: { type: 'string' },
  kid: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];
type Output = { json: Record<string, unknown>; text: string };

function required(values: Values, name: keyof Values): string {
  const v = values[name];
  if (typeof v !== 'string' || !v) throw new UsageError(`--${name} is required`);
  return v;
}

function profileFrom(v: Values): Profile {
  const camel = (flag: string) => flag.replace(/-(\w)/g, (_, c: string) => c.toUpperCase());
  const profile: Record<string, unknown> = {};
  const address: Record<string, string> = {};
  for (const flag of PROFILE_FLAGS) {
    const value = v[flag];
    if (value === undefined) continue;
    if (['street-address', 'locality', 'region', 'postal-code', 'country'].includes(flag)) address[camel(flag)] = value;
    else profile[camel(flag)] = value;
  }
  return { ...profile, ...(Object.keys(address).length ? { address } : {}) } as Profile;
}

function pkcePolicy(value: string): PkcePolicy {
  if (value !== 'required' && value !== 'optional') throw new UsageError(`--pkce must be required or optional, got "${value}"`);
  return value;
}

function onOff(v: Values, name: 'require-par' | 'dpop'): boolean | undefined {
  const value = v[name];
  if (value === undefined) return undefined;
  if (value !== 'on' && value !== 'off') throw new UsageError(`--${name} must be on or off, got "${value}"`);
  return value === 'on';
}

/** The client security flags (CLIENT SECURITY in the usage); with `clearing`, an empty value is null. */
function clientSecurity(v: Values, clearing: boolean) {
  const method = v['auth-method'];
  if (method !== undefined && !['client_secret_basic', 'client_secret_post', 'private_key_jwt'].includes(method)) {
    throw new UsageError(`--auth-method must be client_secret_basic, client_secret_post or private_key_jwt, got "${method}"`);
  }
  if (v.jwks !== undefined && v['jwks-file'] !== undefined) throw new UsageError('give --jwks or --jwks-file, not both');
  const text = v['jwks-file'] !== undefined ? readFileSync(v['jwks-file'], 'utf8') : v.jwks;
  let jwks: ClientJwks | null | undefined;
  if (text !== undefined && text.trim() === '' && clearing) jwks = null;
  else if (text !== undefined) {
    const parsed = parseClientJwks(text);
    if ('problem' in parsed) throw new UsageError(`--jwks: ${parsed.problem}`);
    jwks = parsed.jwks;
  }
  const profile = v['security-profile'];
  if (profile !== undefined && profile !== 'fapi2' && profile !== 'none' && !(clearing && profile === '')) throw new UsageError(`--security-profile must be fapi2 or none, got "${profile}"`);
  const par = onOff(v, 'require-par');
  const dpop = onOff(v, 'dpop');
  const uri = v['jwks-uri'];
  return {
    ...(method !== undefined ? { tokenEndpointAuthMethod: method as 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' } : {}),
    ...(jwks !== undefined ? { jwks } : {}),
    ...(uri !== undefined ? { jwksUri: uri === '' && clearing ? null : uri } : {}),
    ...(par !== undefined ? { requirePushedAuthorizationRequests: par } : {}),
    ...(dpop !== undefined ? { dpopBoundAccessTokens: dpop } : {}),
    ...(profile !== undefined ? { securityProfile: profile === 'fapi2' ? 'fapi2' as const : null } : {}),
  };
}

/** `org add-member` / `org add-admin`: adding a member never takes an organisation admin's role away. */
async function join(s: Services, v: Values, admin: boolean): Promise<Output> {
  const [idOrName, email] = [required(v, 'org'), required(v, 'email')];
  const found = await s.admin.organisations.find(idOrName);
  const user = await s.admin.users.byEmail(email);
  const org = await s.admin.organisations.setMember(COMMAND_LINE, found.id, user.id, admin || found.admins.includes(user.id));
  return { json: { id: org.id, members: org.members.length, admins: org.admins.length }, text: `${v.email} is ${admin ? 'an admin' : 'a member'} of "${org.name}"` };
}

const commands: Record<string, (s: Services, v: Values) => Promise<Output>> = {
  async 'user create'(s, v) {
    const { user } = await s.admin.users.create(COMMAND_LINE, {
      email: required(v, 'email'), password: required(v, 'password'),
      ...(v.name ? { name: v.name } : {}), role: v.admin ? 'admin' : 'user',
      profile: profileFrom(v),
    });
    return { json: { id: user.id, email: user.email, role: user.role }, text: `created ${user.role} ${user.email} (${user.id})` };
  },
  async 'user update'(s, v) {
    const email = required(v, 'email');
    const verification = v['device-verification'];
    if (verification !== undefined && verification !== 'on' && verification !== 'off') throw new UsageError(`--device-verification must be on or off, got "${verification}"`);
    const user = await s.admin.users.byEmail(email);
    const account = await s.admin.users.update(COMMAND_LINE, user.id, {
      profile: profileFrom(v), ...(v.name !== undefined ? { name: v.name } : {}), ...(verification !== undefined ? { deviceVerification: verification === 'on' } : {}),
    });
    return {
      json: { id: account.id, email: account.email, name: account.name, profile: account.profile, deviceVerification: account.deviceVerification },
      text: `updated ${account.email}${verification !== undefined ? ` (new-device verification ${verification})` : ''}`,
    };
  },
  async 'user set-phone'(s, v) {
    const user = await s.admin.users.byEmail(required(v, 'email'));
    const phone = await s.admin.users.setPhone(COMMAND_LINE, user.id, { number: required(v, 'number'), primary: v.primary === true });
    return {
      json: { id: user.id, email: user.email, phone: { number: phone.number, status: phone.status, primary: phone.primary } },
      text: `${phone.number} is a verified number of ${user.email}${phone.primary ? ' (primary)' : ''}`,
    };
  },
  async 'user list'(s) {
    const users = await s.admin.users.list();
    return {
      json: { users: users.map((u) => ({ id: u.id, email: u.email, name: u.name, role: u.role, disabled: u.disabled })) },
      text: users.map((u) => `${u.id}  ${u.email}  ${u.role}${u.disabled ? '  DISABLED' : ''}`).join('\n') || '(no users)',
    };
  },
  async 'user disable'(s, v) {
    const user = await s.admin.users.byEmail(required(v, 'email'));
    const { user: account, ended = { sessions: 0, grants: 0, backchannelFailures: [] } } = await s.admin.users.perform(COMMAND_LINE, user.id, 'disable');
    const failures = ended.backchannelFailures.length ? `; back-channel logout failed for ${ended.backchannelFailures.join(', ')}` : '';
    return {
      json: { id: account.id, email: account.email, disabled: true, sessionsEnded: ended.sessions, grantsRevoked: ended.grants, backchannelFailures: ended.backchannelFailures },
      text: `disabled ${account.email}; ended ${ended.sessions} session(s) and ${ended.grants} other grant(s)${failures}`,
    };
  },
  async 'client create'(s, v) {
    const grants = (v.grant ?? []).map((g) => {
      if (g !== 'refresh_token' && g !== 'client_credentials') throw new UsageError(`--grant must be refresh_token or client_credentials, got "${g}"`);
      return g;
    });
    const created = await s.admin.clients.create(COMMAND_LINE, {
      clientId: required(v, 'client-id'),
      redirectUris: v['redirect-uri'] ?? [],
      postLogoutRedirectUris: v['post-logout-redirect-uri'] ?? [],
      grants,
      ...(v.public === true ? { tokenEndpointAuthMethod: 'none' as const } : {}),
      skipConsent: v['skip-consent'] === true,
      ...(v.name ? { name: v.name } : {}),
      ...(v['backchannel-logout-uri'] ? { backchannelLogoutUri: v['backchannel-logout-uri'] } : {}),
      ...(v.pkce !== undefined ? { pkce: pkcePolicy(v.pkce) } : {}),
      ...(v['minimum-acr'] !== undefined ? { minimumAcr: v['minimum-acr'] } : {}),
      ...(() => {
        const { securityProfile, jwksUri, jwks, ...security } = clientSecurity(v, false);
        if (v.public === true && security.tokenEndpointAuthMethod) throw new UsageError('--public and --auth-method cannot go together: a public client has no authentication method');
        return { ...security, ...(securityProfile ? { securityProfile } : {}), ...(jwksUri ? { jwksUri } : {}), ...(jwks ? { jwks } : {}) };
      })(),
    });
    const { client } = created;
    const secret = 'clientSecret' in created ? created.clientSecret : undefined;
    const none = client.authMethod === 'private_key_jwt' ? '(private_key_jwt: no secret; the client signs with its own keys)' : '(public client: no secret)';
    return {
      json: { client_id: client.clientId, ...(secret ? { client_secret: secret } : {}) },
      text: `client_id:     ${client.clientId}\n${secret ? `client_secret: ${secret}\n(shown once here; store it now)` : none}`,
    };
  },
  async 'client update'(s, v) {
    const id = required(v, 'client-id');
    const patch = {
      ...(v.name !== undefined ? { name: v.name || null } : {}),
      ...(v['redirect-uri'] !== undefined ? { redirectUris: v['redirect-uri'] } : {}),
      ...clientSecurity(v, true),
    };
    if (!Object.keys(patch).length) throw new UsageError('nothing to change: give at least one of --name, --redirect-uri or the CLIENT SECURITY flags');
    const client = await s.admin.clients.update(COMMAND_LINE, id, patch);
    const security = [client.authMethod, client.securityProfile === 'fapi2' ? 'FAPI 2.0' : '', client.requirePushedAuthorizationRequests ? 'PAR required' : '', client.dpopBoundAccessTokens ? 'DPoP-bound tokens' : ''].filter(Boolean);
    return {
      json: { client },
      text: `updated client ${client.clientId} (${security.join(', ')})`,
    };
  },
  async 'client list'(s) {
    const clients = await s.admin.clients.list();
    return {
      json: { clients },
      text: clients.map((c) => `${c.clientId}  ${c.grantTypes.join(',')}  ${c.redirectUris.join(' ')}`).join('\n') || '(no clients)',
    };
  },
  async 'client delete'(s, v) {
    const id = required(v, 'client-id');
    await s.admin.clients.remove(COMMAND_LINE, id);
    return { json: { client_id: id, deleted: true }, text: `deleted client ${id}` };
  },
  async 'client grant-admin-api'(s, v) {
    const client = await s.admin.clients.grantAdminApi(COMMAND_LINE, required(v, 'client-id'));
    return {
      json: { client_id: client.clientId, admin_api: client.adminApi, grant_types: client.grantTypes, scope: 'admin' },
      text: `client ${client.clientId} may use the admin API: client_credentials token requests with scope=admin (grants: ${client.grantTypes.join(', ')})`,
    };
  },
  async 'device list'(s, v) {
    const account = await s.admin.users.byEmail(required(v, 'email'));
    const devices = await s.admin.users.devices(account.id);
    const day = (d?: Date) => (d ? d.toISOString().slice(0, 16).replace('T', ' ') : '-');
    return {
      json: { account: account.id, devices },
      text: devices.map((d) => [
        `${d.id}  ${d.state}${d.trustedUntil && d.trustedUntil > new Date() ? `  trusted until ${day(d.trustedUntil)}` : ''}${d.verifiedAt ? '' : '  (not verified)'}  "${d.name ?? ''}"  ${d.browser ?? ''} on ${d.os ?? ''}`,
        `    first seen ${day(d.firstSeenAt)}, last used ${day(d.lastUsedAt)} from ${d.lastIp ?? '-'}${d.flags.length ? `, flags: ${d.flags.join(', ')}` : ''}, failures ${d.failures}`,
        ...d.history.map((h) => `    ${day(h.at)}  ${h.from ?? '(new)'} -> ${h.to}  by ${h.by}: ${h.why}`),
      ].join('\n')).join('\n') || `(no devices for ${account.email})`,
    };
  },
  async 'device unblock'(s, v) {
    const device = await s.admin.devices.act(COMMAND_LINE, required(v, 'id'), 'unblock');
    return { json: { id: device.id, state: device.state }, text: `unblocked ${device.id}: ${device.state}` };
  },
  async 'device remove'(s, v) {
    const device = await s.admin.devices.act(COMMAND_LINE, required(v, 'id'), 'remove');
    return { json: { id: device.id, state: device.state }, text: `removed ${device.id}` };
  },
  async 'device flag'(s, v) {
    if ((v.add === undefined) === (v.remove === undefined)) throw new UsageError('give exactly one of --add F or --remove F');
    const device = await s.admin.devices.flag(COMMAND_LINE, required(v, 'id'), v.add !== undefined ? { add: v.add } : { remove: v.remove! });
    return { json: { id: device.id, flags: device.flags }, text: `${device.id} flags: ${device.flags.join(', ') || '(none)'}` };
  },
  async 'device rename'(s, v) {
    const [id, name] = [required(v, 'id'), required(v, 'name')];
    const device = await s.admin.devices.rename(COMMAND_LINE, id, name);
    return { json: { id: device.id, name: device.name }, text: `${device.id} is now "${device.name}"` };
  },
  async 'org create'(s, v) {
    const org = await s.admin.organisations.create(COMMAND_LINE, required(v, 'name'));
    return { json: { id: org.id, name: org.name }, text: `created organisation "${org.name}" (${org.id})` };
  },
  'org add-member': (s, v) => join(s, v, false),
  'org add-admin': (s, v) => join(s, v, true),
  async 'org list'(s) {
    const orgs = await s.admin.organisations.list();
    return { json: { organisations: orgs }, text: orgs.map((o) => `${o.id}  ${o.name}  ${o.members.length} member(s), ${o.admins.length} admin(s)`).join('\n') || '(no organisations)' };
  },
  async 'keys list'(s) {
    const keys = await s.keys.list();
    return { json: { keys }, text: keys.map((k) => `${k.kid}  ${k.alg}  ${k.status}  created ${k.createdAt.toISOString()}`).join('\n') };
  },
  async 'keys rotate'(s, v) {
    const alg = (v.alg ?? 'ES256') as SigningAlg;
    if (!SIGNING_ALGS.includes(alg)) throw new UsageError(`--alg must be one of ${SIGNING_ALGS.join(', ')}`);
    const r = await s.keys.rotate(alg);
    return {
      json: { alg, current: r.currentKid, previous: r.retiredKid ?? null },
      text: `${alg}: ${r.currentKid} signs after the next (rolling) restart; ${r.retiredKid ?? 'no key'} stays published for verification`,
    };
  },
  async 'keys remove'(s, v) {
    const kid = required(v, 'kid');
    await s.keys.remove(kid);
    return { json: { kid, removed: true }, text: `removed key ${kid}` };
  },
};

export async function runCli(argv: string[]): Promise<number> {
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true }));
  } catch (err) {
    console.error(`tessera: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const name = positionals.join(' ');
  const command = commands[name];
  if (values.help) { console.log(USAGE); return 0; }
  if (!command) {
    console.error(`tessera: ${name ? `unknown command "${name}"` : 'no command given'}\n${USAGE}`);
    return 2;
  }
  let services: Services | undefined;
  try {
    services = await openServices(loadConfig(), { owner: 'cli', log: (line) => console.error(line) });
    const out = await command(services, values);
    console.log(values.json ? JSON.stringify(out.json) : out.text);
    return 0;
  } catch (err) {
    const e = err as Error;
    if (err instanceof UsageError) { console.error(`tessera: ${e.message}\n${USAGE}`); return 2; }
    const known = /Error$/.test(e.name) && !['Error', 'TypeError', 'ReferenceError'].includes(e.name);
    if (values.json) console.log(JSON.stringify({ error: e.message }));
    console.error(`tessera: ${known ? e.message : (e.stack ?? e.message)}`);
    return 1;
  } finally {
    await services?.close();
  }
}

process.exitCode = await runCli(process.argv.slice(2));
