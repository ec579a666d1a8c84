// Reading the console's forms and query strings without trusting them: every field is a plain
// string of bounded length (an array, an object or an over-long value is a named problem, never a
// crash), ids in paths are checked before any lookup, and the notices a page shows after a redirect
// come from a fixed table (a link cannot make the console say anything else).
import type { Context } from 'koa';
import { UserFacingError } from '../../http/errors.ts';
import { AdminError } from '../types.ts';

/** A form body read field by field; `problems` lists what was wrong, in words, for the page. */
export class FormReader {
  readonly problems: string[] = [];
  private readonly body: Record<string, unknown>;

  constructor(ctx: Context) {
    const body = ctx.request.body;
    this.body = body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
  }

  /** A text field ('' when absent); an array or a value over `max` characters is a problem. */
  text(name: string, label: string, max: number): string {
    const value = this.body[name];
    if (value === undefined) return '';
    if (typeof value !== 'string') {
      this.problems.push(`${label}: give one value.`);
      return '';
    }
    if (value.length > max) {
      this.problems.push(`${label} is too long (at most ${max} characters).`);
      return '';
    }
    return value.trim();
  }

  /** One entry a line (blank lines dropped), at most `maxLines`. */
  lines(name: string, label: string, maxLines = 20, maxLine = 2000): string[] {
    const lines = this.text(name, label, maxLines * (maxLine + 2)).split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
    if (lines.length > maxLines) this.problems.push(`${label}: at most ${maxLines} lines.`);
    if (lines.some((l) => l.length > maxLine)) this.problems.push(`${label}: a line is too long (at most ${maxLine} characters).`);
    return lines;
  }

  /** A checkbox: on when sent (any single value). */
  checked(name: string): boolean {
    const value = this.body[name];
    return typeof value === 'string' && value !== '' && value !== 'off';
  }

  /** One of `allowed` ('' when absent); anything else is a problem. */
  choice<T extends string>(name: string, label: string, allowed: readonly T[]): T | '' {
    const value = this.text(name, label, 200);
    if (value === '') return '';
    if (!(allowed as readonly string[]).includes(value)) {
      this.problems.push(`${label}: choose one of the listed values.`);
      return '';
    }
    return value as T;
  }
}

/** A query parameter: a single string of at most `max` characters; anything else is undefined. */
export function queryText(ctx: Context, name: string, max = 200): string | undefined {
  const value = ctx.query[name];
  return typeof value === 'string' && value.length <= max ? value.trim() : undefined;
}

/** An id from the path, checked before any lookup: too long or odd characters are "not found". */
export function idParam(ctx: Context, name: string, what: string): string {
  const value = (ctx.params as Record<string, string | undefined>)[name] ?? '';
  if (!/^[\w.:@-]{1,200}$/.test(value)) throw new AdminError('not_found', 'not_found', `There is no such ${what}.`);
  return value;
}

/** What a page says after a redirect (?done=<key>). */
const NOTICES: Record<string, string> = {
  'client-created': 'The client was created. It is a public client: it has no secret and uses PKCE.',
  'client-created-keys': 'The client was created. It authenticates with its own keys (private_key_jwt): it has no secret.',
  'client-updated': 'The client was saved.',
  'client-deleted': 'The client was deleted. Its tokens no longer work.',
  'user-created': 'The account was created with the password you gave.',
  'user-invited': 'The account was created and an invitation with a link to set a password was emailed.',
  'user-disable': 'The account was disabled: it cannot sign in, and its sessions were ended.',
  'user-enable': 'The account was enabled.',
  'user-lock': 'The account was locked: sign-ins fail until it is unlocked.',
  'user-unlock': 'The account was unlocked.',
  'user-reset-mfa': 'The second factors were reset: the account signs in with its password and sets up a second factor again.',
  'user-reset-password': 'The password was reset: an email with a link to set a new one was sent.',
  'role-set': 'The role was changed.',
  'profile-saved': 'The profile was saved. Applications receive it the next time they ask.',
  'phone-set': 'The phone number is set as verified. The person was emailed about it.',
  'org-joined': 'The account joined the organisation.',
  'device-unblock': 'The device was unblocked.',
  'device-remove': 'The device was removed.',
  'device-renamed': 'The device was renamed.',
  'flag-added': 'The flag was added.',
  'flag-removed': 'The flag was removed.',
  'org-created': 'The organisation was created.',
  'org-renamed': 'The organisation was renamed.',
  'member-set': 'The member was saved.',
  'member-removed': 'The member was removed from the organisation.',
  'webhook-updated': 'The webhook endpoint was saved.',
  'webhook-deleted': 'The webhook endpoint was deleted: nothing more is sent to it.',
  'recovery-approved': 'The recovery was approved: the person is told on every channel, and the second factors are reset when the waiting period is over (unless the person cancels).',
  'recovery-rejected': 'The recovery was rejected: the person is told, and nothing was changed.',
};

/** The notice named by ?done=, if it is one of ours. */
export function noticeOf(ctx: Context): string | undefined {
  const key = queryText(ctx, 'done', 40);
  return key && Object.hasOwn(NOTICES, key) ? NOTICES[key] : undefined;
}

/** `path` with ?done=<key> (and an optional #fragment). */
export function done(path: string, key: keyof typeof NOTICES & string, fragment?: string): string {
  if (!Object.hasOwn(NOTICES, key)) throw new Error(`no notice ${key}`);
  return `${path}?done=${key}${fragment ? `#${fragment}` : ''}`;
}

/** A module's message as a sentence: a first plain word capitalised, a full stop at the end. */
export function sentence(message: string): string {
  const text = message.trim();
  const capital = /^[a-z]+[ ,]/.test(text) ? text.charAt(0).toUpperCase() + text.slice(1) : text;
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

/** A 400 page for input the console cannot use at all (the form pages re-render instead). */
export function badRequest(message: string): UserFacingError {
  return new UserFacingError(400, 'invalid_request', message);
}
