// The console's audit log page: filters (dates, account by id or email, event type or family,
// outcome) read from the query string and checked, a table of events newest first, "Next" by
// cursor, and the same filters as a CSV download.
import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type { AccountStore } from '../../accounts/store.ts';
import { AUDIT_TYPES, type AuditEvent, type AuditFilter, type AuditOutcome } from '../../audit/events.ts';
import type { AdminService } from '../types.ts';
import { badRequest, queryText } from './forms.ts';
import { show } from './pages.ts';

const PAGE_SIZE = 50;
const OUTCOMES: readonly AuditOutcome[] = ['success', 'failure'];

/** Every family of event types ("admin.*", "admin.user.*", ...), then the types themselves. */
export const TYPE_CHOICES: readonly string[] = (() => {
  const families = new Set<string>();
  for (const type of AUDIT_TYPES) {
    const parts = type.split('.');
    for (let i = 1; i < parts.length; i++) families.add(`${parts.slice(0, i).join('.')}.*`);
  }
  return [...[...families].sort(), ...AUDIT_TYPES];
})();

/** The filters as typed (for the form and the links) and as the service takes them. */
interface Filters {
  values: { from: string; to: string; account: string; type: string; outcome: string };
  filter: Omit<AuditFilter, 'cursor' | 'limit'>;
  problems: string[];
}

const DAY = /^\d{4}-\d\d-\d\d$/;

function day(value: string, endOfDay: boolean): Date | undefined {
  if (!DAY.test(value)) return undefined;
  const date = new Date(`${value}T${endOfDay ? '23:59:59.999' : '00:00:00.000'}Z`);
  return Number.isNaN(date.getTime()) || date.toISOString().slice(0, 10) !== value ? undefined : date;
}

async function readFilters(ctx: Context, accounts: AccountStore): Promise<Filters> {
  const problems: string[] = [];
  const one = (name: string, label: string, max: number) => {
    const value = queryText(ctx, name, max);
    if (value === undefined && ctx.query[name] !== undefined) problems.push(`${label}: give one value of at most ${max} characters.`);
    return value ?? '';
  };
  const values = { from: one('from', 'From', 10), to: one('to', 'To', 10), account: one('account', 'Account', 320), type: one('type', 'Type', 80), outcome: one('outcome', 'Outcome', 10) };
  const filter: Filters['filter'] = {};
  if (values.from) {
    const from = day(values.from, false);
    if (from) filter.from = from;
    else problems.push('From: give a date as YYYY-MM-DD.');
  }
  if (values.to) {
    const to = day(values.to, true);
    if (to) filter.to = to;
    else problems.push('To: give a date as YYYY-MM-DD.');
  }
  if (filter.from && filter.to && filter.from > filter.to) problems.push('From is after To: no event can match.');
  if (values.account) {
    if (values.account.includes('@')) {
      // the account named by its email, then filtered by its id
      const account = await accounts.findByEmail(values.account);
      if (account) filter.accountId = account.id;
      else problems.push(`There is no account with the email ${values.account}.`);
    } else if (/^[\w-]{1,200}$/.test(values.account)) filter.accountId = values.account;
    else problems.push('Account: give an account id or an email address.');
  }
  if (values.type) {
    if (TYPE_CHOICES.includes(values.type)) filter.type = values.type;
    else problems.push('Type: choose one of the listed event types.');
  }
  if (values.outcome) {
    if ((OUTCOMES as readonly string[]).includes(values.outcome)) filter.outcome = values.outcome as AuditOutcome;
    else problems.push('Outcome: choose success or failure.');
  }
  return { values, filter, problems };
}

/** One event as the table shows it. */
export function row(e: AuditEvent) {
  return {
    ...e,
    when: e.at.toISOString().slice(0, 19).replace('T', ' '),
    by: [e.actor.type, e.actor.label ?? e.actor.id].filter(Boolean).join(': '),
    on: e.subject ? `${e.subject.type}: ${e.subject.label ?? e.subject.id}` : '',
    details: Object.entries(e.details ?? {}).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : String(v)}`).join(' · '),
  };
}

/**
 * The events as the tables show them, accounts named by their email (an event written without a
 * label names only the account id): one read per account on the page.
 */
export async function rows(events: AuditEvent[], accounts: AccountStore) {
  const ids = new Set<string>();
  for (const e of events) {
    if (e.actor.type === 'user' && e.actor.id && !e.actor.label) ids.add(e.actor.id);
    if (e.subject?.type === 'account' && !e.subject.label && e.subject.id !== '-') ids.add(e.subject.id);
    if (e.accountId) ids.add(e.accountId);
  }
  const emails = new Map<string, string>();
  await Promise.all([...ids].map(async (id) => {
    const account = await accounts.findById(id);
    if (account) emails.set(id, account.email);
  }));
  return events.map((e) => {
    const named: AuditEvent = {
      ...e,
      actor: e.actor.type === 'user' && e.actor.id && !e.actor.label && emails.has(e.actor.id) ? { ...e.actor, label: emails.get(e.actor.id)! } : e.actor,
      ...(e.subject ? { subject: e.subject.type === 'account' && !e.subject.label && emails.has(e.subject.id) ? { ...e.subject, label: emails.get(e.subject.id)! } : e.subject } : {}),
    };
    return { ...row(named), accountEmail: e.accountId ? emails.get(e.accountId) : undefined };
  });
}

export function auditRoutes(router: Router, gate: Middleware[], admin: AdminService, accounts: AccountStore, clock: () => Date): void {
  const query = (values: Filters['values'], extra: Record<string, string> = {}) =>
    new URLSearchParams({ ...Object.fromEntries(Object.entries(values).filter(([, v]) => v)), ...extra }).toString();

  router.get('/audit', ...gate, async (ctx) => {
    const { values, filter, problems } = await readFilters(ctx, accounts);
    const cursor = queryText(ctx, 'cursor', 1000);
    if (cursor === undefined && ctx.query.cursor !== undefined) problems.push('That page link is not valid: start from the first page.');
    const locals = { title: 'Audit log', values, types: TYPE_CHOICES, outcomes: OUTCOMES, exportLink: `/admin/audit/export?${query(values)}` };
    if (problems.length) {
      ctx.status = 400;
      return show(ctx, 'audit', { ...locals, events: [], next: undefined, errors: problems, paged: false });
    }
    const page = await admin.audit.query({ ...filter, ...(cursor ? { cursor } : {}), limit: PAGE_SIZE });
    await show(ctx, 'audit', {
      ...locals, events: await rows(page.items, accounts), paged: !!cursor,
      next: page.next ? `/admin/audit?${query(values, { cursor: page.next })}` : undefined,
    });
  });

  router.get('/audit/export', ...gate, async (ctx) => {
    const { filter, problems } = await readFilters(ctx, accounts);
    if (problems.length) throw badRequest(`The export was not made: ${problems.join(' ')}`);
    const csv = await admin.audit.csv(filter);
    ctx.type = 'text/csv; charset=utf-8';
    ctx.attachment(`tessera-audit-${clock().toISOString().slice(0, 10)}.csv`);
    ctx.body = csv;
  });
}
