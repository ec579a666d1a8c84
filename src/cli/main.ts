// The `tessera` admin command (npm run tessera -- <command>): bootstrap users, clients and signing
// keys on the same database as the server, embedded or MONGODB_URI. --json prints one JSON object.
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.ts';
import { openServices, type Services } from '../services.ts';
import { SIGNING_ALGS, type SigningAlg } from '../oidc/keys.ts';
import type { PkcePolicy } from '../oidc/clients.ts';
import type { Profile } from '../accounts/profile.ts';

const USAGE = `usage: tessera <command> [--json]
  user create --email E --password P [--name N] [--admin] [PROFILE]
  user update --email E [--name N] [PROFILE]      (an empty value clears a field)
  user list
  user disable --email E
  client create --client-id ID [--redirect-uri URI ...] [--public] [--grant refresh_token|client_credentials ...]
                [--post-logout-redirect-uri URI ...] [--skip-consent] [--name N] [--backchannel-logout-uri URI]
                [--pkce required|optional] [--minimum-acr urn:tessera:acr:pwd|urn:tessera:acr:mfa|phr]
  client list
  client delete --client-id ID
  keys list
  keys rotate [--alg ES256|RS256]
  keys remove --kid KID
PROFILE: [--given-name N] [--family-name N] [--preferred-username U] [--locale en-GB] [--zoneinfo Europe/Paris]
         [--picture https://...] [--street-address S] [--locality L] [--region R] [--postal-code P] [--country C]`;

class UsageError extends Error {}

const PROFILE_FLAGS = ['given-name', 'family-name', 'preferred-username', 'locale', 'zoneinfo', 'picture', 'street-address', 'locality', 'region', 'postal-code', 'country'] as const;

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
  ...Object.fromEntries(PROFILE_FLAGS.map((f) => [f, { type: 'string' }])) as Record<(typeof PROFILE_FLAGS)[number], { type: 'string' }>,
  alg: { type: 'string' },
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

const commands: Record<string, (s: Services, v: Values) => Promise<Output>> = {
  async 'user create'(s, v) {
    const account = await s.accounts.create({
      email: required(v, 'email'), password: required(v, 'password'),
      ...(v.name ? { name: v.name } : {}), role: v.admin ? 'admin' : 'user',
      profile: profileFrom(v),
    });
    return { json: { id: account.id, email: account.email, role: account.role }, text: `created ${account.role} ${account.email} (${account.id})` };
  },
  async 'user update'(s, v) {
    const account = await s.accounts.updateProfile(required(v, 'email'), { ...profileFrom(v), ...(v.name !== undefined ? { name: v.name } : {}) });
    return { json: { id: account.id, email: account.email, name: account.name, profile: account.profile }, text: `updated ${account.email}` };
  },
  async 'user list'(s) {
    const users = await s.accounts.list();
    return {
      json: { users: users.map((u) => ({ id: u.id, email: u.email, name: u.name, role: u.role, disabled: u.disabled })) },
      text: users.map((u) => `${u.id}  ${u.email}  ${u.role}${u.disabled ? '  DISABLED' : ''}`).join('\n') || '(no users)',
    };
  },
  async 'user disable'(s, v) {
    const { account, ended } = await s.disableAccount(required(v, 'email'));
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
    const client = await s.clients.create({
      clientId: required(v, 'client-id'),
      redirectUris: v['redirect-uri'] ?? [],
      postLogoutRedirectUris: v['post-logout-redirect-uri'] ?? [],
      grants,
      public: v.public === true,
      skipConsent: v['skip-consent'] === true,
      ...(v.name ? { name: v.name } : {}),
      ...(v['backchannel-logout-uri'] ? { backchannelLogoutUri: v['backchannel-logout-uri'] } : {}),
      ...(v.pkce !== undefined ? { pkce: pkcePolicy(v.pkce) } : {}),
      ...(v['minimum-acr'] !== undefined ? { minimumAcr: v['minimum-acr'] } : {}),
    });
    return {
      json: { client_id: client.clientId, ...(client.clientSecret ? { client_secret: client.clientSecret } : {}) },
      text: `client_id:     ${client.clientId}\n${client.clientSecret ? `client_secret: ${client.clientSecret}\n(shown once here; store it now)` : '(public client: no secret)'}`,
    };
  },
  async 'client list'(s) {
    const clients = await s.clients.list();
    return {
      json: { clients: clients.map(({ clientSecret: _secret, ...c }) => c) },
      text: clients.map((c) => `${c.clientId}  ${c.grantTypes.join(',')}  ${c.redirectUris.join(' ')}`).join('\n') || '(no clients)',
    };
  },
  async 'client delete'(s, v) {
    const id = required(v, 'client-id');
    await s.clients.remove(id);
    return { json: { client_id: id, deleted: true }, text: `deleted client ${id}` };
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
