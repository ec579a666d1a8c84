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
import { WEBHOOK_EVENT_TYPES, type WebhookEventType } from '../webhooks/events.ts';
import { MAX_DESCRIPTION, MAX_URL, type SecretShown, type WebhookEndpoint, type WebhookField } from '../webhooks/endpoints.ts';
import type { Translate } from '../i18n/index.ts';
import type { OrganisationAdmin, OrganisationWebhooks } from '../webhooks/organisation.ts';
import { tr, type AccountArea } from './area.ts';

export interface OrgWebhookDeps {
  webhooks: OrganisationWebhooks;
  organisations: { administeredBy(account: AccountView): Promise<Organisation | undefined> };
}

const BASE = '/account/security/organisation/webhooks';
const NAV = 'org-webhooks';
const listLink = (t: Translate): [string, string] => [BASE, t('account:orgWebhooks.title')];

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
/** What each event type means, in the page's language (webhooks/events.ts WEBHOOK_EVENT_LABELS: the console's English). */
const EVENT_LABELS: Record<WebhookEventType, (t: Translate) => string> = {
  'sign_in.new_device': (t) => t('account:orgWebhooks.eventLabels.newDevice'),
  'sign_in.new_country': (t) => t('account:orgWebhooks.eventLabels.newCountry'),
  'sign_in.impossible_travel': (t) => t('account:orgWebhooks.eventLabels.impossibleTravel'),
  'sign_in.locked_out': (t) => t('account:orgWebhooks.eventLabels.lockedOut'),
  'device.blocked': (t) => t('account:orgWebhooks.eventLabels.deviceBlocked'),
  'device.unblocked': (t) => t('account:orgWebhooks.eventLabels.deviceUnblocked'),
  'device.removed': (t) => t('account:orgWebhooks.eventLabels.deviceRemoved'),
  'second_factor.added': (t) => t('account:orgWebhooks.eventLabels.factorAdded'),
  'second_factor.removed': (t) => t('account:orgWebhooks.eventLabels.factorRemoved'),
  'second_factor.reset': (t) => t('account:orgWebhooks.eventLabels.factorReset'),
  'password.changed': (t) => t('account:orgWebhooks.eventLabels.passwordChanged'),
  'password.reset': (t) => t('account:orgWebhooks.eventLabels.passwordReset'),
  'recovery_code.used': (t) => t('account:orgWebhooks.eventLabels.recoveryCodeUsed'),
  'admin.action': (t) => t('account:orgWebhooks.eventLabels.adminAction'),
};
const typesIn = (t: Translate) => WEBHOOK_EVENT_TYPES.map((type) => ({ type, field: checkbox(type), label: EVENT_LABELS[type](t) }));

/**
 * A refusal of the webhooks module (webhooks/endpoints.ts words it in English, for the console and
 * the API) in the page's language; a message not known here stays as it is.
 */
