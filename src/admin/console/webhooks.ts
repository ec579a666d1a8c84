// Console pages for webhook endpoints (README "Webhooks"): the list, the register form (the signing
// secret is shown once, on the result page), the edit form with the endpoint's delivery log, and
// the two destructive actions — rotating the secret and deleting — behind a confirmation with
// re-authentication.
import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { statusOf } from '../../http/errors.ts';
import { WEBHOOK_EVENT_LABELS, WEBHOOK_EVENT_TYPES, type WebhookEventType } from '../../webhooks/events.ts';
import type { WebhookField } from '../../webhooks/endpoints.ts';
import { AdminError, type AdminService, type SecretShown, type WebhookEndpoint } from '../types.ts';
import { actorOf } from './area.ts';
import { FormReader, sentence, done, idParam } from './forms.ts';
import { show, type Confirmation, type confirmations } from './pages.ts';

export interface WebhookFormValues {
  url: string;
  description: string;
  types: WebhookEventType[];
  organisationId: string;
  enabled: boolean;
}

const BLANK: WebhookFormValues = { url: '', description: '', types: [], organisationId: '', enabled: true };

/** The checkbox of an event type (no dots in form field names). */
const field = (type: WebhookEventType) => `type_${type.replace(/\./g, '_')}`;

const valuesOf = (e: WebhookEndpoint): WebhookFormValues =>
  ({ url: e.url, description: e.description, types: e.types, organisationId: e.organisationId ?? '', enabled: e.enabled });

/** Refusals beside their fields (url, description, types, organisationId); `form`: the rest, above the form. */
export type WebhookFormErrors = Partial<Record<WebhookField | 'form', string>>;

function readForm(ctx: Context, organisations: string[]) {
  const f = new FormReader(ctx);
  const errors: WebhookFormErrors = {};
  const values: WebhookFormValues = {
    url: f.text('url', 'URL', 2000),
    description: f.text('description', 'Description', 500),
    types: WEBHOOK_EVENT_TYPES.filter((t) => f.checked(field(t))),
    organisationId: f.choice('organisationId', 'Organisation', organisations),
    enabled: f.checked('enabled'),
  };
  // the reader's own refusals (a value sent twice, too long) name their field in the sentence
  if (f.problems.length) errors.form = f.problems.join(' ');
  if (!values.url) errors.url = 'Give the URL the events are sent to.';
  if (!values.types.length) errors.types = 'Choose at least one event type.';
  return { values, errors, refused: Object.keys(errors).length > 0 };
}

