// The contacts pages (/account/security/phones): list the account's numbers; add one and verify it
// by a code sent as a text or a call; make an Active mobile the primary number (after a
// confirmation page); change a number (verified again); delete one. Changes ask for the current
// password and email a notice; the primary number cannot be changed or deleted while sign-ins
// send their codes to it. Bad input is answered on the page, with nothing changed.
import type Router from '@koa/router';
import type { Context } from 'koa';
import { field, tr, type AccountArea } from '../account/area.ts';
import type { Translate } from '../i18n/index.ts';
import type { AccountView } from '../accounts/store.ts';
import type { Challenges, ChallengeState } from '../factors/challenges.ts';
import { createCodeFactor } from '../factors/code-factor.ts';
import { maskPhone } from '../factors/phone/index.ts';
import type { FactorPrompt } from '../factors/types.ts';
import type { CodeMessages } from '../notify/messages.ts';
import type { Transports } from '../notify/transports.ts';
import { displayNumber } from './numbers.ts';
import { codePrompt, phoneView, type Retry } from './views.ts';
import type { PhoneSendCheck } from '../limits/phone-caps.ts';
import { MAX_PHONES, noSuchPhone, PhoneError, primaryProblem, type Phone, type Phones } from './store.ts';
import type { ChangeSaid } from '../notify/messages.ts';

export interface PhoneRouteDeps {
  phones: Phones;
  challenges: Challenges;
  transports: Transports;
  messages: CodeMessages;
  /** The daily caps on texts and calls (a number being verified: per account, IP and number). */
  phoneSends: PhoneSendCheck;
  /** Whether the account has an authenticator app set up (it keeps the primary mobile in place). */
  appSetUp(accountId: string): Promise<boolean>;
  clock: () => Date;
  log: (line: string) => void;
}

type Channel = 'sms' | 'voice';
const PURPOSE = 'phone-verify';
const MAX_ID = 32;

/**
 * What the page says: a confirmation, or why nothing was changed, beside the field or button whose
 * id is `at` (views/account/phones.ejs; at the top when the page has no such field).
 */
type Message = { notice: string } | { error: string; at?: string };

const body = (ctx: Context) => (ctx.request.body ?? {}) as Record<string, unknown>;

/** The typed number: one string (its length and form are judged by the parser). */
function numberField(ctx: Context): string {
  const value = body(ctx).number;
  if (value !== undefined && typeof value !== 'string') throw new PhoneError('Enter one phone number.', 'invalid_number');
  return value ?? '';
}

/** The phone id from the URL (short base64url strings). */
function phoneId(ctx: Context): string {
  const id = (ctx as Context & { params?: Record<string, string> }).params?.id ?? '';
  if (id.length > MAX_ID || !/^[\w-]+$/.test(id)) throw noSuchPhone();
  return id;
}

/**
 * Why the primary number must stay as it is: sign-ins send their codes to it, or the
 * authenticator app depends on it (enabling the app needs a verified primary mobile, SPEC §5, and
 * that holds for as long as the app is set up: the number cannot be deleted or changed under it).
 */
function primaryInUse(t: Translate, account: AccountView, appSetUp: boolean): string | undefined {
  if (account.secondFactor === 'sms') return t('account:phones.turnOffSms');
  if (account.secondFactor === 'voice') return t('account:phones.turnOffVoice');
  if (appSetUp) return t('account:phones.appNeedsPhone');
  return undefined;
}

/** The values of a number parser's reason, a country code among them written as the country's name in `locale`. */
function withCountryName(vars: Record<string, string | number> | undefined, locale: string): Record<string, string | number> {
  if (typeof vars?.country !== 'string') return vars ?? {};
  let name = vars.country;
  try { name = new Intl.DisplayNames([locale], { type: 'region' }).of(vars.country) ?? name; } catch { /* as the parser wrote it */ }
  return { ...vars, country: name };
}

/**
 * A refusal in the page's language, from its code and values (store.ts); an English page keeps
 * the number parser's own words (what exactly is wrong with the typed number).
 */