const REFUSALS: [RegExp, (t: Translate) => string][] = [
  [/^The URL must have 1 to \d+ characters\.$/, (t) => t('account:orgWebhooks.errors.urlLength', { max: MAX_URL })],
  [/^The URL is not valid:/, (t) => t('account:orgWebhooks.errors.urlInvalid')],
  [/^The URL must start with https:\/\//, (t) => t('account:orgWebhooks.errors.urlScheme')],
  [/^The URL must not contain a user name or password/, (t) => t('account:orgWebhooks.errors.urlCredentials')],
  [/^The URL must not have a #fragment\.$/, (t) => t('account:orgWebhooks.errors.urlFragment')],
  [/^The URL needs a host name\.$/, (t) => t('account:orgWebhooks.errors.urlHost')],
  [/^The URL points to a private, loopback or link-local address/, (t) => t('account:orgWebhooks.errors.urlPrivate')],
  [/^The description has at most \d+ characters\.$/, (t) => t('account:orgWebhooks.errors.descriptionLength', { max: MAX_DESCRIPTION })],
  [/^Choose at least one event type from the list\.$/, (t) => t('account:orgWebhooks.errors.typesList')],
];
const refusalWords = (t: Translate, message: string): string => REFUSALS.find(([re]) => re.test(message))?.[1](t) ?? message.replace(/\.?$/, '.');

/** Why Tessera turned an endpoint off (webhooks/index.ts stores it in English), in the page's language. */
function disabledWords(t: Translate, reason: string): string {
  const failing = /^every delivery attempt failed for 24 hours \(event (.+)\)$/.exec(reason);
  return failing ? t('account:orgWebhooks.disabledFailing', { event: failing[1] }) : reason;
}
const href = (e: { id: string }, tail = '') => `${BASE}/${encodeURIComponent(e.id)}${tail}`;
const valuesOf = (e: WebhookEndpoint): Values => ({ url: e.url, description: e.description, types: e.types, enabled: e.enabled });

/** The form's values; a field sent twice (or as anything but text) is a refusal beside it. */
function readForm(ctx: Context, t: Translate): { values: Values; errors: FieldErrors } {
  const body = (ctx.request.body ?? {}) as Record<string, unknown>;
  const errors: FieldErrors = {};
  const text = (name: 'url' | 'description'): string => {
    const value = body[name];
    if (value === undefined) return '';
    if (typeof value === 'string') return value.trim();
    errors[name] = t('account:orgWebhooks.errors.oneValue');
    return '';
  };
  const on = (name: string) => body[name] === 'on';
  const values = { url: text('url'), description: text('description'), types: WEBHOOK_EVENT_TYPES.filter((t) => on(checkbox(t))), enabled: on('enabled') };
  if (!values.url) errors.url ??= t('account:orgWebhooks.errors.urlNeeded');
  if (!values.types.length) errors.types = t('account:orgWebhooks.errors.typesNeeded');
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
        if (account.organisationId) throw new UserFacingError(403, 'not_organisation_admin', 'Only your organisation\'s admins manage its webhooks. Ask one of them to add or change an endpoint.', { key: 'account:orgWebhooks.notAdmin' });
        throw new UserFacingError(404, 'no_organisation', 'There is no such page: organisation webhooks are for organisation admins, and your account does not belong to an organisation.', { key: 'account:orgWebhooks.noOrganisation' });
      }
      const ip = normalizeIp(ctx.ip);
      return { account, org, by: { organisationId: org.id, accountId: account.id, email: account.email, ...(ip ? { ip } : {}) } };
    }

    async function list(ctx: Context, org: Organisation, by: OrganisationAdmin, notice?: string, error?: string) {
      await ctx.render('account/org-webhooks', { title: tr(ctx)('account:orgWebhooks.title'), nav: NAV, organisation: org.name, endpoints: await deps.webhooks.list(by), notice, error });
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
        await list(ctx, admin.org, admin.by, undefined, tr(ctx)('account:orgWebhooks.notFound', { organisation: admin.org.name }));
        return undefined;
      }
    }

    async function form(ctx: Context, org: Organisation, by: OrganisationAdmin, endpoint: WebhookEndpoint | undefined, values: Values, fieldErrors: FieldErrors = {}, notice?: string) {
      const t = tr(ctx);
      await ctx.render('account/org-webhook', {
        title: endpoint ? t('account:orgWebhooks.endpoint') : t('account:orgWebhooks.newEndpoint'), nav: NAV, back: listLink(t), organisation: org.name, endpoint, values, fieldErrors, notice, types: typesIn(t),
        disabledReason: endpoint?.disabledReason ? disabledWords(t, endpoint.disabledReason) : undefined,
        csrf: ctx.state._csrf, reauthNeeded: await area.reauthNeeded(ctx), deliveries: endpoint ? await deps.webhooks.deliveries(by, endpoint.id) : [], href,
      });
    }

    const secretPage = (ctx: Context, shown: SecretShown, rotated: boolean) =>
      ctx.render('account/org-webhook-secret', { title: rotated ? tr(ctx)('account:orgWebhooks.secret.rotated') : tr(ctx)('account:orgWebhooks.secret.registered'), nav: NAV, back: listLink(tr(ctx)), endpoint: shown.endpoint, secret: shown.secret, rotated, href });

    /** A refusal of the webhooks module: the form again, the message beside its field; "not found" stays an error page. */
    function refusal(ctx: Context, err: unknown): FieldErrors {
      if (!(err instanceof DomainError) || err.kind === 'not_found') throw err;
      const at = (err as { field?: WebhookField }).field;
      return { [at && at !== 'organisationId' ? at : 'form']: tr(ctx)('account:orgWebhooks.errors.refused', { message: refusalWords(tr(ctx), err.message) }) };
    }

    const ACTIONS = {
      rotate: (t: Translate) => ({ title: t('account:orgWebhooks.rotate.title'), button: t('account:orgWebhooks.rotate.button'), question: t('account:orgWebhooks.rotate.question') }),
      delete: (t: Translate) => ({ title: t('account:orgWebhooks.delete.title'), button: t('account:orgWebhooks.delete.button'), question: t('account:orgWebhooks.delete.question') }),
    } as const;
    const confirmPage = async (ctx: Context, action: keyof typeof ACTIONS, endpoint: WebhookEndpoint, error?: string) =>
      ctx.render('account/org-webhook-confirm', {
        ...ACTIONS[action](tr(ctx)), nav: NAV, back: [href(endpoint), tr(ctx)('account:orgWebhooks.theEndpoint')], endpoint, action: href(endpoint, `/${action}`), cancel: href(endpoint),
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
      const { values, errors } = readForm(ctx, tr(ctx));
      if (!(await area.passwordConfirmed(ctx, admin.account))) errors.password = tr(ctx)('account:reauth.refused');
      if (Object.keys(errors).length) {
        ctx.status = 400;
        return form(ctx, admin.org, admin.by, undefined, values, errors);
      }
      let shown: SecretShown;
      try {
        shown = await deps.webhooks.create(admin.by, { url: values.url, description: values.description, types: values.types });
      } catch (err) {
        ctx.status = 400;
        return form(ctx, admin.org, admin.by, undefined, values, refusal(ctx, err));
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
      const { values, errors } = readForm(ctx, tr(ctx));
      if (!(await area.passwordConfirmed(ctx, admin.account))) errors.password = tr(ctx)('account:reauth.refused');
      if (Object.keys(errors).length) {
        ctx.status = 400;
        return form(ctx, admin.org, admin.by, endpoint, values, errors);
      }
      let saved: WebhookEndpoint;
      try {
        saved = await deps.webhooks.update(admin.by, endpoint.id, values);
      } catch (err) {
        ctx.status = 400;
        return form(ctx, admin.org, admin.by, endpoint, values, refusal(ctx, err));
      }
      await form(ctx, admin.org, admin.by, saved, valuesOf(saved), {}, saved.enabled ? tr(ctx)('account:orgWebhooks.saved') : tr(ctx)('account:orgWebhooks.savedOff'));
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
          return confirmPage(ctx, action, endpoint, tr(ctx)('account:reauth.refused'));
        }
        if (action === 'rotate') return secretPage(ctx, await deps.webhooks.rotateSecret(admin.by, endpoint.id), true);
        await deps.webhooks.remove(admin.by, endpoint.id);
        await list(ctx, admin.org, admin.by, tr(ctx)('account:orgWebhooks.deleted', { url: endpoint.url }));
      });
    }
  };
}
