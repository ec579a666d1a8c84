// Console pages for organisations: the list with a create form, and one organisation's page —
// rename, members with their organisation-admin toggle, adding a member by email, and removing one
// (a confirmation with re-authentication).
import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type { AccountStore } from '../../accounts/store.ts';
import type { Organisation } from '../../orgs/store.ts';
import { statusOf } from '../../http/errors.ts';
import { AdminError, type AdminService } from '../types.ts';
import { actorOf } from './area.ts';
import { FormReader, sentence, done, idParam } from './forms.ts';
import { show, type Confirmation, type confirmations } from './pages.ts';

export function organisationRoutes(router: Router, gate: Middleware[], admin: AdminService, accounts: AccountStore, confirm: ReturnType<typeof confirmations>): void {
  const orgPath = (org: Organisation) => `/admin/organisations/${encodeURIComponent(org.id)}`;

  async function listPage(ctx: Context, values = { name: '' }, errors: string[] = []) {
    await show(ctx, 'organisations', { title: 'Organisations', organisations: await admin.organisations.list(), values, errors });
  }

  async function orgPage(ctx: Context, org: Organisation, form: { errors?: string[]; name?: string; email?: string } = {}) {
    // each member by id (the organisation lists them): email and name for the table
    const members = await Promise.all(org.members.map(async (id) => {
      const account = await accounts.findById(id);
      return { id, email: account?.email ?? '(deleted account)', name: account?.name ?? '', admin: org.admins.includes(id) };
    }));
    await show(ctx, 'organisation', { title: org.name, org, members, errors: form.errors ?? [], values: { name: form.name ?? org.name, email: form.email ?? '' } });
  }

  /** A 400/409 on one of the organisation page's forms: the page again, with the message. */
  async function refused(ctx: Context, org: Organisation, err: unknown, form: { name?: string; email?: string } = {}) {
    if (!(err instanceof AdminError) || err.kind === 'not_found') throw err;
    ctx.status = statusOf(err);
    await orgPage(ctx, await admin.organisations.get(org.id), { ...form, errors: [`${sentence(err.message)} Nothing was changed.`] });
  }

  router.get('/organisations', ...gate, async (ctx) => listPage(ctx));

  router.post('/organisations', ...gate, async (ctx) => {
    const f = new FormReader(ctx);
    const name = f.text('name', 'Name', 200);
    if (!name) f.problems.push('Give the organisation a name (up to 200 characters).');
    if (f.problems.length) {
      ctx.status = 400;
      return listPage(ctx, { name }, f.problems);
    }
    try {
      const org = await admin.organisations.create(actorOf(ctx), name);
      ctx.redirect(done(orgPath(org), 'org-created'));
    } catch (err) {
      if (!(err instanceof AdminError) || err.kind === 'not_found') throw err;
      ctx.status = statusOf(err);
      await listPage(ctx, { name }, [`${sentence(err.message)} No organisation was created.`]);
    }
  });

  router.get('/organisations/:id', ...gate, async (ctx) => {
    await orgPage(ctx, await admin.organisations.get(idParam(ctx, 'id', 'organisation')));
  });

  router.post('/organisations/:id', ...gate, async (ctx) => {
    const org = await admin.organisations.get(idParam(ctx, 'id', 'organisation'));
    const f = new FormReader(ctx);
    const name = f.text('name', 'Name', 200);
    try {
      if (f.problems.length || !name) throw new AdminError('invalid', 'invalid_request', f.problems[0] ?? 'Give the organisation a name (up to 200 characters).');
      await admin.organisations.rename(actorOf(ctx), org.id, name);
    } catch (err) {
      return refused(ctx, org, err, { name });
    }
    ctx.redirect(done(orgPath(org), 'org-renamed'));
  });

  const orgAdminConfirmation = (org: Organisation, email: string, action: string, hidden: Record<string, string>): Confirmation => ({
    title: `Make ${email} an organisation admin`,
    question: `An organisation admin of ${org.name} receives the new-device notices of every member.`,
    details: [['Organisation', org.name], ['Account', email]],
    action, button: 'Make organisation admin', cancel: orgPath(org), hidden,
  });

  // add a member by email (the account is found by its email, then set by id)
  router.post('/organisations/:id/members', ...gate, async (ctx) => {
    const org = await admin.organisations.get(idParam(ctx, 'id', 'organisation'));
    const f = new FormReader(ctx);
    const email = f.text('email', 'Email', 320);
    try {
      if (f.problems.length || !email) throw new AdminError('invalid', 'invalid_request', f.problems[0] ?? 'Give the email address of the account to add.');
      const account = await accounts.findByEmail(email);
      if (!account) throw new AdminError('invalid', 'unknown_account', `There is no account with the email ${email}.`);
      // making an organisation admin widens access: a confirmation with re-authentication first
      if (f.checked('admin') && !(await confirm.reauthenticated(ctx, orgAdminConfirmation(org, account.email, `/admin/organisations/${encodeURIComponent(org.id)}/members`, { email, admin: 'on' })))) return;
      await admin.organisations.setMember(actorOf(ctx), org.id, account.id, f.checked('admin'));
    } catch (err) {
      return refused(ctx, org, err, { email });
    }
    ctx.redirect(done(orgPath(org), 'member-set', 'members'));
  });

  // the organisation-admin toggle of one member
  router.post('/organisations/:id/members/:uid', ...gate, async (ctx) => {
    const org = await admin.organisations.get(idParam(ctx, 'id', 'organisation'));
    const accountId = idParam(ctx, 'uid', 'member');
    const f = new FormReader(ctx);
    const makeAdmin = f.choice('admin', 'Organisation admin', ['yes', 'no'] as const);
    try {
      if (!org.members.includes(accountId)) throw new AdminError('invalid', 'not_a_member', 'That account is not a member of this organisation.');
      if (!makeAdmin) throw new AdminError('invalid', 'invalid_request', 'Say whether the member is an organisation admin (yes or no).');
      if (makeAdmin === 'yes') {
        const member = await accounts.findById(accountId);
        if (!(await confirm.reauthenticated(ctx, orgAdminConfirmation(org, member?.email ?? accountId, `/admin/organisations/${encodeURIComponent(org.id)}/members/${encodeURIComponent(accountId)}`, { admin: 'yes' })))) return;
      }
      await admin.organisations.setMember(actorOf(ctx), org.id, accountId, makeAdmin === 'yes');
    } catch (err) {
      return refused(ctx, org, err);
    }
    ctx.redirect(done(orgPath(org), 'member-set', 'members'));
  });

  const removal = async (org: Organisation, accountId: string): Promise<Confirmation> => {
    if (!org.members.includes(accountId)) throw new AdminError('not_found', 'not_a_member', 'That account is not a member of this organisation.');
    const account = await accounts.findById(accountId);
    return {
      title: 'Remove a member',
      question: 'The account leaves the organisation (and stops being one of its admins). Its organisation admins no longer hear of its new devices.',
      details: [['Organisation', org.name], ['Member', account?.email ?? accountId]],
      action: `${orgPath(org)}/members/${encodeURIComponent(accountId)}/remove`, button: 'Remove the member', cancel: orgPath(org),
    };
  };

  router.get('/organisations/:id/members/:uid/remove', ...gate, async (ctx) => {
    const org = await admin.organisations.get(idParam(ctx, 'id', 'organisation'));
    await confirm.confirmPage(ctx, await removal(org, idParam(ctx, 'uid', 'member')));
  });
  router.post('/organisations/:id/members/:uid/remove', ...gate, async (ctx) => {
    const org = await admin.organisations.get(idParam(ctx, 'id', 'organisation'));
    const accountId = idParam(ctx, 'uid', 'member');
    if (!(await confirm.reauthenticated(ctx, await removal(org, accountId)))) return;
    await admin.organisations.removeMember(actorOf(ctx), org.id, accountId);
    ctx.redirect(done(orgPath(org), 'member-removed', 'members'));
  });
}