export function webhookRoutes(router: Router, gate: Middleware[], admin: AdminService, confirm: ReturnType<typeof confirmations>): void {
  const organisations = async () => (await admin.organisations.list()).map((o) => ({ id: o.id, name: o.name }));

  const form = async (ctx: Context, endpoint: WebhookEndpoint | undefined, values: WebhookFormValues, errors: WebhookFormErrors = {}) =>
    show(ctx, 'webhook', {
      title: endpoint ? 'Webhook endpoint' : 'New webhook endpoint', endpoint, values, fieldErrors: errors, error: errors.form, types: WEBHOOK_EVENT_TYPES.map((t) => ({ type: t, field: field(t), label: WEBHOOK_EVENT_LABELS[t] })),
      organisations: await organisations(), deliveries: endpoint ? await admin.webhooks.deliveries(endpoint.id) : [],
    });

  const secretPage = (ctx: Context, shown: SecretShown, rotated: boolean) =>
    show(ctx, 'webhook-secret', { title: 'Webhook signing secret', endpoint: shown.endpoint, secret: shown.secret, rotated });

  /** A 400 from the service on a form: the form again, with the message and the typed values. */
  async function refused(ctx: Context, err: unknown, endpoint: WebhookEndpoint | undefined, values: WebhookFormValues): Promise<void> {
    if (!(err instanceof AdminError) || err.kind === 'not_found') throw err;
    ctx.status = statusOf(err);
    const field = (err as { field?: WebhookField }).field;
    await form(ctx, endpoint, values, { [field ?? 'form']: `${sentence(err.message)} Nothing was saved.` });
  }

  router.get('/webhooks', ...gate, async (ctx) => {
    const names = new Map((await organisations()).map((o) => [o.id, o.name]));
    await show(ctx, 'webhooks', { title: 'Webhooks', endpoints: await admin.webhooks.list(), names });
  });

  router.get('/webhooks/new', ...gate, async (ctx) => form(ctx, undefined, BLANK));

  router.post('/webhooks', ...gate, async (ctx) => {
    const { values, errors, refused: invalid } = readForm(ctx, (await organisations()).map((o) => o.id));
    if (invalid) {
      ctx.status = 400;
      return form(ctx, undefined, values, errors);
    }
    let shown: SecretShown;
    try {
      shown = await admin.webhooks.create(actorOf(ctx), {
        url: values.url, description: values.description, types: values.types, ...(values.organisationId ? { organisationId: values.organisationId } : {}),
      });
    } catch (err) {
      return refused(ctx, err, undefined, values);
    }
    ctx.status = 201;
    await secretPage(ctx, shown, false);
  });

  router.get('/webhooks/:id', ...gate, async (ctx) => {
    const endpoint = await admin.webhooks.get(idParam(ctx, 'id', 'webhook endpoint'));
    await form(ctx, endpoint, valuesOf(endpoint));
  });

  router.post('/webhooks/:id', ...gate, async (ctx) => {
    const endpoint = await admin.webhooks.get(idParam(ctx, 'id', 'webhook endpoint'));
    const { values, errors, refused: invalid } = readForm(ctx, (await organisations()).map((o) => o.id));
    if (invalid) {
      ctx.status = 400;
      return form(ctx, endpoint, values, errors);
    }
    try {
      await admin.webhooks.update(actorOf(ctx), endpoint.id, {
        url: values.url, description: values.description, types: values.types, enabled: values.enabled, organisationId: values.organisationId || null,
      });
    } catch (err) {
      return refused(ctx, err, endpoint, values);
    }
    ctx.redirect(done(`/admin/webhooks/${encodeURIComponent(endpoint.id)}`, 'webhook-updated'));
  });

  const rotation = (e: WebhookEndpoint): Confirmation => ({
    title: 'Rotate the signing secret',
    question: 'A new secret is made and shown once. From now on every request — retries included — is signed with it only: give it to the receiver right away.',
    details: [['URL', e.url], ['Description', e.description || '—']],
    action: `/admin/webhooks/${encodeURIComponent(e.id)}/rotate`, button: 'Rotate the secret', cancel: `/admin/webhooks/${encodeURIComponent(e.id)}`,
  });
  const deletion = (e: WebhookEndpoint): Confirmation => ({
    title: 'Delete the webhook endpoint',
    question: 'No more events are sent to it, and its pending deliveries are dropped. This cannot be undone.',
    details: [['URL', e.url], ['Description', e.description || '—']],
    action: `/admin/webhooks/${encodeURIComponent(e.id)}/delete`, button: 'Delete the endpoint', cancel: `/admin/webhooks/${encodeURIComponent(e.id)}`,
  });

  router.get('/webhooks/:id/rotate', ...gate, async (ctx) => {
    await confirm.confirmPage(ctx, rotation(await admin.webhooks.get(idParam(ctx, 'id', 'webhook endpoint'))));
  });
  router.post('/webhooks/:id/rotate', ...gate, async (ctx) => {
    const endpoint = await admin.webhooks.get(idParam(ctx, 'id', 'webhook endpoint'));
    if (!(await confirm.reauthenticated(ctx, rotation(endpoint)))) return;
    await secretPage(ctx, await admin.webhooks.rotateSecret(actorOf(ctx), endpoint.id), true);
  });

  router.get('/webhooks/:id/delete', ...gate, async (ctx) => {
    await confirm.confirmPage(ctx, deletion(await admin.webhooks.get(idParam(ctx, 'id', 'webhook endpoint'))));
  });
  router.post('/webhooks/:id/delete', ...gate, async (ctx) => {
    const endpoint = await admin.webhooks.get(idParam(ctx, 'id', 'webhook endpoint'));
    if (!(await confirm.reauthenticated(ctx, deletion(endpoint)))) return;
    await admin.webhooks.remove(actorOf(ctx), endpoint.id);
    ctx.redirect(done('/admin/webhooks', 'webhook-deleted'));
  });
}
