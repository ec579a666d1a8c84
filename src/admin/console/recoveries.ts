// The console's assisted-recovery queue (/admin/recoveries): the open requests (read from the
// queue document, never a scan), and one request's page with the account, its recent sign-in
// history and the decision. Approving or rejecting needs a note (how the person's identity was
// confirmed out of band, or why not) and re-authentication, as every action that gives access back
// does; an admin cannot decide on their own account. Only administrators use the console (as for
// every other user action): organisation admins have no part in it.
import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { REAUTH_REFUSED } from '../../account/area.ts';
import type { SignInHistory } from '../../sessions/history.ts';
import type { AssistedRecovery } from '../../recovery/service.ts';
import type { Recovery } from '../../recovery/store.ts';
import { stageOf } from '../../policy/recovery.ts';
import { describeLocation } from '../../devices/client-info.ts';
import { AdminError, type AdminService } from '../types.ts';
import { adminOf } from './area.ts';
import { FormReader, done, idParam } from './forms.ts';
import { show, type confirmations } from './pages.ts';

const MAX_NOTE = 1000;
const DECISIONS = ['approve', 'reject'] as const;
type Decision = (typeof DECISIONS)[number];

const stamp = (d: Date | undefined) => (d ? `${new Date(d).toISOString().slice(0, 16).replace('T', ' ')} UTC` : '—');

/** A request in words for the pages (never the document: no cancel secret). */
export function recoveryView(r: Recovery, now: Date) {
  const stage = stageOf(r, now);
  const words: Record<string, string> = {
    waiting: 'waiting for a decision', cooling: `approved: second factors reset after ${stamp(r.resetAfter)}`, due: 'approved: waiting period over (reset at the next sign-in)',
  };
  const closed: Record<string, string> = { completed: 'completed: second factors reset', rejected: 'rejected', cancelled: 'cancelled by the person', approved: 'approved', requested: 'requested', resetting: 'resetting' };
  return {
    accountId: r.accountId, email: r.email, stage, status: words[stage] ?? closed[r.state] ?? r.state, requestedAt: stamp(r.requestedAt),
    from: `${r.from.browser} on ${r.from.os}, IP ${r.from.ip ?? 'unknown'} (${r.from.where})`, message: r.message ?? '',
    decidedBy: r.decidedBy?.label, decidedAt: r.decidedAt ? stamp(r.decidedAt) : undefined, note: r.note, resetAfter: r.resetAfter ? stamp(r.resetAfter) : undefined,
  };
}

export function recoveryRoutes(router: Router, gate: Middleware[], admin: AdminService, recovery: AssistedRecovery, history: SignInHistory, confirm: ReturnType<typeof confirmations>, clock: () => Date): void {
  router.get('/recoveries', ...gate, async (ctx) => {
    const open = (await recovery.queue()).map((r) => recoveryView(r, clock()));
    await show(ctx, 'recoveries', { title: 'Assisted recoveries', open });
  });

  async function page(ctx: Context, accountId: string, problems: Partial<Record<string, string>> = {}, notes: Partial<Record<Decision, string>> = {}) {
    const [user, request] = await Promise.all([admin.users.get(accountId), recovery.get(accountId)]);
    if (!request) throw new AdminError('not_found', 'not_found', 'This account has no recovery request.');
    const { entries } = await history.page(accountId, 0);
    await show(ctx, 'recovery', {
      title: `Assisted recovery: ${user.email}`, user, request: recoveryView(request, clock()), own: adminOf(ctx).id === accountId,
      history: entries.map((e) => ({ when: stamp(e.at), result: e.result.replace(/_/g, ' '), ip: e.ip ?? '—', where: describeLocation(e.location), browser: `${e.browser} on ${e.os}`, factors: e.factors.join(', ') })),
      reauthNeeded: await confirm.reauthNeeded(ctx), problems, notes, maxNote: MAX_NOTE,
    });
  }

  router.get('/recoveries/:id', ...gate, async (ctx) => {
    await page(ctx, idParam(ctx, 'id', 'account'));
  });

  for (const decision of DECISIONS) {
    router.post(`/recoveries/:id/${decision}`, ...gate, async (ctx) => {
      const accountId = idParam(ctx, 'id', 'account');
      const f = new FormReader(ctx);
      const note = f.text('note', 'Note', MAX_NOTE);
      const refuse = async (status: number, at: string, message: string) => {
        ctx.status = status;
        await page(ctx, accountId, { [at]: message }, { [decision]: note });
      };
      if (f.problems.length) return refuse(400, decision, `${f.problems[0]} Nothing was changed.`);
      if (!note) {
        return refuse(400, decision, decision === 'approve'
          ? 'Write how you confirmed the person\'s identity (for example: "called back on the number in the HR record"). Nothing was changed.'
          : 'Write why the request is rejected (the person is told it was not approved). Nothing was changed.');
      }
      if (adminOf(ctx).id === accountId) return refuse(409, decision, 'You cannot decide on a recovery of your own account: ask another administrator. Nothing was changed.');
      if (!(await confirm.passwordConfirmed(ctx))) return refuse(400, `${decision}-password`, REAUTH_REFUSED);
      const me = adminOf(ctx);
      const actor = { id: me.id, label: me.email, ip: ctx.ip };
      const changed = decision === 'approve' ? await recovery.approve(actor, accountId, note) : await recovery.reject(actor, accountId, note);
      if (!changed) return refuse(409, decision, 'This request is no longer waiting for a decision (another administrator decided, or the person cancelled it). Nothing was changed.');
      ctx.redirect(done(`/admin/recoveries/${encodeURIComponent(accountId)}`, decision === 'approve' ? 'recovery-approved' : 'recovery-rejected'));
    });
  }
}
