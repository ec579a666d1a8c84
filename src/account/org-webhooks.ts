// "Organisation → Webhooks" in the security center (/account/security/organisation/webhooks): an
// organisation admin registers, edits, turns on and off, rotates the secret of and deletes the
// webhook endpoints of their own organisation, and reads each one's delivery log
// (webhooks/organisation.ts keeps every action inside that organisation and audits it). Whether
// the person administers an organisation is read on every request: one who stops being an admin
// loses the section at once. Every change asks for re-authentication, as every change here does;
// the signing secret is shown once, on the page after a registration or a rotation.
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { AccountView } from '../accounts/store.ts';
import { DomainError } from '../domain-error.ts';
import { UserFacingError } from '../http/errors.ts';
import type { Organisation } from '../orgs/store.ts';
import { normalizeIp } from '../policy/ip-ranges.ts';
import { WEBHOOK_EVENT_LABELS, WEBHOOK_EVENT_TYPES, type WebhookEventType } from '../webhooks/events.ts';
import type { SecretShown, WebhookEndpoint, WebhookField } from '../webhooks/endpoints.ts';
import type { OrganisationAdmin, OrganisationWebhooks } from '../webhooks/organisation.ts';
import { REAUTH_REFUSED, type AccountArea } from './area.ts';

export interface OrgWebhookDeps {
  webhooks: OrganisationWebhooks;
  organisations: { administeredBy(account: AccountView): Promise<Organisation | undefined> };
}

const BASE = '/account/security/organisation/webhooks';
const NAV = 'org-webhooks';
const LIST: [string, string] = [BASE, 'Organisation webhooks'];

interface Values {
  url: string;
  description: string;
  types: WebhookEventType[];
  enabled: boolean;
}

/** Refusals beside their fields; `form`: the rest, at the top. */
type FieldErrors = Partial<Record<Exclude<WebhookField, 'organisationId'> | 'password' | 'form', string>>;

/** The checkbox of an event type (no dots in form field names). */
const checkbox = (type: WebhookEventType) => `type_${type.replace(/\./g, '_')}`;
const TYPES = WEBHOOK_EVENT_TYPES.map((type) => ({ type, field: checkbox(type), label: WEBHOOK_EVENT_LABELS[type] }));
const href = (e: { id: string }, tail = '') => `${BASE}/${encodeURIComponent(e.id)}${tail}`;
const valuesOf = (e: WebhookEndpoint): Values => ({ url: e.url, description: e.description, types: e.types, enabled: e.enabled });

/** The form's values; a field sent twice (or as anything but text) is a refusal beside it. */
function readForm(ctx: Context): { values: Values; errors: FieldErrors } {
  const body = (ctx.request.body ?? {}) as Record<string, unknown>;
  const errors: FieldErrors = {};
  const text = (name: 'url' | 'description'): string => {
    const value = body[name];
    if (value === undefined) return '';
    if (typeof value === 'string') return value.trim();
    errors[name] = 'Give one value.';
    return '';
  };
  const on = (name: string) => body[name] === 'on';
  const values = { url: text('url'), description: text('description'), types: WEBHOOK_EVENT_TYPES.filter((t) => on(checkbox(t))), enabled: on('enabled') };
  if (!values.url) errors.url ??= 'Give the URL the events are sent to, such as https://siem.example.com/tessera.';
  if (!values.types.length) errors.types = 'Choose at least one event type.';
  return { values, errors };
}

