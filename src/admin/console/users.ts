// Console pages for accounts and their devices: search with paging, a new account (invited, or
// with an initial password), and one account's page — details, actions, role, organisation, and
// every device with its state, flags and full history. Disabling, locking, resetting the second
// factors or the password, and removing a device go through a confirmation with re-authentication.
import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type { Role } from '../../accounts/store.ts';
import type { Device } from '../../devices/registry.ts';
import { statusOf } from '../../http/errors.ts';
import { AdminError, type AdminService, type AdminUser, type UserAction } from '../types.ts';
import { actorOf } from './area.ts';
import { FormReader, sentence, badRequest, done, idParam, queryText } from './forms.ts';
import { show, type Confirmation, type confirmations } from './pages.ts';
import type { AssistedRecovery } from '../../recovery/service.ts';
import { recoveryView } from './recoveries.ts';
import type { SignInHistory } from '../../sessions/history.ts';
import { describeLocation } from '../../devices/client-info.ts';
import { displayNumber } from '../../phones/numbers.ts';
import { PROFILE_FIELDS, profileForm, userProfileRoutes, type PageForms } from './user-profile.ts';

const PAGE_SIZE = 25;
const ROLES: readonly Role[] = ['user', 'admin'];

/**
 * The account actions and whether each needs a confirmation with re-authentication: every one
 * that takes access away, and every one that gives it back (enable, unlock), as a role change does.
 */
const USER_ACTIONS: Record<UserAction, { label: string; destructive: boolean; question?: string }> = {
  disable: { label: 'Disable', destructive: true, question: 'The account can no longer sign in, and its sessions end now. You can enable it again later.' },
  enable: { label: 'Enable', destructive: true, question: 'The account can sign in again with its password and second factors.' },
  lock: { label: 'Lock', destructive: true, question: 'Sign-ins to the account fail (as with a wrong password) until it is unlocked.' },
  unlock: { label: 'Unlock', destructive: true, question: 'Sign-ins to the account work again.' },
  'reset-mfa': { label: 'Reset second factors', destructive: true, question: 'The authenticator app, security keys and recovery codes are removed and two-factor sign-in is turned off. The person sets them up again.' },
  'reset-password': { label: 'Reset password', destructive: true, question: 'The current password stops working. The person receives an email with a link to set a new one.' },
};

const deviceName = (d: Device) => d.name || [d.browser, d.os].filter(Boolean).join(' on ') || 'Unnamed device';

