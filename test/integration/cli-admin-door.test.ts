// One admin door: the `tessera` command line changes users, clients, devices and organisations
// through the admin service, so it refuses what the console and the JSON API refuse (a first-party
// client id) and a change it makes is audited as the same change through the API is, with the
// admin "command line" as actor.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { tesseraCli } from '../support/cli.ts';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { createUser } from '../support/flow.ts';
import { FIRST_PARTY_CLIENTS } from '../../src/oidc/clients.ts';
import type { AuditEvent, AuditType } from '../../src/audit/events.ts';

/** How the audit log names the command line (what operators and SIEM rules already filter on). */
const COMMAND_LINE = { type: 'admin', id: 'cli', label: 'command line' };
const PASSWORD = 'Correct#Horse1';
const EVIL = 'https://evil.example/cb';

const newId = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;
const newEmail = () => `${newId('door')}@example.com`;

/** What must not depend on the door: the event, its outcome, what it is about and which details it keeps. */
const shape = (e: AuditEvent) => ({ type: e.type, outcome: e.outcome, subject: e.subject?.type, accountId: e.accountId !== undefined, details: Object.keys(e.details).sort() });

describe('one admin door: the command line goes through the admin service', function () {
  this.timeout(120_000);
  let t: Tessera;
  let dataDir: string;
  let token: string;
  const serverErrors: unknown[] = [];

  before(async () => {
    t = await startTessera({ log: (err) => serverErrors.push(err), env: { CLIENT_CACHE_SECONDS: '0' } });
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'tessera-cli-'));
    const bot = await t.services.clients.create({ clientId: 'door-bot', redirectUris: [], grants: ['client_credentials'] });
    await t.services.clients.grantAdminApi('door-bot');
    const res = await fetch(`${t.issuer}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`door-bot:${bot.clientSecret!}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'admin' }),
    });
    token = ((await res.json()) as { access_token: string }).access_token;
  });
  after(async () => {
    await t?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  afterEach(() => assert.deepEqual(serverErrors, [], 'no 500s'));

  const cli = async (...args: string[]) => {
    const res = await tesseraCli(t, dataDir, ...args);
    assert.equal(res.code, 0, `${args.join(' ')}: ${res.stderr}`);
    return args.includes('--json') ? JSON.parse(res.stdout) as Record<string, string> : res.stdout;
  };

  async function api(method: string, route: string, body?: unknown): Promise<Record<string, Record<string, string>>> {
    const res = await fetch(`${t.issuer}/admin/api/v1${route}`, {
      method, headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const json = res.status === 204 ? {} : await res.json() as Record<string, Record<string, string>>;
    assert.ok(res.ok, `${method} ${route}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  }

  /** The newest event of `type` that `about` picks (the command line wrote it from its own process). */
  async function event(type: AuditType, about: (e: AuditEvent) => boolean): Promise<AuditEvent> {
    await t.services.audit.flush();
    const found = (await t.services.audit.query({ type, limit: 200 })).events.find(about);
    assert.ok(found, `a ${type} event`);
    return found;
  }

  it('refuses to create a client with a first-party client id, as the API does, and audits the refusal alike', async () => {
    for (const clientId of FIRST_PARTY_CLIENTS) {
      const res = await tesseraCli(t, dataDir, 'client', 'create', '--client-id', clientId, '--redirect-uri', EVIL, '--skip-consent');
      assert.equal(res.code, 1, res.stdout);
      assert.match(res.stderr, new RegExp(`^tessera: ${clientId} is one of Tessera's own clients: choose another client id\\.$`, 'm'));
      const viaApi = await fetch(`${t.issuer}/admin/api/v1/clients`, {
        method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ clientId, redirectUris: [EVIL], skipConsent: true }),
      });
      assert.equal(viaApi.status, 400);
      assert.equal(((await viaApi.json()) as { error: string }).error, 'protected');
      assert.ok(!(await t.services.clients.find(clientId))?.redirectUris.includes(EVIL), `${clientId} keeps its own redirect URIs`);

      const refused = (actorType: string) => (e: AuditEvent) => e.subject?.id === clientId && e.outcome === 'failure' && e.actor.type === actorType;
      const [fromCli, fromApi] = [await event('admin.client.created', refused('admin')), await event('admin.client.created', refused('client'))];
      assert.deepEqual(fromCli.actor, COMMAND_LINE);
      assert.deepEqual(shape(fromCli), shape(fromApi));
      assert.equal(fromCli.details.error, 'protected');
    }
  });

  it('audits each user, client and organisation change as the same change through the API, with the command line as actor', async () => {
    const [byCli, byApi] = [newEmail(), newEmail()];
    const cliUser = await cli('user', 'create', '--email', byCli, '--password', PASSWORD, '--json') as Record<string, string>;
    const apiUser = (await api('POST', '/users', { email: byApi, password: PASSWORD })).user!;
    await cli('user', 'disable', '--email', byCli);
    await api('POST', `/users/${apiUser.id}/disable`);

    const [cliClient, apiClient] = [newId('rp'), newId('rp')];
    await cli('client', 'create', '--client-id', cliClient, '--redirect-uri', 'https://rp.example/cb');
    await api('POST', '/clients', { clientId: apiClient, redirectUris: ['https://rp.example/cb'] });
    await cli('client', 'delete', '--client-id', cliClient);
    await api('DELETE', `/clients/${apiClient}`);

    const [cliOrgName, apiOrgName] = [newId('Org'), newId('Org')];
    const cliOrg = await cli('org', 'create', '--name', cliOrgName, '--json') as Record<string, string>;
    const apiOrg = (await api('POST', '/organisations', { name: apiOrgName })).organisation!;
    const [cliMember, apiMember] = [await createUser(t), await createUser(t)];
    await cli('org', 'add-member', '--org', cliOrgName, '--email', cliMember.email);
    await api('PUT', `/organisations/${apiOrg.id}/members/${apiMember.id}`, { admin: false });

    const pairs: [AuditType, (e: AuditEvent) => boolean, (e: AuditEvent) => boolean][] = [
      ['admin.user.created', (e) => e.subject?.label === byCli, (e) => e.subject?.label === byApi],
      ['admin.user.disabled', (e) => e.subject?.id === cliUser.id, (e) => e.subject?.id === apiUser.id],
      ['admin.client.created', (e) => e.subject?.id === cliClient, (e) => e.subject?.id === apiClient],
      ['admin.client.deleted', (e) => e.subject?.id === cliClient, (e) => e.subject?.id === apiClient],
      ['admin.organisation.created', (e) => e.subject?.label === cliOrgName, (e) => e.subject?.label === apiOrgName],
      ['admin.organisation.member_set', (e) => e.accountId === cliMember.id, (e) => e.accountId === apiMember.id],
    ];
    for (const [type, fromCli, fromApi] of pairs) {
      const [mine, theirs] = [await event(type, fromCli), await event(type, fromApi)];
      assert.deepEqual(mine.actor, COMMAND_LINE, type);
      assert.equal(theirs.actor.type, 'client', type);
      assert.deepEqual(shape(mine), shape(theirs), type);
    }
    assert.equal((await event('admin.organisation.member_set', pairs[5]![1])).subject?.id, cliOrg.id);
  });

  it('audits a profile or new-device verification change from the command line as admin.user.updated', async () => {
    const user = await createUser(t);
    const out = await cli('user', 'update', '--email', user.email, '--device-verification', 'off', '--given-name', 'Ada', '--json') as Record<string, unknown>;
    assert.equal(out.deviceVerification, false);
    const updated = await event('admin.user.updated', (e) => e.subject?.id === user.id);
    assert.deepEqual(updated.actor, COMMAND_LINE);
    assert.equal(updated.outcome, 'success');
    assert.deepEqual(updated.details, { changed: ['givenName', 'deviceVerification'], deviceVerification: false });
  });
});