export function orgWebhookRoutes(deps: OrgWebhookDeps): (router: Router, area: AccountArea) => void {
  return (router, area) => {
    /** The signed-in organisation admin and their organisation, or a redirect / a refusal with a way forward. */
    async function administrator(ctx: Context): Promise<{ account: AccountView; org: Organisation; by: OrganisationAdmin } | undefined> {
      const account = await area.requireAccount(ctx);
      if (!account) return undefined;
      const org = await deps.organisations.administeredBy(account);
      if (!org) {
        if (account.organisationId) throw new UserFacingError(403, 'not_organisation_admin', 'Only your organisation\'s admins manage its webhooks. Ask one of them to add or change an endpoint.');
        throw new UserFacingError(404, 'no_organisation', 'There is no such page: organisation webhooks are for organisation admins, and your account does not belong to an organisation.');
      }
      const ip = normalizeIp(ctx.ip);
      return { account, org, by: { organisationId: org.id, accountId: account.id, email: account.email, ...(ip ? { ip } : {}) } };
    }

    async function list(ctx: Context, org: Organisation, by: OrganisationAdmin, notice?: string, error?: string) {
      await ctx.render('account/org-webhooks', { title: 'Organisation webhooks', nav: NAV, organisation: org.name, endpoints: await deps.webhooks.list(by), notice, error });
    }

    /**
     * The endpoint of the path, of the admin's organisation; otherwise (another organisation's, an
     * all-accounts one, none) the list with a 404 and why, and undefined.
     */
    async function endpointOf(ctx: Context, admin: { org: Organisation; by: OrganisationAdmin }): Promise<WebhookEndpoint | undefined> {
      try {
        return await deps.webhooks.get(admin.by, String((ctx.params as Record<string, string>).id ?? ''));
      } catch (err) {
        if (!(err instanceof DomainError) || err.kind !== 'not_found') throw err;
        ctx.status = 404;
        await list(ctx, admin.org, admin.by, undefined, `There is no such webhook endpoint of ${admin.org.name} (it may have been deleted): nothing was changed. Your organisation's endpoints are listed below.`);
        return undefined;
      }
    }

    async function form(ctx: Context, org: Organisation, by: OrganisationAdmin, endpoint: WebhookEndpoint | undefined, values: Values, fieldErrors: FieldErrors = {}, notice?: string) {
      await ctx.render('account/org-webhook', {
        title: endpoint ? 'Webhook endpoint' : 'New webhook endpoint', nav: NAV, back: LIST, organisation: org.name, endpoint, values, fieldErrors, notice, types: TYPES,
        csrf: ctx.state._csrf, reauthNeeded: await area.reauthNeeded(ctx), deliveries: endpoint ? await deps.webhooks.deliveries(by, endpoint.id) : [], href,
      });
    }

    const secretPage = (ctx: Context, shown: SecretShown, rotated: boolean) =>
      ctx.render('account/org-webhook-secret', { title: rotated ? 'New signing secret' : 'Webhook endpoint registered', nav: NAV, back: LIST, endpoint: shown.endpoint, secret: shown.secret, rotated, href });

    /** A refusal of the webhooks module: the form again, the message beside its field; "not found" stays an error page. */
    function refusal(err: unknown): FieldErrors {
      if (!(err instanceof DomainError) || err.kind === 'not_found') throw err;
      const at = (err as { field?: WebhookField }).field;
      return { [at && at !== 'organisationId' ? at : 'form']: `${err.message.replace(/\.?$/, '.')} Nothing was saved.` };
    }

    const ACTIONS = {
      rotate: {
        title: 'Rotate the signing secret', button: 'Rotate the secret',
        question: 'A new secret is made and shown once. From now on every request — retries included — is signed with it only: give it to the receiver right away.',
      },
      delete: {
        title: 'Delete the webhook endpoint', button: 'Delete the endpoint',
        question: 'No more events are sent to it, and its pending deliveries are dropped. This cannot be undone.',
      },
    } as const;
    const confirmPage = async (ctx: Context, action: keyof typeof ACTIONS, endpoint: WebhookEndpoint, error?: string) =>
      ctx.render('account/org-webhook-confirm', {
        ...ACTIONS[action], nav: NAV, back: [href(endpoint), 'The endpoint'], endpoint, action: href(endpoint, `/${action}`), cancel: href(endpoint),
        csrf: ctx.state._csrf, reauthNeeded: await area.reauthNeeded(ctx), error,
      });

    router.get('/security/organisation/webhooks', async (ctx) => {
      const admin = await administrator(ctx);
      if (admin) await list(ctx, admin.org, admin.by);
    });

    router.get('/security/organisation/webhooks/new', async (ctx) => {
      const admin = await administrator(ctx);
      if (admin) await form(ctx, admin.org, admin.by, undefined, { url: '', description: '', types: [], enabled: true });
    });

    router.post('/security/organisation/webhooks', async (ctx) => {
      const admin = await administrator(ctx);
      if (!admin) return;
      const { values, errors } = readForm(ctx);
      if (!(await area.passwordConfirmed(ctx, admin.account))) errors.password = REAUTH_REFUSED;
      if (Object.keys(errors).length) {
        ctx.status = 400;
        return form(ctx, admin.org, admin.by, undefined, values, errors);
      }
      let shown: SecretShown;
      try {
        shown = await deps.webhooks.create(admin.by, { url: values.url, description: values.description, types: values.types });
      } catch (err) {
        ctx.status = 400;
        return form(ctx, admin.org, admin.by, undefined, values, refusal(err));
      }
      ctx.status = 201;
      await secretPage(ctx, shown, false);
    });

    router.get('/security/organisation/webhooks/:id', async (ctx) => {
      const admin = await administrator(ctx);
      if (!admin) return;
      const endpoint = await endpointOf(ctx, admin);
      if (!endpoint) return;
      await form(ctx, admin.org, admin.by, endpoint, valuesOf(endpoint));
    });

    router.post('/security/organisation/webhooks/:id', async (ctx) => {
      const admin = await administrator(ctx);
      if (!admin) return;
      const endpoint = await endpointOf(ctx, admin);
      if (!endpoint) return;
      const { values, errors } = readForm(ctx);
      if (!(await area.passwordConfirmed(ctx, admin.account))) errors.password = REAUTH_REFUSED;
      if (Object.keys(errors).length) {
        ctx.status = 400;
        return form(ctx, admin.org, admin.by, endpoint, values, errors);
      }
      let saved: WebhookEndpoint;
      try {
        saved = await deps.webhooks.update(admin.by, endpoint.id, values);
      } catch (err) {
        ctx.status = 400;
        return form(ctx, admin.org, admin.by, endpoint, values, refusal(err));
      }
      await form(ctx, admin.org, admin.by, saved, valuesOf(saved), {}, saved.enabled ? 'The endpoint was saved.' : 'The endpoint was saved. It is off: nothing is sent to it until you turn it on.');
    });

    for (const action of ['rotate', 'delete'] as const) {
      router.get(`/security/organisation/webhooks/:id/${action}`, async (ctx) => {
        const admin = await administrator(ctx);
        const endpoint = admin && (await endpointOf(ctx, admin));
        if (endpoint) await confirmPage(ctx, action, endpoint);
      });
      router.post(`/security/organisation/webhooks/:id/${action}`, async (ctx) => {
        const admin = await administrator(ctx);
        if (!admin) return;
        const endpoint = await endpointOf(ctx, admin);
        if (!endpoint) return;
        if (!(await area.passwordConfirmed(ctx, admin.account))) {
          ctx.status = 400;
          return confirmPage(ctx, action, endpoint, REAUTH_REFUSED);
        }
        if (action === 'rotate') return secretPage(ctx, await deps.webhooks.rotateSecret(admin.by, endpoint.id), true);
        await deps.webhooks.remove(admin.by, endpoint.id);
        await list(ctx, admin.org, admin.by, `The endpoint ${endpoint.url} was deleted: nothing more is sent to it.`);
      });
    }
  };
}
