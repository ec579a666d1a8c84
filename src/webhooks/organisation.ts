// Webhook endpoints as an organisation admin manages them (security center, "Organisation"): the
// operations administration has (endpoints.ts), always within the admin's own organisation — a new
// endpoint is scoped to it, another organisation's or an all-accounts endpoint is "no such
// endpoint" — each change audited as the admin.webhook.* event administration records, with the
// person (type user) as actor. Whether the person administers the organisation is the caller's
// check, made on every request (orgs/store.ts administeredBy).
import type { AuditDetails, AuditSink, AuditType } from '../audit/events.ts';
import { DomainError } from '../domain-error.ts';
import {
  webhookAuditDetails, webhookAuditSubject,
  type SecretShown, type WebhookAttempt, type WebhookEndpoint, type WebhookEndpoints, type WebhookInput,
} from './endpoints.ts';

/** The organisation admin acting, and the organisation they act for. */
export interface OrganisationAdmin {
  organisationId: string;
  accountId: string;
  email: string;
  ip?: string;
}

export type OrganisationWebhookInput = Omit<WebhookInput, 'organisationId'>;
export type OrganisationWebhookPatch = Partial<OrganisationWebhookInput>;

export interface OrganisationWebhooksDeps {
  endpoints: WebhookEndpoints;
  audit: AuditSink;
}

export function createOrganisationWebhooks(deps: OrganisationWebhooksDeps) {
  const { endpoints } = deps;

  /** Runs a change and audits it (success, or failure with the refusal's code), as administration does. */
  async function audited<R>(by: OrganisationAdmin, type: AuditType, subject: ReturnType<typeof webhookAuditSubject>, work: () => Promise<{ result: R; details?: AuditDetails }>): Promise<R> {
    const base = {
      type, actor: { type: 'user' as const, id: by.accountId, label: by.email }, subject, accountId: by.accountId, ...(by.ip ? { ip: by.ip } : {}),
    };
    try {
      const { result, details } = await work();
      deps.audit.record({ ...base, outcome: 'success', details: { ...details, organisationId: by.organisationId } });
      return result;
    } catch (err) {
      deps.audit.record({
        ...base, outcome: 'failure',
        details: { error: err instanceof DomainError ? err.code : 'error', message: (err as Error).message, organisationId: by.organisationId },
      });
      throw err;
    }
  }

  return {
    list: (by: OrganisationAdmin): Promise<WebhookEndpoint[]> => endpoints.listOf(by.organisationId),
    get: (by: OrganisationAdmin, id: string): Promise<WebhookEndpoint> => endpoints.get(id, by.organisationId),
    deliveries: (by: OrganisationAdmin, id: string): Promise<WebhookAttempt[]> => endpoints.deliveries(id, by.organisationId),
    create(by: OrganisationAdmin, input: OrganisationWebhookInput): Promise<SecretShown> {
      return audited(by, 'admin.webhook.created', { type: 'webhook', id: '-', label: String(input.url) }, async () => {
        const shown = await endpoints.create({ url: input.url, types: input.types, ...(input.description !== undefined ? { description: input.description } : {}), organisationId: by.organisationId });
        return { result: shown, details: webhookAuditDetails(shown.endpoint) };
      });
    },
    async update(by: OrganisationAdmin, id: string, patch: OrganisationWebhookPatch): Promise<WebhookEndpoint> {
      const before = await endpoints.get(id, by.organisationId);
      return audited(by, 'admin.webhook.updated', webhookAuditSubject(before), async () => {
        const { url, description, types, enabled } = patch;
        const { endpoint, changed } = await endpoints.update(before.id, {
          ...(url !== undefined ? { url } : {}), ...(description !== undefined ? { description } : {}), ...(types !== undefined ? { types } : {}), ...(enabled !== undefined ? { enabled } : {}),
        }, by.organisationId);
        return { result: endpoint, details: { changed, ...webhookAuditDetails(endpoint) } };
      });
    },
    async rotateSecret(by: OrganisationAdmin, id: string): Promise<SecretShown> {
      const before = await endpoints.get(id, by.organisationId);
      // the secret itself is never part of the audit event
      return audited(by, 'admin.webhook.secret_rotated', webhookAuditSubject(before), async () => ({ result: await endpoints.rotateSecret(before.id, by.organisationId) }));
    },
    async remove(by: OrganisationAdmin, id: string): Promise<WebhookEndpoint> {
      const before = await endpoints.get(id, by.organisationId);
      return audited(by, 'admin.webhook.deleted', webhookAuditSubject(before), async () => ({
        result: await endpoints.remove(before.id, by.organisationId), details: webhookAuditDetails(before),
      }));
    },
  };
}

export type OrganisationWebhooks = ReturnType<typeof createOrganisationWebhooks>;
