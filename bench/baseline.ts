// The benchmark's baseline: a bare oidc-provider with the same storage adapter, database server,
// signing algorithm and argon2id parameters as Tessera, and the least interaction code that works.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import Koa from 'koa';
import mount from 'koa-mount';
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import Provider, { type Configuration } from 'oidc-provider';
import { createPasswordHasher } from '../src/accounts/password.ts';
import { connectDatabase, type Database } from '../src/db/database.ts';
import { createOidcStorage } from '../src/oidc/adapter.ts';
import type { PasswordParams } from '../src/accounts/password.ts';
import type { Config } from '../src/config/schema.ts';

export interface Baseline {
  issuer: string;
  /** The baseline's database handle (the benchmark counts its commands too). */
  db: Database;
  close(): Promise<void>;
}

export async function startBaseline(opts: {
  mongodbUri: string; password: PasswordParams; ttl: Config['ttl']; user: { email: string; password: string };
  clients: Configuration['clients'];
  /** Tessera's CLIENT_CACHE_SECONDS: the same adapter keeps clients the same way. */
  clientCacheSeconds: number;
}): Promise<Baseline> {
  const db: Database = await connectDatabase(opts.mongodbUri, { serverSelectionTimeoutMs: 5000, connectTimeoutMs: 5000, monitorCommands: true });
  const storage = createOidcStorage(db, { tokenKey: randomBytes(32), clientCacheSeconds: opts.clientCacheSeconds });
  await db.init();
  // clients live in the database, as Tessera's do, so both pay the same lookups
  for (const client of opts.clients ?? []) await storage.adapter('Client').upsert(client.client_id, client as never, 0);
  const hasher = createPasswordHasher(opts.password);
  const hash = await hasher.hash(opts.user.password);
  const kept = new Map<string, string>();

  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const jwk = { ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }), kid: 'base', alg: 'ES256', use: 'sig' };
  const provider = new Provider(issuer, {
    adapter: storage.adapter,
    jwks: { keys: [jwk as never] },
    cookies: { keys: ['baseline-cookie-key-baseline-cookie-key'] },
    pkce: { required: () => true },
    features: { devInteractions: { enabled: false }, clientCredentials: { enabled: true }, resourceIndicators: { enabled: false } },
    clientDefaults: { id_token_signed_response_alg: 'ES256', grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic' },
    scopes: ['openid', 'offline_access'],
    rotateRefreshToken: true,
    ttl: {
      Session: opts.ttl.sessionSeconds, Interaction: opts.ttl.interactionSeconds, AuthorizationCode: opts.ttl.authorizationCodeSeconds,
      AccessToken: opts.ttl.accessTokenSeconds, IdToken: opts.ttl.idTokenSeconds, RefreshToken: opts.ttl.refreshTokenSeconds,
      Grant: opts.ttl.grantSeconds, ClientCredentials: opts.ttl.clientCredentialsSeconds,
    },
    findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
    // a consent given once is kept (in this process's memory: no storage, so the least a kept
    // consent can cost), as Tessera keeps it on the account; the same sign-in then has no consent page
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId ?? ctx.oidc.session!.grantIdFor(ctx.oidc.client!.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const scope = kept.get(`${ctx.oidc.session!.accountId}\n${ctx.oidc.client!.clientId}`);
      // prompt=consent asks again: the grant is made by the consent page
      if (!scope || ctx.oidc.prompts.has('consent')) return undefined;
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client!.clientId, accountId: ctx.oidc.session!.accountId! });
      grant.addOIDCScope(scope);
      await grant.save();
      return grant;
    },
  });

  const router = new Router();
  router.get('/interaction/:uid', async (ctx) => {
    const d = await provider.interactionDetails(ctx.req, ctx.res);
    ctx.type = 'html';
    ctx.body = d.prompt.name === 'login'
      ? `<form method="post" action="/interaction/${d.uid}/login"><input name="email"><input name="password"></form>`
      : `<form method="post" action="/interaction/${d.uid}/confirm"></form>`;
  });
  router.post('/interaction/:uid/login', async (ctx) => {
    const body = ctx.request.body as Record<string, string>;
    const ok = body.email === opts.user.email && (await hasher.verify(hash, body.password ?? ''));
    if (!ok) { ctx.status = 400; return; }
    ctx.status = 303;
    ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, { login: { accountId: 'bench-user' } }, { mergeWithLastSubmission: false }));
  });
  router.post('/interaction/:uid/confirm', async (ctx) => {
    const d = await provider.interactionDetails(ctx.req, ctx.res);
    const grant = new provider.Grant({ accountId: d.session!.accountId, clientId: String(d.params.client_id) });
    grant.addOIDCScope(String(d.params.scope));
    kept.set(`${d.session!.accountId}\n${d.params.client_id}`, String(d.params.scope));
    ctx.status = 303;
    ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true }));
  });

  const app = new Koa();
  app.keys = ['baseline-cookie-key-baseline-cookie-key'];
  const forms = bodyParser({ enableTypes: ['form'] });
  app.use((ctx, next) => (ctx.path.startsWith('/interaction/') ? forms(ctx, next) : next()));
  app.use(router.routes());
  app.use(mount(provider));
  server.on('request', app.callback());
  return {
    issuer,
    db,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await db.close();
    },
  };
}
