// Console pages for relying-party clients: the list, the create form (the secret is shown once, on
// the result page), the edit form, and the two destructive actions — rotating the secret and
// deleting the client — each behind a confirmation with re-authentication.
import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { FIRST_PARTY_CLIENTS, securityProblem } from '../../oidc/clients.ts';
import { parseClientJwks, MAX_CLIENT_JWKS_CHARS, type ClientJwks } from '../../oidc/client-jwks.ts';
import { ACR_LEVELS } from '../../policy/assurance.ts';
import { REAUTH_REFUSED } from '../../account/area.ts';
import { statusOf } from '../../http/errors.ts';
import { AdminError, type AdminClient, type AdminService, type ClientInput, type ClientPatch, type SecretIssued } from '../types.ts';
import { actorOf } from './area.ts';
import { FormReader, sentence, done, idParam } from './forms.ts';
import { show, type Confirmation, type confirmations } from './pages.ts';

const AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'] as const;
const PROFILES = ['fapi2'] as const;
const PKCE = ['required', 'optional'] as const;

/** The form's values, as typed (re-shown after a problem) or as stored. */
export interface ClientFormValues {
  clientId: string;
  name: string;
  redirectUris: string;
  postLogoutRedirectUris: string;
  refreshToken: boolean;
  clientCredentials: boolean;
  authMethod: string;
  minimumAcr: string;
  skipConsent: boolean;
  backchannelLogoutUri: string;
  pkce: string;
  logoUri: string;
  policyUri: string;
  tosUri: string;
  supportUri: string;
  brandColor: string;
  jwks: string;
  jwksUri: string;
  requirePar: boolean;
  dpop: boolean;
  securityProfile: string;
}

/** A problem shown beside its field (and linked from the summary at the top). */
export type ClientFieldErrors = Partial<Record<'authMethod' | 'jwks' | 'jwksUri' | 'securityProfile', string>>;

const BRANDING = ['logoUri', 'policyUri', 'tosUri', 'supportUri', 'brandColor'] as const;
const BRANDING_LABELS = { logoUri: 'Logo URL', policyUri: 'Privacy policy link', tosUri: 'Terms link', supportUri: 'Support link', brandColor: 'Brand colour' };

const BLANK: ClientFormValues = {
  clientId: '', name: '', redirectUris: '', postLogoutRedirectUris: '', refreshToken: false, clientCredentials: false,
  authMethod: 'client_secret_basic', minimumAcr: '', skipConsent: false, backchannelLogoutUri: '', pkce: 'required',
  logoUri: '', policyUri: '', tosUri: '', supportUri: '', brandColor: '',
  jwks: '', jwksUri: '', requirePar: false, dpop: false, securityProfile: '',
};

function valuesOf(client: AdminClient): ClientFormValues {
  const extra = client as AdminClient & { backchannelLogoutUri?: string };
  return {
    clientId: client.clientId, name: client.name ?? '', redirectUris: client.redirectUris.join('\n'), postLogoutRedirectUris: client.postLogoutRedirectUris.join('\n'),
    refreshToken: client.grantTypes.includes('refresh_token'), clientCredentials: client.grantTypes.includes('client_credentials'),
    authMethod: client.authMethod, minimumAcr: client.minimumAcr ?? '', skipConsent: client.skipConsent,
    backchannelLogoutUri: extra.backchannelLogoutUri ?? '', pkce: client.pkce,
    logoUri: client.logoUri ?? '', policyUri: client.policyUri ?? '', tosUri: client.tosUri ?? '', supportUri: client.supportUri ?? '', brandColor: client.brandColor ?? '',
    jwks: client.jwks ? JSON.stringify(client.jwks, null, 2) : '', jwksUri: client.jwksUri ?? '',
    requirePar: client.requirePushedAuthorizationRequests, dpop: client.dpopBoundAccessTokens, securityProfile: client.securityProfile ?? '',
  };
}