function problemWords(t: Translate, err: PhoneError, locale: string): string {
  const number = String(err.vars.number ?? '');
  switch (err.code) {
    case 'invalid_number':
      if (err.message === 'Enter one phone number.') return t('account:phones.errors.enterOne');
      if (locale === 'en') return err.message;
      // the parser's own reason; a country it names ("FR") by the country's name in the page's language
      return err.said ? t(err.said.key, withCountryName(err.said.vars, locale)) : t('account:phones.errors.invalidNumber');
    case 'no_such_phone': return t('account:phones.errors.noSuchPhone');
    case 'duplicate_number': return t('account:phones.errors.duplicate', { number });
    case 'list_full': return t('account:phones.errors.listFull', { max: err.vars.max ?? MAX_PHONES });
    case 'number_changed': return t('account:phones.errors.numberChanged');
    case 'cannot_be_primary': return err.vars.notMobile ? t('account:phones.errors.notMobile', { number }) : t('account:phones.errors.verifyFirst', { number });
    case 'same_number': return t('account:phones.errors.sameNumber', { number });
    case 'invalid_channel': return t('account:phones.errors.chooseChannel');
    case 'landline': return t('account:phones.errors.landline', { number });
    case 'no_code': return t('account:phones.errors.noCode', { number });
    // primary_in_use carries primaryInUse's sentence, already in the page's language
    default: return err.message;
  }
}

/** The id of a form's current password field on the list page (views/account/phones.ejs). */
const passwordFieldOf = (retry: Retry) => (retry.form === 'add' ? 'password' : `${retry.form}-password-${retry.id ?? ''}`);

/** Which field of the refused form a refusal concerns: the typed number, or the form itself (its button). */
function fieldOf(retry: Retry, err: PhoneError): string {
  if (['invalid_number', 'duplicate_number', 'same_number'].includes(err.code) && retry.form !== 'delete') return retry.form === 'add' ? 'number' : `number-${retry.id ?? ''}`;
  return retry.form === 'add' ? 'add-phone' : `${retry.form}-${retry.id ?? ''}`;
}

