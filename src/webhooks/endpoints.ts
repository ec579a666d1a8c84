// Webhook endpoints as administration manages them: register (URL, description, event types,
// optional organisation), edit, enable/disable, rotate the signing secret, delete, and read the
// delivery log. The secret (`whsec_` + base64 of 32 random bytes, Standard Webhooks) is returned
// only by create and rotate; it is stored sealed and never shown, logged or sent anywhere else.
// An organisation admin acts within a scope (the organisation's id): an endpoint of another
// organisation, or one for all accounts, is then "no such endpoint", and the scope never changes.
import { randomBytes } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import type { Sealer } from '../crypto/seal.ts';
import { DomainError } from '../domain-error.ts';
import { isWebhookEventType, type WebhookEventType } from './events.ts';
import type { AttemptDoc, EndpointDoc, WebhookStore } from './store.ts';
import { hostOf, isPublicAddress } from './transport.ts';

export interface WebhookEndpoint {
  id: string;
  url: string;
  description: string;
  types: WebhookEventType[];
  organisationId?: string;
  enabled: boolean;
  createdAt: Date;
  updatedAt: Date;
  lastSuccessAt?: Date;
  disabledAt?: Date;
  disabledReason?: string;
}

export interface WebhookInput {
  url: string;
  description?: string;
  types: WebhookEventType[];
  organisationId?: string;
  enabled?: boolean;
}

export type WebhookPatch = Partial<Omit<WebhookInput, 'organisationId'>> & { organisationId?: string | null };

/** One line of an endpoint's delivery log. */
export interface WebhookAttempt {
  messageId: string;
  type: WebhookEventType;
  attempt: number;
  at: Date;
  outcome: 'delivered' | 'failed' | 'interrupted' | 'in_progress';
  status?: number;
  error?: string;
  durationMs?: number;
}

export interface SecretShown {
  endpoint: WebhookEndpoint;
  /** Shown this once. */
  secret: string;
}

/** The form field a refusal is about (the console shows the message beside it). */
export type WebhookField = 'url' | 'description' | 'types' | 'organisationId';

export class WebhookError extends DomainError {
  override name = 'WebhookError';
  readonly field: WebhookField | undefined;
  constructor(message: string, field?: WebhookField) {
    super('invalid', 'invalid_webhook', message);
    this.field = field;
  }
}

export const MAX_URL = 2000;
export const MAX_DESCRIPTION = 500;
export const LOG_LIMIT = 50;
export const ENDPOINT_ID = /^whk_[\w-]{12,40}$/;

export interface EndpointSettings {
  allowHttp: boolean;
  allowPrivate: boolean;
}

/** What is wrong with an endpoint URL, or undefined. Host names are checked again, resolved, at every delivery. */
export function endpointUrlProblem(value: string, settings: EndpointSettings): string | undefined {
  if (typeof value !== 'string' || !value || value.length > MAX_URL) return `The URL must have 1 to ${MAX_URL} characters.`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'The URL is not valid: give an address such as https://siem.example.com/tessera.';
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && settings.allowHttp)) return 'The URL must start with https:// (http is allowed only when WEBHOOK_ALLOW_HTTP is on).';
  if (url.username || url.password) return 'The URL must not contain a user name or password: Tessera signs every request instead.';
  if (url.hash) return 'The URL must not have a #fragment.';
  const host = hostOf(url);
  if (!host) return 'The URL needs a host name.';
  const literal = ipaddr.isValid(host) || /^localhost\.?$/i.test(host) || /\.localhost\.?$/i.test(host);
  if (!settings.allowPrivate && literal && !(ipaddr.isValid(host) && isPublicAddress(host))) {
    return 'The URL points to a private, loopback or link-local address, which Tessera does not call (WEBHOOK_ALLOW_PRIVATE is off).';
  }
  return undefined;
}

export const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;
const sealContext = (id: string) => `tessera:webhook-secret:${id}`;

export function view(doc: EndpointDoc): WebhookEndpoint {
  return {
    id: doc._id, url: doc.url, description: doc.description ?? '', types: doc.types, ...(doc.organisationId ? { organisationId: doc.organisationId } : {}),
    enabled: doc.enabled, createdAt: doc.createdAt, updatedAt: doc.updatedAt,
    ...(doc.lastSuccessAt ? { lastSuccessAt: doc.lastSuccessAt } : {}), ...(doc.disabledAt ? { disabledAt: doc.disabledAt } : {}),
    ...(doc.disabledReason ? { disabledReason: doc.disabledReason } : {}),
  };
}

/** What the audit log says about an endpoint (admin.webhook.*): never its secret. */
export const webhookAuditSubject = (e: Pick<WebhookEndpoint, 'id' | 'url'>) => ({ type: 'webhook' as const, id: e.id, label: e.url });
export const webhookAuditDetails = (e: Pick<WebhookEndpoint, 'id' | 'url' | 'types' | 'enabled' | 'organisationId'>) =>
  ({ id: e.id, url: e.url, types: [...e.types], enabled: e.enabled, organisationId: e.organisationId ?? null });

const logLine = (a: AttemptDoc): WebhookAttempt => ({
  messageId: a.messageId, type: a.type, attempt: a.attempt, at: a.startedAt, outcome: a.outcome ?? 'in_progress',
  ...(a.status !== undefined ? { status: a.status } : {}), ...(a.error ? { error: a.error } : {}), ...(a.durationMs !== undefined ? { durationMs: a.durationMs } : {}),
});