/** Reads the client form: the values to re-show and what was wrong with their shape. */
function readForm(ctx: Context, creating: boolean, publicClient = false) {
  const f = new FormReader(ctx);
  const values: ClientFormValues = {
    clientId: creating ? f.text('clientId', 'Client id', 128) : '',
    name: f.text('name', 'Name', 200),
    redirectUris: f.lines('redirectUris', 'Redirect URIs').join('\n'),
    postLogoutRedirectUris: f.lines('postLogoutRedirectUris', 'Post-logout redirect URIs').join('\n'),
    refreshToken: f.checked('grant_refresh_token'),
    clientCredentials: f.checked('grant_client_credentials'),
    // a public client's method is fixed at creation
    authMethod: publicClient ? 'none' : f.choice('authMethod', 'Authentication method', creating ? AUTH_METHODS : AUTH_METHODS.filter((m) => m !== 'none')),
    minimumAcr: f.choice('minimumAcr', 'Minimum sign-in level', ACR_LEVELS),
    skipConsent: f.checked('skipConsent'),
    backchannelLogoutUri: f.text('backchannelLogoutUri', 'Back-channel logout URI', 2000),
    pkce: f.choice('pkce', 'PKCE', PKCE),
    ...Object.fromEntries(BRANDING.map((k) => [k, f.text(k, BRANDING_LABELS[k], k === 'brandColor' ? 7 : 2000)])) as Pick<ClientFormValues, typeof BRANDING[number]>,
    jwks: f.text('jwks', 'JWKS', MAX_CLIENT_JWKS_CHARS),
    jwksUri: f.text('jwksUri', 'JWKS URI', 2000),
    requirePar: f.checked('requirePushedAuthorizationRequests'),
    dpop: f.checked('dpopBoundAccessTokens'),
    securityProfile: f.choice('securityProfile', 'Security profile', PROFILES),
  };
  if (creating && !values.clientId) f.problems.push('Give the client an id.');
  const grants = [...(values.refreshToken ? ['refresh_token' as const] : []), ...(values.clientCredentials ? ['client_credentials' as const] : [])];
  const lines = (text: string) => (text ? text.split('\n') : []);
  const { security, fieldErrors } = securityOf(values);
  return { values, problems: f.problems, grants, lines, security, fieldErrors };
}

/** The keys, PAR, DPoP and profile fields as the service takes them, or the problem beside its field. */
function securityOf(values: ClientFormValues) {
  const fieldErrors: ClientFieldErrors = {};
  let jwks: ClientJwks | undefined;
  if (values.jwks) {
    const parsed = parseClientJwks(values.jwks);
    if ('problem' in parsed) fieldErrors.jwks = `${sentence(parsed.problem)} Nothing was saved.`;
    else jwks = parsed.jwks;
  }
  const security = {
    ...(jwks ? { jwks } : {}),
    ...(values.jwksUri ? { jwksUri: values.jwksUri } : {}),
    requirePushedAuthorizationRequests: values.requirePar,
    dpopBoundAccessTokens: values.dpop,
    ...(values.securityProfile ? { securityProfile: values.securityProfile as 'fapi2' } : {}),
  };
  if (!fieldErrors.jwks) {
    const method = values.authMethod || 'client_secret_basic';
    const problem = securityProblem({ ...security, ...(method === 'none' ? { public: true } : { authMethod: method as 'private_key_jwt' }), ...(values.pkce === 'optional' ? { pkce: 'optional' } : {}) });
    if (problem) fieldErrors[problem.field] = `${sentence(problem.message)} Nothing was saved.`;
  }
  return { security, fieldErrors };
}

