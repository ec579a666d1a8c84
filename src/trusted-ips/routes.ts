// The trusted-IP pages (/account/security/ips): a signed-in person lists, adds, edits and deletes
// the addresses and ranges from which a routine second factor is skipped. Every change asks for
// the current password; bad input is answered on the same page, with nothing changed.
import { day, stamp } from '../i18n/format.ts';
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { AccountView } from '../accounts/store.ts';
import { field, tr, type AccountArea } from '../account/area.ts';
import type { Translate } from '../i18n/index.ts';
import { inRange, normalizeIp } from '../policy/ip-ranges.ts';
import type { IpSkip } from '../policy/trust.ts';
import { MAX_TRUSTED_IPS, SKIPPABLE, TrustedIpError, type TrustedIp, type TrustedIps } from './store.ts';

const MAX_RANGE = 64;
const MAX_ID = 32;
const MAX_SKIPS = 16;

const SKIP_LABELS: Partial<Record<IpSkip, string>> = {
  all: 'All second factors and the PIN',
  email: 'Emailed code',
  sms: 'Text message',
  voice: 'Call',
  totp: 'Authenticator app',
  webauthn: 'Security key',
  pin: 'PIN (after sign-in and screen lock)',
};
const skipLabel = (skip: IpSkip) => SKIP_LABELS[skip] ?? skip;

/** The same labels in the page's language: as a choice, and inside a sentence (the notices). */
const SKIP_WORDS: Partial<Record<IpSkip, (t: Translate) => [label: string, inSentence: string]>> = {
  all: (t) => [t('account:ips.skipLabels.all'), t('account:ips.skipWords.all')],
  email: (t) => [t('account:ips.skipLabels.email'), t('account:ips.skipWords.email')],
  sms: (t) => [t('account:ips.skipLabels.sms'), t('account:ips.skipWords.sms')],
  voice: (t) => [t('account:ips.skipLabels.voice'), t('account:ips.skipWords.voice')],
  totp: (t) => [t('account:ips.skipLabels.totp'), t('account:ips.skipWords.totp')],
  webauthn: (t) => [t('account:ips.skipLabels.webauthn'), t('account:ips.skipWords.webauthn')],
  pin: (t) => [t('account:ips.skipLabels.pin'), t('account:ips.skipWords.pin')],
};
const skipIn = (t: Translate, skip: IpSkip) => SKIP_WORDS[skip]?.(t) ?? [skipLabel(skip), skipLabel(skip).toLowerCase()];

/**
 * A refusal of the store (English, store.ts) in the page's language: its sentences are few and
 * fixed, so the page knows each by its shape; one it does not know shows as it is.
 */
function refusalWords(t: Translate, err: TrustedIpError, english: boolean): string {
  const { message } = err;
  if (english) return message;
  // the range parser's own reason (policy/ip-ranges.ts)
  if (err.said) return t(err.said.key, err.said.vars);
  const full = /^Your list is full \((\d+) entries\)/.exec(message);
  const duplicate = /^(.+) is already on your list\.$/.exec(message);
  const tooLong = /^An IP address or range is at most (\d+) characters\.$/.exec(message);
  if (message === 'There is no such entry on your list.') return t('account:ips.errors.noSuchEntry');
  if (message.startsWith('Choose which second factor')) return t('account:ips.errors.chooseSkips');
  if (full) return t('account:ips.errors.full', { max: full[1] });
  if (duplicate) return t('account:ips.errors.duplicate', { range: duplicate[1] });
  if (tooLong) return t('account:ips.errors.tooLong', { max: tooLong[1] });
  return t('account:ips.errors.invalidRange');
}

/**
 * What the page says: a confirmation, or why nothing was changed, beside the field or button whose
 * id is `at` (views/account/ips.ejs; at the top when the page has no such field).
 */
type Message = { notice: string } | { error: string; at: string };

/** A refused change shows its form again as it was sent: the add form, or the entry's forms opened. */
interface Retry {
  form: 'add' | 'edit' | 'delete';
  id: string | undefined;
  range: string;
  skips: string;
}


function entryView(t: Translate, entry: TrustedIp, clientIp: string | undefined, retry: Retry | undefined, zone: string | undefined, locale: string) {
  const open = retry !== undefined && retry.form !== 'add' && retry.id === entry.id;
  return {
    id: entry.id,
    open,
    form: open && retry.form === 'edit' ? { range: retry.range, skips: retry.skips } : { range: entry.cidr, skips: entry.skips as string },
    cidr: entry.cidr,
    skips: entry.skips,
    skipsLabel: skipIn(t, entry.skips)[0],
    created: day(entry.createdAt, zone, locale),
    changed: entry.updatedAt.getTime() !== entry.createdAt.getTime() ? stamp(entry.updatedAt, zone, locale) : undefined,
    here: clientIp !== undefined && inRange(clientIp, entry.cidr),
  };
}

/** The typed range, or a TrustedIpError when it is longer than any address or range can be. */
function rangeField(ctx: Context): string {
  const raw = (ctx.request.body as Record<string, unknown> | undefined)?.range;
  if (typeof raw === 'string' && raw.length > MAX_RANGE) throw new TrustedIpError(`An IP address or range is at most ${MAX_RANGE} characters.`);
  return field(ctx, 'range', MAX_RANGE);
}