export function phoneRoutes(deps: PhoneRouteDeps): (router: Router, area: AccountArea) => void {
  const { phones, challenges } = deps;

  const describe = (channel: Channel, number: string) =>
    channel === 'sms' ? `We texted a 6-digit code to ${displayNumber(number)}.` : `We are calling ${displayNumber(number)} to read out a 6-digit code.`;
  /** The same sentence's translation (interaction.json prompt.texted / prompt.called, as the sign-in pages say it). */
  const describeSaid = (channel: Channel, number: string) => ({ key: channel === 'sms' ? 'interaction:prompt.texted' : 'interaction:prompt.called', vars: { to: displayNumber(number) } });

  /** A code factor bound to this phone: the code goes to its number, by text or call. */
  const factorFor = (phone: Phone, channel: Channel) => createCodeFactor({
    id: channel, label: channel === 'sms' ? 'Text me a code' : 'Call me with a code',
    destination: async () => phone.number, unavailableReason: 'no number',
    allowSend: (to, c) => deps.phoneSends({ accountId: c.account.id, number: to, verified: phone.status === 'active', ...(c.ip ? { ip: c.ip } : {}) }),
    deliver: (to, code, minutes, purpose, c) => (channel === 'sms'
      ? deps.transports.sms(to, deps.messages.in(c.account.profile).smsCode(code, minutes, purpose))
      : deps.transports.voice(to, deps.messages.in(c.account.profile).voiceCode(code))),
    describe: (to) => describe(channel, to),
    said: (to) => describeSaid(channel, to),
  }, deps);

  /** The code belongs to this phone and the number it was sent to (a changed number needs a new one). */
  const scopeOf = (account: AccountView, phone: Phone, ip?: string) => ({ account, scope: `${phone.id}.${phones.tag(phone.number)}`, purpose: PURPOSE, ...(ip ? { ip } : {}) } as const);

  async function ownPhone(account: AccountView, ctx: Context): Promise<Phone> {
    const phone = await phones.get(account.id, phoneId(ctx));
    if (!phone) throw noSuchPhone();
    return phone;
  }

  /** The chosen channel; a landline can only be called. */
  function channelOf(value: unknown, phone: Phone): Channel {
    if (value !== 'sms' && value !== 'voice') throw new PhoneError('Choose how to get the code: a text message or a call.', 'invalid_channel');
    if (value === 'sms' && phone.type === 'landline') throw new PhoneError(`${displayNumber(phone.number)} is a landline and cannot receive text messages: choose a call.`, 'landline', { number: displayNumber(phone.number) });
    return value;
  }

  return (router, area) => {
    async function list(ctx: Context, account: AccountView, message?: Message, extra: { verify?: Phone; retry?: Retry } = {}) {
      const all = await phones.list(account.id);
      if (message && 'error' in message) ctx.status = 400;
      await ctx.render('account/phones', {
        title: tr(ctx)('account:nav.phones'), csrf: ctx.state._csrf, reauthNeeded: await area.reauthNeeded(ctx),
        notice: message && 'notice' in message ? message.notice : undefined,
        refused: message && 'error' in message ? { message: message.error, at: message.at } : undefined,
        phones: all.map((p) => phoneView(p, extra.retry, account.profile.zoneinfo, ctx.state.locale as string)), max: MAX_PHONES,
        verify: extra.verify && extra.verify.status === 'unverified' ? phoneView(extra.verify) : undefined,
        addNumber: extra.retry?.form === 'add' ? extra.retry.number : '',
        locked: primaryInUse(tr(ctx), account, await deps.appSetUp(account.id)),
      });
    }

    /** The code page; `error` (a typed code refused) stands beside the code field. */
    async function codePage(ctx: Context, phone: Phone, channel: Channel, prompt: FactorPrompt, error?: string) {
      if (error) ctx.status = 400;
      // a cap: nothing was sent (the page says so and offers only the way back)
      if (prompt.capped) ctx.status = 429;
      await ctx.render('account/phone-code', { title: tr(ctx)('account:phones.codeTitle'), csrf: ctx.state._csrf, phone: phoneView(phone), channel, prompt, error });
    }

    /** The confirmation page; `error` (the password refused) stands beside the password field. */
    async function primaryPage(ctx: Context, phone: Phone, error?: string) {
      if (error) ctx.status = 400;
      await ctx.render('account/phone-primary', { title: tr(ctx)('account:phones.primaryTitle'), csrf: ctx.state._csrf, phone: phoneView(phone), reauthNeeded: await area.reauthNeeded(ctx), error });
    }

    /** A page step: signed in; a refused step shows the list with the reason (400). */
    function step(method: 'get' | 'post', path: string, act: (ctx: Context, account: AccountView) => Promise<void>, retryOf?: (ctx: Context) => Retry) {
      router[method](path, async (ctx) => {
        const account = await area.requireAccount(ctx);
        if (!account) return;
        try {
          await act(ctx, account);
        } catch (err) {
          if (!(err instanceof PhoneError)) throw err;
          const retry = retryOf?.(ctx);
          const t = tr(ctx);
          await list(ctx, account, { error: `${problemWords(t, err, ctx.state.locale as string)} ${t('account:phones.nothingChanged')}`, ...(retry ? { at: fieldOf(retry, err) } : {}) }, retry ? { retry } : {});
        }
      });
    }

    /** A change: the current password (or a recent sign-in) first, then the act, then the notice email. */
    function change(path: string, form: Retry['form'], act: (ctx: Context, account: AccountView) => Promise<{ notice: string; email: string; emailSaid: ChangeSaid; verify?: Phone }>) {
      const retryOf = (ctx: Context): Retry => ({ form, id: form === 'add' ? undefined : (ctx as Context & { params?: Record<string, string> }).params?.id, number: field(ctx, 'number', 64) });
      step('post', path, async (ctx, account) => {
        if (!(await area.passwordConfirmed(ctx, account))) {
          const retry = retryOf(ctx);
          await list(ctx, account, { error: tr(ctx)('account:password.wrongCurrent'), at: passwordFieldOf(retry) }, { retry });
          return;
        }
        const done = await act(ctx, account);
        area.notify(ctx, account, done.email, 'phone.changed', done.emailSaid);
        await list(ctx, account, { notice: done.notice }, done.verify ? { verify: done.verify } : {});
      }, retryOf);
    }

    router.get('/security/phones', async (ctx) => {
      const account = await area.requireAccount(ctx);
      if (account) await list(ctx, account);
    });

    change('/security/phones', 'add', async (ctx, account) => {
      const { phone, reused } = await phones.add(account.id, numberField(ctx));
      const t = tr(ctx);
      if (reused) {
        return {
          notice: `${t('account:phones.addedReused', { number: displayNumber(phone.number) })}${phone.primary ? ` ${t('account:phones.isPrimary')}` : ''}`,
          email: `The phone number ${maskPhone(phone.number)} was added to your account (verified by your organisation).`,
          emailSaid: { key: 'email:securityChange.phoneAddedVerified', vars: { number: maskPhone(phone.number) } },
        };
      }
      return { notice: t('account:phones.addedVerify', { number: displayNumber(phone.number) }), email: `The phone number ${maskPhone(phone.number)} was added to your account.`,
        emailSaid: { key: 'email:securityChange.phoneAdded', vars: { number: maskPhone(phone.number) } }, verify: phone };
    });

    change('/security/phones/:id/change', 'change', async (ctx, account) => {
      const { phone, reused, previous } = await phones.change(account.id, phoneId(ctx), numberField(ctx), primaryInUse(tr(ctx), account, await deps.appSetUp(account.id)));
      const email = `The phone number ${maskPhone(previous.number)} was changed to ${maskPhone(phone.number)}.`;
      const emailSaid = { key: 'email:securityChange.phoneChanged', vars: { from: maskPhone(previous.number), to: maskPhone(phone.number) } };
      const numbers = { from: displayNumber(previous.number), to: displayNumber(phone.number) };
      if (reused) return { notice: tr(ctx)('account:phones.changedReused', numbers), email, emailSaid };
      return { notice: tr(ctx)('account:phones.changedVerify', numbers), email, emailSaid, verify: phone };
    });

    change('/security/phones/:id/delete', 'delete', async (ctx, account) => {
      const removed = await phones.remove(account.id, phoneId(ctx), primaryInUse(tr(ctx), account, await deps.appSetUp(account.id)));
      return { notice: tr(ctx)('account:phones.deleted', { number: displayNumber(removed.number) }), email: `The phone number ${maskPhone(removed.number)} was removed from your account.`,
        emailSaid: { key: 'email:securityChange.phoneRemoved', vars: { number: maskPhone(removed.number) } } };
    });

    // verification: choose text or call, enter the code (Resend as the sign-in codes have it)
    step('post', '/security/phones/:id/verify', async (ctx, account) => {
      const phone = await ownPhone(account, ctx);
      if (phone.status === 'active') return list(ctx, account, { notice: tr(ctx)('account:phones.alreadyVerified', { number: displayNumber(phone.number) }) });
      const channel = channelOf(body(ctx).channel, phone);
      await codePage(ctx, phone, channel, await factorFor(phone, channel).begin(scopeOf(account, phone, ctx.ip)));
    });

    /** The code sent to this phone by this channel as it stands, or a PhoneError when none was sent. */
    async function sent(account: AccountView, phone: Phone, channel: Channel): Promise<ChallengeState> {
      const { scope } = scopeOf(account, phone);
      const state = await challenges.peek(scope, PURPOSE, channel, account.id);
      if (!state) throw new PhoneError(`No code was sent to ${displayNumber(phone.number)} that way yet: choose "Text me a code" or "Call me".`, 'no_code', { number: displayNumber(phone.number) });
      return state;
    }

    step('get', '/security/phones/:id/code', async (ctx, account) => {
      const phone = await ownPhone(account, ctx);
      if (phone.status === 'active') return list(ctx, account, { notice: tr(ctx)('account:phones.alreadyVerified', { number: displayNumber(phone.number) }) });
      const channel = channelOf(ctx.query.channel, phone);
      await codePage(ctx, phone, channel, codePrompt(await sent(account, phone, channel), describe(channel, phone.number), deps.clock(), true, describeSaid(channel, phone.number)));
    });

    step('post', '/security/phones/:id/code', async (ctx, account) => {
      const phone = await ownPhone(account, ctx);
      if (phone.status === 'active') return list(ctx, account, { notice: tr(ctx)('account:phones.alreadyVerified', { number: displayNumber(phone.number) }) });
      const channel = channelOf(body(ctx).channel, phone);
      await sent(account, phone, channel);
      const result = await factorFor(phone, channel).verify(scopeOf(account, phone), field(ctx, 'code', 16));
      if (!result.ok) {
        const state = await sent(account, phone, channel);
        return codePage(ctx, phone, channel, codePrompt(state, describe(channel, phone.number), deps.clock(), false, describeSaid(channel, phone.number)), result.said ? tr(ctx)(result.said.key, result.said.vars) : result.message);
      }
      const verified = await phones.markVerified(account.id, phone.id, phone.number);
      area.notify(ctx, account, `The phone number ${maskPhone(verified.number)} was verified.`, 'phone.changed', { key: 'email:securityChange.phoneVerified', vars: { number: maskPhone(verified.number) } });
      await list(ctx, account, { notice: `${tr(ctx)('account:phones.verifiedActive', { number: displayNumber(verified.number) })}${verified.primary ? ` ${tr(ctx)('account:phones.verifiedPrimary')}` : ''}` });
    });

    step('post', '/security/phones/:id/resend', async (ctx, account) => {
      const phone = await ownPhone(account, ctx);
      if (phone.status === 'active') return list(ctx, account, { notice: tr(ctx)('account:phones.alreadyVerified', { number: displayNumber(phone.number) }) });
      const channel = channelOf(body(ctx).channel, phone);
      await codePage(ctx, phone, channel, await factorFor(phone, channel).resend!(scopeOf(account, phone, ctx.ip)));
    });

    // the primary number: a confirmation page, then the change with the password
    step('get', '/security/phones/:id/primary', async (ctx, account) => {
      const phone = await ownPhone(account, ctx);
      const problem = primaryProblem(phone);
      if (problem) throw new PhoneError(problem, 'cannot_be_primary', { number: displayNumber(phone.number), ...(phone.status === 'active' ? { notMobile: 1 } : {}) });
      if (phone.primary) return list(ctx, account, { notice: tr(ctx)('account:phones.alreadyPrimary', { number: displayNumber(phone.number) }) });
      await primaryPage(ctx, phone);
    });

    step('post', '/security/phones/:id/primary', async (ctx, account) => {
      const phone = await ownPhone(account, ctx);
      const problem = primaryProblem(phone);
      if (problem) throw new PhoneError(problem, 'cannot_be_primary', { number: displayNumber(phone.number), ...(phone.status === 'active' ? { notMobile: 1 } : {}) });
      if (phone.primary) return list(ctx, account, { notice: tr(ctx)('account:phones.alreadyPrimary', { number: displayNumber(phone.number) }) });
      if (field(ctx, 'confirm', 8) !== 'yes') return primaryPage(ctx, phone);
      if (!(await area.passwordConfirmed(ctx, account))) return primaryPage(ctx, phone, tr(ctx)('account:password.wrongCurrent'));
      const primary = await phones.setPrimary(account.id, phone.id);
      area.notify(ctx, account, `Your primary phone number is now ${maskPhone(primary.number)}.`, 'phone.changed', { key: 'email:securityChange.phonePrimary', vars: { number: maskPhone(primary.number) } });
      await list(ctx, account, { notice: tr(ctx)('account:phones.nowPrimary', { number: displayNumber(primary.number) }) });
    });
  };
}