export function userRoutes(router: Router, gate: Middleware[], admin: AdminService, confirm: ReturnType<typeof confirmations>, recoveries: AssistedRecovery, history: Pick<SignInHistory, 'page'>): void {
  async function userPage(ctx: Context, user: AdminUser, message: { errors?: string[] } & PageForms = {}) {
    const [devices, organisations, recovery, signIns, details, phones] = await Promise.all([
      admin.users.devices(user.id), admin.organisations.list(), recoveries.get(user.id), history.page(user.id, 0), admin.users.details(user.id), admin.users.phones(user.id),
    ]);
    await show(ctx, 'user', {
      // the standard claims (as saved, or as typed with the problems beside them) and the phone numbers
      profile: message.profile ?? profileForm(details), profileFields: PROFILE_FIELDS, phones: phones.map((p) => ({ ...p, display: displayNumber(p.number) })), phoneForm: message.phone ?? { value: '', primary: false },
      // the latest attempts, with what the adaptive sign-in asked for and why
      signIns: signIns.entries.map((e) => ({ when: e.at, result: e.result.replace(/_/g, ' '), ip: e.ip ?? '—', where: describeLocation(e.location), factors: e.factors.join(', '), ...(e.risk ? { risk: e.risk } : {}) })),
      title: user.email, user, devices, deviceName, organisations, actions: USER_ACTIONS, recovery: recovery ? recoveryView(recovery, recoveries.now()) : undefined,
      organisation: organisations.find((o) => o.id === user.organisationId && o.members.includes(user.id)), errors: message.errors ?? [],
    });
  }
  /** A problem with one of the user page's small forms: the page again, with the message (400). */
  async function userRefused(ctx: Context, user: AdminUser, err: unknown): Promise<void> {
    if (!(err instanceof AdminError) || err.kind === 'not_found') throw err;
    ctx.status = statusOf(err);
    await userPage(ctx, await admin.users.get(user.id), { errors: [`${sentence(err.message)} Nothing was changed.`] });
  }

  router.get('/users', ...gate, async (ctx) => {
    const q = queryText(ctx, 'q', 200);
    const cursor = queryText(ctx, 'cursor', 1000);
    if (q === undefined && ctx.query.q !== undefined) throw badRequest('The search is too long (at most 200 characters) or given twice.');
    const page = await admin.users.search({ ...(q ? { q } : {}), ...(cursor ? { cursor } : {}), limit: PAGE_SIZE });
    const next = page.next ? `/admin/users?${new URLSearchParams({ ...(q ? { q } : {}), cursor: page.next })}` : undefined;
    await show(ctx, 'users', { title: 'Users', users: page.items, q: q ?? '', next, paged: !!cursor });
  });

  const newForm = (ctx: Context, values: { email: string; name: string; role: string }, errors: string[] = []) =>
    show(ctx, 'user-new', { title: 'New user', values, errors });

  router.get('/users/new', ...gate, async (ctx) => newForm(ctx, { email: '', name: '', role: 'user' }));

  const adminCreation = (values: { email: string; name: string; role: string }): Confirmation => ({
    title: `Create the administrator ${values.email}`,
    question: 'The new account will be an administrator: it can use this console and the admin API, and change every account and client. It is invited by email and sets its own password.',
    details: [['Email', values.email], ['Name', values.name || '—'], ['Role', 'admin']],
    action: '/admin/users', button: 'Create the administrator', cancel: '/admin/users/new',
    hidden: { email: values.email, name: values.name, role: 'admin', confirmed: 'yes' },
  });

  router.post('/users', ...gate, async (ctx) => {
    const f = new FormReader(ctx);
    const values = { email: f.text('email', 'Email', 320), name: f.text('name', 'Name', 200), role: f.choice('role', 'Role', ROLES) || 'user' };
    const password = f.text('password', 'Initial password', 1024);
    if (!values.email) f.problems.push('Give the email address of the account.');
    if (f.problems.length) {
      ctx.status = 400;
      return newForm(ctx, values, f.problems);
    }
    // an administrator is made only after a confirmation with re-authentication, as a role change,
    // and is always invited: it sets its own password through the emailed link
    const makingAdmin = values.role === 'admin';
    if (makingAdmin && !f.checked('confirmed')) return confirm.confirmPage(ctx, adminCreation(values));
    if (makingAdmin && !(await confirm.reauthenticated(ctx, adminCreation(values)))) return;
    try {
      const { user, invited } = await admin.users.create(actorOf(ctx), {
        email: values.email, role: values.role as Role, ...(values.name ? { name: values.name } : {}), ...(password && !makingAdmin ? { password } : {}),
      });
      ctx.redirect(done(`/admin/users/${encodeURIComponent(user.id)}`, invited ? 'user-invited' : 'user-created'));
    } catch (err) {
      if (!(err instanceof AdminError) || err.kind === 'not_found') throw err;
      ctx.status = statusOf(err);
      await newForm(ctx, values, [`${sentence(err.message)} No account was created.`]);
    }
  });

  router.get('/users/:id', ...gate, async (ctx) => {
    await userPage(ctx, await admin.users.get(idParam(ctx, 'id', 'account')));
  });

  const userConfirmation = (user: AdminUser, action: UserAction): Confirmation => ({
    title: `${USER_ACTIONS[action].label}: ${user.email}`,
    question: USER_ACTIONS[action].question ?? '',
    details: [['Account', user.email], ['Name', user.name || '—'], ['Role', user.role]],
    action: `/admin/users/${encodeURIComponent(user.id)}/${action}`, button: USER_ACTIONS[action].label, cancel: `/admin/users/${encodeURIComponent(user.id)}`,
  });

  for (const action of Object.keys(USER_ACTIONS) as UserAction[]) {
    if (USER_ACTIONS[action].destructive) {
      router.get(`/users/:id/${action}`, ...gate, async (ctx) => {
        await confirm.confirmPage(ctx, userConfirmation(await admin.users.get(idParam(ctx, 'id', 'account')), action));
      });
    }
    router.post(`/users/:id/${action}`, ...gate, async (ctx) => {
      const user = await admin.users.get(idParam(ctx, 'id', 'account'));
      if (USER_ACTIONS[action].destructive && !(await confirm.reauthenticated(ctx, userConfirmation(user, action)))) return;
      try {
        await admin.users.act(actorOf(ctx), user.id, action);
      } catch (err) {
        return userRefused(ctx, user, err);
      }
      ctx.redirect(done(`/admin/users/${encodeURIComponent(user.id)}`, `user-${action}`));
    });
  }

  const roleConfirmation = (user: AdminUser, role: Role): Confirmation => ({
    title: `Change the role of ${user.email}`,
    question: role === 'admin'
      ? 'The account becomes an administrator: it can use this console and the admin API, and change every account and client.'
      : 'The account stops being an administrator.',
    details: [['Account', user.email], ['Role now', user.role], ['New role', role]],
    action: `/admin/users/${encodeURIComponent(user.id)}/role`, button: 'Change the role', cancel: `/admin/users/${encodeURIComponent(user.id)}`, hidden: { role },
  });

  // a role change is confirmed with re-authentication too: it hands out (or takes away) this console
  router.post('/users/:id/role', ...gate, async (ctx) => {
    const user = await admin.users.get(idParam(ctx, 'id', 'account'));
    const f = new FormReader(ctx);
    const role = f.choice('role', 'Role', ROLES);
    if (!role) {
      ctx.status = 400;
      return userPage(ctx, user, { errors: [...f.problems, 'Choose a role (user or admin). Nothing was changed.'].slice(0, 1) });
    }
    if (f.checked('confirmed')) {
      if (!(await confirm.reauthenticated(ctx, roleConfirmation(user, role)))) return;
      try {
        await admin.users.setRole(actorOf(ctx), user.id, role);
      } catch (err) {
        return userRefused(ctx, user, err);
      }
      ctx.redirect(done(`/admin/users/${encodeURIComponent(user.id)}`, 'role-set'));
      return;
    }
    await confirm.confirmPage(ctx, { ...roleConfirmation(user, role), hidden: { role, confirmed: 'yes' } });
  });

  router.post('/users/:id/organisation', ...gate, async (ctx) => {
    const user = await admin.users.get(idParam(ctx, 'id', 'account'));
    const organisationId = new FormReader(ctx).text('organisationId', 'Organisation', 200);
    if (!organisationId) {
      ctx.status = 400;
      return userPage(ctx, user, { errors: ['Choose an organisation. Nothing was changed.'] });
    }
    try {
      await admin.organisations.setMember(actorOf(ctx), organisationId, user.id, false);
    } catch (err) {
      return userRefused(ctx, user, err instanceof AdminError && err.kind === 'not_found' ? new AdminError('invalid', err.code, err.message) : err);
    }
    ctx.redirect(done(`/admin/users/${encodeURIComponent(user.id)}`, 'org-joined'));
  });

  // devices: every change returns to the owner's page, at the device
  const back = (device: Device, key: string) => done(`/admin/users/${encodeURIComponent(device.accountId)}`, key, `device-${device.id}`);
  async function deviceRefused(ctx: Context, device: Device, err: unknown): Promise<void> {
    return userRefused(ctx, await admin.users.get(device.accountId), err);
  }

  const removal = (device: Device, owner: AdminUser): Confirmation => ({
    title: 'Remove the device',
    question: 'The browser is forgotten for this account: its trust ends and its next sign-in counts as a new device.',
    details: [['Device', deviceName(device)], ['Account', owner.email], ['State', device.state], ['Last used', device.lastUsedAt ? device.lastUsedAt.toISOString().slice(0, 16).replace('T', ' ') + ' UTC' : '—']],
    action: `/admin/devices/${encodeURIComponent(device.id)}/remove`, button: 'Remove the device', cancel: `/admin/users/${encodeURIComponent(owner.id)}#device-${device.id}`,
  });

  router.get('/devices/:id/remove', ...gate, async (ctx) => {
    const device = await admin.devices.get(idParam(ctx, 'id', 'device'));
    await confirm.confirmPage(ctx, removal(device, await admin.users.get(device.accountId)));
  });
  router.post('/devices/:id/remove', ...gate, async (ctx) => {
    const device = await admin.devices.get(idParam(ctx, 'id', 'device'));
    if (!(await confirm.reauthenticated(ctx, removal(device, await admin.users.get(device.accountId))))) return;
    try {
      await admin.devices.act(actorOf(ctx), device.id, 'remove');
    } catch (err) {
      return deviceRefused(ctx, device, err);
    }
    ctx.redirect(back(device, 'device-remove'));
  });

  const unblocking = (device: Device, owner: AdminUser): Confirmation => ({
    title: 'Unblock the device',
    question: 'The browser may sign in to this account again; it was blocked after failed attempts.',
    details: [['Device', deviceName(device)], ['Account', owner.email], ['State', device.state]],
    action: `/admin/devices/${encodeURIComponent(device.id)}/unblock`, button: 'Unblock the device', cancel: `/admin/users/${encodeURIComponent(owner.id)}#device-${device.id}`,
  });
  router.get('/devices/:id/unblock', ...gate, async (ctx) => {
    const device = await admin.devices.get(idParam(ctx, 'id', 'device'));
    await confirm.confirmPage(ctx, unblocking(device, await admin.users.get(device.accountId)));
  });
  router.post('/devices/:id/unblock', ...gate, async (ctx) => {
    const device = await admin.devices.get(idParam(ctx, 'id', 'device'));
    if (!(await confirm.reauthenticated(ctx, unblocking(device, await admin.users.get(device.accountId))))) return;
    try {
      await admin.devices.act(actorOf(ctx), device.id, 'unblock');
    } catch (err) {
      return deviceRefused(ctx, device, err);
    }
    ctx.redirect(back(device, 'device-unblock'));
  });

  router.post('/devices/:id/rename', ...gate, async (ctx) => {
    const device = await admin.devices.get(idParam(ctx, 'id', 'device'));
    const f = new FormReader(ctx);
    const name = f.text('name', 'Device name', 64);
    try {
      if (f.problems.length || !name) throw new AdminError('invalid', 'invalid_request', f.problems[0] ?? 'Give the device a name (up to 64 characters).');
      await admin.devices.rename(actorOf(ctx), device.id, name);
    } catch (err) {
      return deviceRefused(ctx, device, err);
    }
    ctx.redirect(back(device, 'device-renamed'));
  });

  userProfileRoutes(router, gate, admin, confirm, userPage);

  for (const change of ['add', 'remove'] as const) {
    router.post(change === 'add' ? '/devices/:id/flags' : '/devices/:id/flags/remove', ...gate, async (ctx) => {
      const device = await admin.devices.get(idParam(ctx, 'id', 'device'));
      const f = new FormReader(ctx);
      const flag = f.text('flag', 'Flag', 40);
      try {
        if (f.problems.length || !flag) throw new AdminError('invalid', 'invalid_request', f.problems[0] ?? 'Give the flag (up to 40 characters).');
        await admin.devices.flag(actorOf(ctx), device.id, change === 'add' ? { add: flag } : { remove: flag });
      } catch (err) {
        return deviceRefused(ctx, device, err);
      }
      ctx.redirect(back(device, change === 'add' ? 'flag-added' : 'flag-removed'));
    });
  }
}