export function clientRoutes(router: Router, gate: Middleware[], admin: AdminService, confirm: ReturnType<typeof confirmations>): void {
  // `rp`, not `client`: ejs reads a local named client as its own option (a client-side template)
  const form = async (ctx: Context, client: AdminClient | undefined, values: ClientFormValues, errors: string[] = [], fieldErrors: ClientFieldErrors = {}) =>
    show(ctx, 'client', {
      title: client ? `Client ${client.clientId}` : 'New client', rp: client, firstParty: !!client && FIRST_PARTY_CLIENTS.includes(client.clientId), values, errors, fieldErrors, acrLevels: ACR_LEVELS,
      reauthNeeded: client ? await confirm.reauthNeeded(ctx) : false,
    });

  const secretPage = (ctx: Context, issued: SecretIssued, rotated: boolean) =>
    show(ctx, 'client-secret', { title: 'Client secret', rp: issued.client, secret: issued.clientSecret, rotated, validUntil: issued.previousSecretValidUntil });

  /** A 400/409 from the service on a form: the form again, with the message and the typed values. */
  async function refused(ctx: Context, err: unknown, client: AdminClient | undefined, values: ClientFormValues): Promise<void> {
    if (!(err instanceof AdminError) || err.kind === 'not_found') throw err;
    ctx.status = statusOf(err);
    await form(ctx, client, values, [`${sentence(err.message)} Nothing was saved.`]);
  }

  router.get('/clients', ...gate, async (ctx) => {
    await show(ctx, 'clients', { title: 'Clients', clients: await admin.clients.list() });
  });

  router.get('/clients/new', ...gate, async (ctx) => form(ctx, undefined, BLANK));

  router.post('/clients', ...gate, async (ctx) => {
    const { values, problems, grants, lines, security, fieldErrors } = readForm(ctx, true);
    if (problems.length || Object.keys(fieldErrors).length) {
      ctx.status = 400;
      return form(ctx, undefined, values, problems, fieldErrors);
    }
    const input: ClientInput = {
      clientId: values.clientId, redirectUris: lines(values.redirectUris), postLogoutRedirectUris: lines(values.postLogoutRedirectUris), grants,
      tokenEndpointAuthMethod: (values.authMethod || 'client_secret_basic') as ClientInput['tokenEndpointAuthMethod'],
      skipConsent: values.skipConsent, pkce: (values.pkce || 'required') as ClientInput['pkce'],
      ...(values.name ? { name: values.name } : {}),
      ...(values.minimumAcr ? { minimumAcr: values.minimumAcr } : {}),
      ...(values.backchannelLogoutUri ? { backchannelLogoutUri: values.backchannelLogoutUri } : {}),
      ...Object.fromEntries(BRANDING.flatMap((k) => (values[k] ? [[k, values[k]]] : []))),
      ...security,
    };
    let created: Awaited<ReturnType<AdminService['clients']['create']>>;
    try {
      created = await admin.clients.create(actorOf(ctx), input);
    } catch (err) {
      return refused(ctx, err, undefined, values);
    }
    if ('clientSecret' in created) {
      ctx.status = 201;
      return secretPage(ctx, created, false);
    }
    ctx.redirect(done(`/admin/clients/${encodeURIComponent(created.client.clientId)}`, created.client.authMethod === 'private_key_jwt' ? 'client-created-keys' : 'client-created'));
  });

  router.get('/clients/:id', ...gate, async (ctx) => {
    const client = await admin.clients.get(idParam(ctx, 'id', 'client'));
    await form(ctx, client, valuesOf(client));
  });

  router.post('/clients/:id', ...gate, async (ctx) => {
    const client = await admin.clients.get(idParam(ctx, 'id', 'client'));
    const { values, problems, grants, lines, security, fieldErrors } = readForm(ctx, false, client.authMethod === 'none');
    values.clientId = client.clientId;
    if (problems.length || Object.keys(fieldErrors).length) {
      ctx.status = 400;
      return form(ctx, client, values, problems, fieldErrors);
    }
    // null clears an optional field (ClientPatch says so; its intersection type does not let null through yet)
    const patch = {
      name: values.name || null, redirectUris: lines(values.redirectUris), postLogoutRedirectUris: lines(values.postLogoutRedirectUris), grants,
      minimumAcr: values.minimumAcr || null, skipConsent: values.skipConsent, backchannelLogoutUri: values.backchannelLogoutUri || null,
      pkce: (values.pkce || client.pkce) as ClientPatch['pkce'],
      ...Object.fromEntries(BRANDING.map((k) => [k, values[k] || null])),
      ...(client.authMethod !== 'none' && values.authMethod ? { tokenEndpointAuthMethod: values.authMethod as ClientPatch['tokenEndpointAuthMethod'] } : {}),
      jwks: security.jwks ?? null, jwksUri: security.jwksUri ?? null, securityProfile: security.securityProfile ?? null,
      requirePushedAuthorizationRequests: security.requirePushedAuthorizationRequests, dpopBoundAccessTokens: security.dpopBoundAccessTokens,
    } as ClientPatch;
    // a change that widens who gets tokens (a new redirect URI, consent skipped) asks for the
    // password, as the other widening actions do (issue 26)
    const known = new Set(client.redirectUris);
    const widens = (patch.redirectUris ?? []).some((u) => !known.has(u)) || (patch.skipConsent === true && !client.skipConsent);
    if (widens && !(await confirm.passwordConfirmed(ctx))) {
      ctx.status = 400;
      return form(ctx, client, values, [`${REAUTH_REFUSED} A new redirect URI or skipping consent changes who receives tokens.`]);
    }
    try {
      await admin.clients.update(actorOf(ctx), client.clientId, patch);
    } catch (err) {
      return refused(ctx, err, client, values);
    }
    ctx.redirect(done(`/admin/clients/${encodeURIComponent(client.clientId)}`, 'client-updated'));
  });

  // an uploaded logo (the multipart form is read by branding/upload.ts): stored by Tessera, then the client's logo_uri
  router.post('/clients/:id/logo', ...gate, async (ctx) => {
    const client = await admin.clients.get(idParam(ctx, 'id', 'client'));
    const image = ctx.state.logoUpload as Buffer | undefined;
    if (!image) {
      ctx.status = 400;
      return form(ctx, client, valuesOf(client), ['Choose a logo file (PNG, JPEG or WebP, at most 100 KB) to upload. Nothing was saved.']);
    }
    try {
      await admin.clients.setLogo(actorOf(ctx), client.clientId, image);
    } catch (err) {
      return refused(ctx, err, client, valuesOf(client));
    }
    ctx.redirect(done(`/admin/clients/${encodeURIComponent(client.clientId)}`, 'client-updated'));
  });

  const rotation = (client: AdminClient): Confirmation => ({
    title: 'Rotate the client secret',
    question: 'A new secret is made and shown once. The old secret keeps working for a grace period only: the application must be given the new one.',
    details: [['Client', client.clientId], ['Name', client.name ?? '—']],
    action: `/admin/clients/${encodeURIComponent(client.clientId)}/rotate`, button: 'Rotate the secret', cancel: `/admin/clients/${encodeURIComponent(client.clientId)}`,
  });
  const deletion = (client: AdminClient): Confirmation => ({
    title: 'Delete the client',
    question: 'The application can no longer sign anyone in, and its tokens stop working. This cannot be undone.',
    details: [['Client', client.clientId], ['Name', client.name ?? '—'], ['Redirect URIs', client.redirectUris.join(', ') || '—']],
    action: `/admin/clients/${encodeURIComponent(client.clientId)}/delete`, button: 'Delete the client', cancel: `/admin/clients/${encodeURIComponent(client.clientId)}`,
  });

  router.get('/clients/:id/rotate', ...gate, async (ctx) => {
    const client = await admin.clients.get(idParam(ctx, 'id', 'client'));
    if (client.authMethod === 'none') throw new AdminError('invalid', 'public_client', 'A public client has no secret to rotate.');
    if (client.authMethod === 'private_key_jwt') throw new AdminError('invalid', 'no_secret', 'This client authenticates with its own keys (private_key_jwt): it has no secret to rotate. Change its JWKS or JWKS URI instead.');
    await confirm.confirmPage(ctx, rotation(client));
  });
  router.post('/clients/:id/rotate', ...gate, async (ctx) => {
    const client = await admin.clients.get(idParam(ctx, 'id', 'client'));
    if (!(await confirm.reauthenticated(ctx, rotation(client)))) return;
    await secretPage(ctx, await admin.clients.rotateSecret(actorOf(ctx), client.clientId), true);
  });

  router.get('/clients/:id/delete', ...gate, async (ctx) => {
    await confirm.confirmPage(ctx, deletion(await admin.clients.get(idParam(ctx, 'id', 'client'))));
  });
  router.post('/clients/:id/delete', ...gate, async (ctx) => {
    const client = await admin.clients.get(idParam(ctx, 'id', 'client'));
    if (!(await confirm.reauthenticated(ctx, deletion(client)))) return;
    await admin.clients.remove(actorOf(ctx), client.clientId);
    ctx.redirect(done('/admin/clients', 'client-deleted'));
  });
}