/** The id of a form's field on the page: the add form's own, or one entry's (`range-<id>`). */
const fieldId = (retry: Retry, name: string) => (retry.form === 'add' ? name : `${name}-${retry.id ?? ''}`);
/** The id of a form's button: where a refusal of the whole form (not one field) stands. */
const buttonId = (retry: Retry) => (retry.form === 'add' ? 'add-ip' : `${retry.form === 'edit' ? 'save' : 'delete'}-${retry.id ?? ''}`);
const passwordId = (retry: Retry) => (retry.form === 'delete' ? `delete-password-${retry.id ?? ''}` : fieldId(retry, 'password'));

/** Which field a refusal concerns, by what it says: the skipped factor, the whole form, or the range. */
function fieldOf(retry: Retry, message: string): string {
  if (retry.form === 'delete' || message.startsWith('There is no such entry') || message.startsWith('Your list is full')) return buttonId(retry);
  if (message.startsWith('Choose which second factor')) return fieldId(retry, 'skips');
  return fieldId(retry, 'range');
}

const paramId = (ctx: Context) => (ctx as Context & { params?: Record<string, string> }).params?.id ?? '';

/** The entry id from the URL (ids are short base64url strings). */
function entryId(ctx: Context): string {
  const id = paramId(ctx);
  if (id.length > MAX_ID || !/^[\w-]+$/.test(id)) throw new TrustedIpError('There is no such entry on your list.');
  return id;
}

export function trustedIpRoutes(trustedIps: TrustedIps): (router: Router, area: AccountArea) => void {
  return (router, area) => {
    async function page(ctx: Context, account: AccountView, message?: Message, retry?: Retry) {
      const clientIp = normalizeIp(ctx.ip);
      const t = tr(ctx);
      const entries = (await trustedIps.list(account.id)).map((e) => entryView(t, e, clientIp, retry, account.profile.zoneinfo, ctx.state.locale as string));
      await ctx.render('account/ips', {
        title: t('account:nav.ips'), csrf: ctx.state._csrf,
        notice: message && 'notice' in message ? message.notice : undefined,
        refused: message && 'error' in message ? { message: message.error, at: message.at } : undefined,
        entries, max: MAX_TRUSTED_IPS, clientIp,
        choices: SKIPPABLE.map((id) => ({ id, label: skipIn(t, id)[0] })),
        add: retry?.form === 'add' ? retry : { range: clientIp ?? '', skips: 'all' },
      });
    }

    router.get('/security/ips', async (ctx) => {
      const account = await area.requireAccount(ctx);
      if (account) await page(ctx, account);
    });

    /** A change: signed in, the current password on the same form, and the store's verdict. */
    function change(path: string, form: Retry['form'], act: (ctx: Context, account: AccountView) => Promise<[english: string, said: string]>) {
      router.post(path, async (ctx) => {
        const account = await area.requireAccount(ctx);
        if (!account) return;
        const retry: Retry = { form, id: form === 'add' ? undefined : paramId(ctx), range: field(ctx, 'range', MAX_RANGE), skips: field(ctx, 'skips', MAX_SKIPS) };
        if (!(await area.passwordConfirmed(ctx, account))) {
          ctx.status = 400;
          await page(ctx, account, { error: tr(ctx)('account:password.wrongCurrent'), at: passwordId(retry) }, retry);
          return;
        }
        let notice: string;
        let said: string;
        try {
          [notice, said] = await act(ctx, account);
        } catch (err) {
          if (!(err instanceof TrustedIpError)) throw err;
          ctx.status = 400;
          const t = tr(ctx);
          await page(ctx, account, { error: `${refusalWords(t, err, ctx.state.locale === 'en')} ${t('account:ips.nothingChanged')}`, at: fieldOf(retry, err.message) }, retry);
          return;
        }
        // the audit log keeps English; the page says it in its language
        area.audit(ctx, account, 'trusted_ip.changed', notice);
        await page(ctx, account, { notice: said });
      });
    }

    change('/security/ips', 'add', async (ctx, account) => {
      const added = await trustedIps.add(account.id, rangeField(ctx), field(ctx, 'skips', MAX_SKIPS));
      return [`${added.cidr} was added (skips: ${skipLabel(added.skips).toLowerCase()}).`, tr(ctx)('account:ips.addedNotice', { range: added.cidr, skips: skipIn(tr(ctx), added.skips)[1] })];
    });

    change('/security/ips/:id', 'edit', async (ctx, account) => {
      const updated = await trustedIps.update(account.id, entryId(ctx), rangeField(ctx), field(ctx, 'skips', MAX_SKIPS));
      return [`${updated.cidr} was saved (skips: ${skipLabel(updated.skips).toLowerCase()}).`, tr(ctx)('account:ips.savedNotice', { range: updated.cidr, skips: skipIn(tr(ctx), updated.skips)[1] })];
    });

    change('/security/ips/:id/delete', 'delete', async (ctx, account) => {
      const removed = await trustedIps.remove(account.id, entryId(ctx));
      return [`${removed.cidr} was deleted from your list.`, tr(ctx)('account:ips.deletedNotice', { range: removed.cidr })];
    });
  };
}