export interface EndpointDeps {
  store: WebhookStore;
  sealer: Sealer;
  settings: EndpointSettings;
  clock: () => Date;
  /** Whether an organisation exists (an endpoint may be scoped to one). */
  organisationExists(id: string): Promise<boolean>;
  /** After every change: the outbox writer's view of the endpoints is refreshed. */
  changed(): Promise<void>;
}

export function createWebhookEndpoints(deps: EndpointDeps) {
  const { store, sealer } = deps;

  const notFound = () => new DomainError('not_found', 'not_found', 'There is no such webhook endpoint.');

  /** The endpoint by id; with a scope, only one of that organisation. */
  async function find(id: string, scope?: string): Promise<EndpointDoc> {
    const doc = typeof id === 'string' && ENDPOINT_ID.test(id) ? await store.endpoints.get(id) : undefined;
    if (!doc || (scope !== undefined && doc.organisationId !== scope)) throw notFound();
    return doc;
  }
  /** The guard of a scoped write: the endpoint still belongs to the organisation when it is written. */
  const within = (scope: string | undefined) => (scope === undefined ? {} : { organisationId: scope });

  async function checked(input: WebhookPatch): Promise<void> {
    if (input.url !== undefined) {
      const problem = endpointUrlProblem(input.url, deps.settings);
      if (problem) throw new WebhookError(problem, 'url');
    }
    if (input.description !== undefined && (typeof input.description !== 'string' || input.description.length > MAX_DESCRIPTION)) {
      throw new WebhookError(`The description has at most ${MAX_DESCRIPTION} characters.`, 'description');
    }
    if (input.types !== undefined && (!Array.isArray(input.types) || !input.types.length || !input.types.every(isWebhookEventType))) {
      throw new WebhookError('Choose at least one event type from the list.', 'types');
    }
    if (input.organisationId && !(await deps.organisationExists(input.organisationId))) throw new WebhookError('There is no such organisation.', 'organisationId');
  }

  return {
    async list(): Promise<WebhookEndpoint[]> {
      return (await store.endpoints.all()).map(view);
    },
    /** The endpoints of one organisation (its admins' page). */
    async listOf(organisationId: string): Promise<WebhookEndpoint[]> {
      return (await store.endpoints.all()).filter((e) => e.organisationId === organisationId).map(view);
    },
    get: async (id: string, scope?: string) => view(await find(id, scope)),
    /** The endpoint's secret, opened (the delivery worker only). */
    secretOf: (doc: EndpointDoc) => sealer.open(doc.secret, sealContext(doc._id)),
    async create(input: WebhookInput): Promise<SecretShown> {
      await checked(input);
      const now = deps.clock();
      const id = `whk_${randomBytes(12).toString('base64url')}`;
      const secret = newSecret();
      const doc: EndpointDoc = {
        _id: id, url: input.url, description: (input.description ?? '').trim(), types: [...new Set(input.types)],
        ...(input.organisationId ? { organisationId: input.organisationId } : {}),
        enabled: input.enabled ?? true, secret: sealer.seal(secret, sealContext(id)), createdAt: now, updatedAt: now,
      };
      await store.endpoints.insert(doc);
      await deps.changed();
      return { endpoint: view(doc), secret };
    },
    async update(id: string, patch: WebhookPatch, scope?: string): Promise<{ endpoint: WebhookEndpoint; changed: string[] }> {
      await find(id, scope);
      if (scope !== undefined && patch.organisationId !== undefined) throw new WebhookError('An organisation\'s endpoint stays with its organisation.', 'organisationId');
      await checked(patch);
      const set: Partial<EndpointDoc> = { updatedAt: deps.clock() };
      const unset: (keyof EndpointDoc)[] = [];
      if (patch.url !== undefined) set.url = patch.url;
      if (patch.description !== undefined) set.description = patch.description.trim();
      if (patch.types !== undefined) set.types = [...new Set(patch.types)];
      if (patch.organisationId) set.organisationId = patch.organisationId;
      else if (patch.organisationId === null) unset.push('organisationId');
      if (patch.enabled === true) {
        set.enabled = true;
        unset.push('disabledAt', 'disabledReason');
      } else if (patch.enabled === false) {
        set.enabled = false;
        set.disabledAt = deps.clock();
        unset.push('disabledReason');
      }
      const updated = await store.endpoints.change(id, set, unset, within(scope));
      if (!updated) throw notFound();
      await deps.changed();
      return { endpoint: view(updated), changed: Object.keys(patch) };
    },
    /** A new secret at once: the old one no longer signs anything, retries included. */
    async rotateSecret(id: string, scope?: string): Promise<SecretShown> {
      await find(id, scope);
      const secret = newSecret();
      const updated = await store.endpoints.change(id, { secret: sealer.seal(secret, sealContext(id)), updatedAt: deps.clock() }, [], within(scope));
      if (!updated) throw notFound();
      return { endpoint: view(updated), secret };
    },
    async remove(id: string, scope?: string): Promise<WebhookEndpoint> {
      const doc = await find(id, scope);
      await store.endpoints.remove(id);
      await deps.changed();
      return view(doc);
    },
    async deliveries(id: string, scope?: string): Promise<WebhookAttempt[]> {
      await find(id, scope);
      return (await store.attempts.forEndpoint(id, LOG_LIMIT)).map(logLine);
    },
  };
}

export type WebhookEndpoints = ReturnType<typeof createWebhookEndpoints>;
