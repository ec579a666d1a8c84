// How console pages are rendered: every page gets the CSRF token, the signed-in admin and the
// notice/error slots; a destructive action's confirmation page (with re-authentication) is one
// template for all of them; an AdminError becomes a page with its status and message.
import type { Context, Next } from 'koa';
import { REAUTH_REFUSED } from '../../account/area.ts';
import { statusOf } from '../../http/errors.ts';
import { AdminError } from '../types.ts';
import type { AdminArea } from './area.ts';
import { noticeOf, sentence } from './forms.ts';

/** Renders views/admin/<view>.ejs with what every console page needs. */
export async function show(ctx: Context, view: string, locals: Record<string, unknown>): Promise<void> {
  await ctx.render(`admin/${view}`, {
    csrf: ctx.state._csrf, me: ctx.state.admin, section: ctx.path.split('/')[2] ?? '', notice: noticeOf(ctx), error: undefined, errors: [], ...locals,
  });
}

/** An AdminError from the service (or a bad id) as the console's error page with its status. */
export async function adminErrors(ctx: Context, next: Next): Promise<void> {
  try {
    await next();
  } catch (err) {
    if (!(err instanceof AdminError)) throw err;
    ctx.status = statusOf(err);
    await show(ctx, 'error', { title: err.kind === 'not_found' ? 'Not found' : 'Not done', message: sentence(err.message), code: err.code });
  }
}

/** A destructive action: what it does, where it posts, and where "Cancel" goes. */
export interface Confirmation {
  title: string;
  /** One sentence: what will happen. */
  question: string;
  /** What it is done to, as label/value lines. */
  details?: [string, string][];
  action: string;
  button: string;
  cancel: string;
  /** Extra hidden fields the POST carries. */
  hidden?: Record<string, string>;
}

export function confirmations(area: AdminArea) {
  async function confirmPage(ctx: Context, c: Confirmation, error?: string): Promise<void> {
    await show(ctx, 'confirm', { ...c, details: c.details ?? [], hidden: c.hidden ?? {}, reauthNeeded: await area.reauthNeeded(ctx), error });
  }
  return {
    confirmPage,
    /** Whether a form must carry the current password (no recent proof in this session). */
    reauthNeeded: (ctx: Context) => area.reauthNeeded(ctx),
    /** The form's own password field (no separate confirmation page): right, or recent enough. */
    passwordConfirmed: (ctx: Context) => area.passwordConfirmed(ctx),
    /** The POST's re-authentication: true to go on; false after re-rendering the confirmation with 400. */
    async reauthenticated(ctx: Context, c: Confirmation): Promise<boolean> {
      if (await area.passwordConfirmed(ctx)) return true;
      ctx.status = 400;
      await confirmPage(ctx, c, REAUTH_REFUSED);
      return false;
    },
  };
}
