// "Forgot password?" on the sign-in page: a step of this interaction's flow record before the
// sign-in names its account. The person gives an email address and gets a 6-digit code by email
// (bound to the account and to this interaction, so to this browser); the answer, and the work
// and writes behind it, are the same whether or not the address has a usable account (an address
// without one gets a decoy code nobody receives). A reset never lowers the bar: an account with a
// second factor other than email proves it too (or a recovery code) before the new password is set.
// The new password follows the password policy; setting it ends every session and token of the
// account (back-channel logout), emails a notice and is audited; then the sign-in goes on from the
// proofs made here (the new password, the code, the factor) through the one decision.
import { createHash } from 'node:crypto';
import type Router from '@koa/router';
import type { Context } from 'koa';
import { AccountError, normalizeEmail, type AccountView } from '../accounts/store.ts';
import type { Challenges } from '../factors/challenges.ts';
import { ChallengeError } from '../factors/challenges.ts';
import { codeVerificationSaid, sendProblemSaid } from '../factors/code-messages.ts';
import type { FactorPrompt, Said } from '../factors/types.ts';
import type { Translate } from '../i18n/index.ts';
import { fieldProblemIn, ruleIn, ruleWords, saidOption } from './words.ts';
import { readerOf, type CodeMessages, type Reader } from '../notify/messages.ts';
import type { Transports } from '../notify/transports.ts';
import type { EndedSessions } from '../oidc/account-sessions.ts';
import type { Proof } from '../policy/sign-in.ts';
import type { PasswordRules } from '../policy/password.ts';
import { normalizeIp } from '../policy/ip-ranges.ts';
import { UserFacingError } from '../http/errors.ts';
import { alreadyDone, clientOf, details, field, flowOf, type Details, type InteractionDeps } from './context.ts';
import { beginSignIn } from './sign-in-flow.ts';
import type { PhoneSendCheck } from '../limits/phone-caps.ts';
import { attemptOf, clientOfRequest } from './device.ts';

/** A reset in progress (the flow record's `reset`). */
export interface PasswordReset {
  /** The address as typed. */
  email: string;
  /** Where the code goes: the address, or a text to the account's verified primary mobile (unset: email). */
  channel?: ResetChannel;
  /**
   * The account it names, when it has a usable one (not disabled, not locked) that can receive the
   * code on `channel` (a text: a verified primary mobile); unset otherwise.
   */
  accountId?: string;
  /** The account's security stamp when the reset began: a change since stops the reset. */
  stamp?: number;
  /** When it began (epoch ms): tells this reset from an earlier one in the same interaction. */
  startedAt: number;
  /** The code, then the second factor when the account has one. */
  proofs: Proof[];
  /** The new password was set (once). */
  done?: boolean;
}

export interface PasswordResetDeps {
  challenges: Challenges;
  messages: CodeMessages;
  transports: Transports;
  /** Every session, grant and token of the account (back-channel logout included). */
  endSessions(accountId: string): Promise<EndedSessions>;
  rules: PasswordRules;
  codeMinutes: number;
  /** The account's verified primary mobile (E.164), where a texted code goes. */
  verifiedPhone(account: { id: string; email: string }): Promise<string | undefined>;
  /** The daily caps on texts (limits/phone-caps.ts), as for the sms factor. */
  phoneSends: PhoneSendCheck;
  log(line: string): void;
}

export type ResetChannel = 'email' | 'sms';

const PURPOSE = 'password-reset';
const TITLE = 'Forgot password';
type Stage = 'email' | 'code' | 'factor' | 'password';
/** A refusal beside its field: sentences in the page's language, or their keys (the view translates them). */
interface Refused { at: string; messages: (string | Said)[] }

/** The code of an address without a usable account is bound to a stand-in derived from the address (no account id has this shape). */
const standIn = (email: string) => `~reset-${createHash('sha256').update(normalizeEmail(email)).digest('base64url').slice(0, 16)}`;
const holderOf = (reset: PasswordReset) => reset.accountId ?? standIn(reset.email);
const channelOf = (reset: PasswordReset): ResetChannel => reset.channel ?? 'email';
/** How the reset was proven, for the security notice in the account's language (literal keys: the translations test). */
const resetHow = (sms: boolean, secondStep: boolean): string => (sms
  ? (secondStep ? 'email:securityChange.resetBySmsAndStep' : 'email:securityChange.resetBySms')
  : (secondStep ? 'email:securityChange.resetByEmailAndStep' : 'email:securityChange.resetByEmail'));
/** The methods the reset's code proved (its channel, and for a text the same phone's calls): the second step is another one. */
const provenBy = (reset: PasswordReset): string[] => (channelOf(reset) === 'sms' ? ['sms', 'voice'] : ['email']);
/** Where a text without a verified mobile behind it is counted (never sent): the same cap work for every address. */
const NOWHERE = '+10000000000';
const sentence = (text: string) => `${text[0]!.toUpperCase()}${text.slice(1)}.`;
const stopped = () => new UserFacingError(409, 'account_changed', 'This password reset was stopped because the account changed meanwhile. Start again with "Forgot password?" on the sign-in page.', { key: 'interaction:errors.resetStopped' });

export function forgotPasswordRoutes(router: Router, deps: InteractionDeps): void {
  const reset = deps.passwordReset;
  const clock = deps.stepUp.clock;

  /** The account of the reset, usable and unchanged since the reset began; else the reset stops. */
  async function accountOfReset(r: PasswordReset & { accountId: string }): Promise<AccountView> {
    const account = await deps.accounts.findById(r.accountId);
    if (!account || account.disabled || account.locked || account.stamp !== r.stamp) throw stopped();
    return account;
  }

  /**
   * The second factors the account has besides the channel its reset code went to (recovery codes
   * included; after a texted code, email too): one must be proven too.
   */
  async function strongOptions(account: AccountView, r: PasswordReset) {
    const proven = provenBy(r);
    return (await deps.factors.options(account)).filter((o) => !proven.includes(o.id));
  }

  async function stageOf(r: PasswordReset): Promise<Exclude<Stage, 'email'>> {
    if (!r.accountId || !r.proofs.length) return 'code';
    const needsFactor = (await strongOptions(await accountOfReset(r as PasswordReset & { accountId: string }), r)).some((o) => o.availability.available);
    return needsFactor && r.proofs.length < 2 ? 'factor' : 'password';
  }

  async function render(ctx: Context, d: Details, stage: Stage, data: { email?: string; refused?: Refused; notice?: Said; status?: number; r?: PasswordReset; method?: string; prompt?: FactorPrompt }) {
    const { name } = await clientOf(deps, d);
    let extra: Record<string, unknown> = {};
    if (stage === 'factor') {
      const account = await accountOfReset(data.r as PasswordReset & { accountId: string });
      const options = await strongOptions(account, data.r!);
      const chosen = options.find((o) => o.id === data.method && o.availability.available) ?? options.find((o) => o.availability.available)!;
      const prompt = data.prompt ?? await deps.factors.get(chosen.id)!.begin({ account, scope: d.uid, purpose: PURPOSE, ip: ctx.ip });
      extra = { options: options.map(saidOption), method: chosen.id, prompt };
    }
    if (stage === 'password') extra = { rules: ruleWords(ctx.state.t as Translate, reset.rules) };
    ctx.status = data.status ?? (data.refused ? 400 : 200);
    await ctx.render('interaction/forgot-password', {
      title: TITLE, uid: d.uid, clientName: name, csrf: ctx.state._csrf, stage, email: data.email ?? data.r?.email ?? '',
      refused: data.refused, notice: data.notice, minutes: reset.codeMinutes, channel: data.r ? channelOf(data.r) : 'email', ...extra,
    });
  }

  /** Sends the code in the background (an address without an account gets nothing): the answer waits for no mail server. */
  function deliver(uid: string, r: PasswordReset, code: string | undefined, reader: Reader): void {
    if (!code || !r.accountId) return;
    void reset.messages.in(reader).passwordResetCode(r.email, code, reset.codeMinutes).then((email) => reset.transports.email(email))
      .catch(async (err: Error) => {
        reset.log(`[tessera] could not send a password reset code to account ${r.accountId}: ${err.message}`);
        await reset.challenges.undelivered(uid, PURPOSE, 'email').catch(() => {});
      });
  }

  /** A texted code's number: the same read for every address (a stand-in id where there is no usable account). */
  const phoneOf = (r: PasswordReset) => reset.verifiedPhone({ id: holderOf(r), email: r.email });

  /**
   * Sends the code by the reset's channel. A text counts on the daily caps of the number (as the
   * sms factor's do) for every address alike, a stand-in number where there is no verified mobile,
   * and goes in the background; at a cap nothing is sent, and the page says the same as ever.
   */
  async function send(uid: string, r: PasswordReset, code: string | undefined, phone: string | undefined, reader: Reader): Promise<void> {
    if (channelOf(r) === 'email') return deliver(uid, r, code, reader);
    const capped = await reset.phoneSends({ accountId: holderOf(r), number: phone ?? NOWHERE, verified: true }).then(() => false, (err: unknown) => {
      if (err instanceof ChallengeError) return true;
      throw err;
    });
    if (!code || !r.accountId || !phone || capped) return;
    void reset.transports.sms(phone, reset.messages.in(reader).smsCode(code, reset.codeMinutes, PURPOSE)).catch(async (err: Error) => {
      reset.log(`[tessera] could not text a password reset code to account ${r.accountId}: ${err.message}`);
      await reset.challenges.undelivered(uid, PURPOSE, 'sms').catch(() => {});
    });
  }

  /** The reset in progress on this page, at the stage the request is for, or a clear error. */
  async function pending(ctx: Context, stage: Exclude<Stage, 'email'>) {
    const d = await details(ctx, deps.provider, 'login');
    const flow = await flowOf(ctx, deps);
    const r = flow?.reset;
    if (!r) throw new UserFacingError(400, 'no_reset', 'No password reset is in progress here. Use "Forgot password?" on the sign-in page to start one.', { key: 'interaction:errors.noReset' });
    if (r.done) throw alreadyDone();
    const now = await stageOf(r);
    if (now !== stage) throw new UserFacingError(400, 'wrong_step', 'This step of the password reset is already done. Go back to the password reset page to go on.', { key: 'interaction:errors.resetStepDone' });
    return { d, r };
  }

  router.get('/forgot', async (ctx) => {
    const d = await details(ctx, deps.provider, 'login');
    const flow = await flowOf(ctx, deps);
    const r = flow?.reset;
    // the password is set: the sign-in goes on at its own page; a reset cut short after its claim
    // (the sign-in never began from it: no account named, no login ended) starts over (README "The crash rule")
    if (r?.done && (flow?.accountId || flow?.ended.includes('login'))) return ctx.redirect(`/interaction/${d.uid}`);
    if (!r || r.done || ctx.query.again) return render(ctx, d, 'email', { email: String(d.params.login_hint ?? '') });
    const method = typeof ctx.query.method === 'string' ? ctx.query.method.slice(0, 32) : undefined;
    await render(ctx, d, await stageOf(r), { r, ...(method ? { method } : {}) });
  });

  router.post('/forgot', async (ctx) => {
    const d = await details(ctx, deps.provider, 'login');
    const email = field(ctx, 'email', 320).trim();
    const channel: ResetChannel = field(ctx, 'channel', 8) === 'sms' ? 'sms' : 'email';
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) {
      return render(ctx, d, 'email', { email, refused: { at: 'email', messages: [{ key: 'interaction:forgot.badEmail' }] } });
    }
    // per address (with an account or not) and per client IP, before anything is read or made
    if (!(await deps.limits.resetAsked(normalizeEmail(email), clientOfRequest(ctx).ip ?? ctx.ip))) {
      return render(ctx, d, 'email', { email, status: 429, refused: { at: 'email', messages: [{ key: 'interaction:forgot.tooMany' }] } });
    }
    // the same reads for an address without an account; a disabled or locked account is treated as none
    const { account } = await deps.accounts.signInLookup(email);
    const usable = account && !account.disabled && !account.locked ? account : undefined;
    // a text: the same read of a verified mobile for every address; an account without one is treated as none
    const phone = channel === 'sms' ? await reset.verifiedPhone({ id: usable?.id ?? standIn(email), email }) : undefined;
    const target = channel === 'email' || phone ? usable : undefined;
    const r: PasswordReset = { email, channel, ...(target ? { accountId: target.id, stamp: target.stamp } : {}), startedAt: clock().getTime(), proofs: [] };
    await deps.flows.startReset(d.uid, r);
    const { code } = await reset.challenges.open(d.uid, PURPOSE, channel, holderOf(r), { restart: true });
    // in the account's language, else the page's (the same for an address without an account)
    await send(d.uid, r, code, phone, readerOf({ account: target ?? {}, language: ctx.state.locale as string }));
    ctx.status = 303;
    ctx.redirect(`/interaction/${d.uid}/forgot`);
  });

  router.post('/forgot/code', async (ctx) => {
    const { d, r } = await pending(ctx, 'code');
    const holder = { accountId: holderOf(r), knownDevice: false };
    const ms = await deps.limits.codesLockedFor(holder);
    if (ms > 0) {
      const minutes = Math.max(1, Math.ceil(ms / 60_000));
      return render(ctx, d, 'code', { r, status: 429, refused: { at: 'code', messages: [{ key: 'interaction:forgot.codesLocked', vars: { count: minutes } }] } });
    }
    const result = await reset.challenges.verify(d.uid, PURPOSE, channelOf(r), holderOf(r), field(ctx, 'code', 16).trim());
    if (!result.ok || !r.accountId) {
      // a decoy code that happened to match is no proof of anything: answered as a wrong one
      const why: Said = result.ok ? { key: 'interaction:forgot.wrongCode' } : codeVerificationSaid(result);
      if (result.ok || result.reason !== 'used') await deps.limits.codeFailed(holder);
      return render(ctx, d, 'code', { r, refused: { at: 'code', messages: [why] } });
    }
    await accountOfReset(r as PasswordReset & { accountId: string });
    if (!(await deps.flows.resetProved(d.uid, r.startedAt, { factor: channelOf(r), at: Math.floor(clock().getTime() / 1000) }, 0))) throw alreadyDone();
    ctx.status = 303;
    ctx.redirect(`/interaction/${d.uid}/forgot`);
  });

  router.post('/forgot/factor', async (ctx) => {
    const { d, r } = await pending(ctx, 'factor');
    const account = await accountOfReset(r as PasswordReset & { accountId: string });
    const method = field(ctx, 'method', 32);
    const option = (await strongOptions(account, r)).find((o) => o.id === method && o.availability.available);
    if (!option) throw new UserFacingError(400, 'wrong_method', 'That method cannot be used for this step. Choose one from the list.', { key: 'interaction:errors.resetWrongMethod' });
    const holder = { accountId: account.id, knownDevice: false };
    const ms = await deps.limits.codesLockedFor(holder);
    if (ms > 0) throw new UserFacingError(429, 'too_many_codes', `Too many wrong codes were entered for this account. Try again in ${Math.max(1, Math.ceil(ms / 60_000))} minutes.`, { key: 'interaction:errors.tooManyCodes', vars: { count: Math.max(1, Math.ceil(ms / 60_000)) } });
    const module = deps.factors.get(option.id)!;
    const verification = await module.verify({ account, scope: d.uid, purpose: PURPOSE }, field(ctx, 'code', 16_384));
    if (!verification.ok) {
      if (!verification.spent) await deps.limits.codeFailed(holder);
      return render(ctx, d, 'factor', { r, method: option.id, refused: { at: 'code', messages: [verification.said ?? verification.message] }, ...(verification.prompt ? { prompt: verification.prompt } : {}) });
    }
    if (!(await deps.flows.resetProved(d.uid, r.startedAt, verification.proof, 1))) throw alreadyDone();
    ctx.status = 303;
    ctx.redirect(`/interaction/${d.uid}/forgot`);
  });

  router.post('/forgot/resend', async (ctx) => {
    const d = await details(ctx, deps.provider, 'login');
    const r = (await flowOf(ctx, deps))?.reset;
    if (!r || r.done) throw new UserFacingError(400, 'no_reset', 'No password reset is in progress here. Use "Forgot password?" on the sign-in page to start one.', { key: 'interaction:errors.noReset' });
    const stage = await stageOf(r);
    const method = field(ctx, 'method', 32);
    if (stage === 'code' && method === 'reset-code') {
      try {
        const { code } = await reset.challenges.resend(d.uid, PURPOSE, channelOf(r), holderOf(r));
        await send(d.uid, r, code, channelOf(r) === 'sms' ? await phoneOf(r) : undefined, { locale: ctx.state.locale as string });
        return render(ctx, d, 'code', { r, notice: { key: channelOf(r) === 'sms' ? 'interaction:forgot.textedAgain' : 'interaction:forgot.emailedAgain', vars: { email: r.email } } });
      } catch (err) {
        if (!(err instanceof ChallengeError)) throw err;
        return render(ctx, d, 'code', { r, status: err.kind === 'limited' ? 429 : 400, refused: { at: 'code', messages: [sendProblemSaid(err.message) ?? err.message] } });
      }
    }
    const module = stage === 'factor' ? deps.factors.get(method) : undefined;
    if (!module?.resend || provenBy(r).includes(module.id)) throw new UserFacingError(400, 'no_resend', 'There is no code to send again at this step. Go back to the password reset page to go on.', { key: 'interaction:errors.resetNoResend' });
    const account = await accountOfReset(r as PasswordReset & { accountId: string });
    const prompt = await module.resend({ account, scope: d.uid, purpose: PURPOSE, ip: ctx.ip });
    await render(ctx, d, 'factor', { r, method: module.id, prompt });
  });

  router.post('/forgot/password', async (ctx) => {
    const { d, r } = await pending(ctx, 'password');
    const account = await accountOfReset(r as PasswordReset & { accountId: string });
    const password = field(ctx, 'password', 1024);
    const repeat = field(ctx, 'confirm', 1024);
    const refuse = (at: string, messages: (string | Said)[]) => render(ctx, d, 'password', { r, refused: { at, messages } });
    const t = ctx.state.t as Translate;
    if (!password) return refuse('new-password', [{ key: 'interaction:forgot.enterNew' }]);
    const broken = deps.accounts.passwordRuleProblems(password);
    if (broken.length) return refuse('new-password', broken.map((rule) => ({ key: 'interaction:forgot.needsRule', vars: { rule: ruleIn(t, rule) } })));
    const weak = await deps.accounts.newPasswordProblemFor(account.id, password);
    if (weak) return refuse('new-password', [fieldProblemIn(t, ctx.state.locale as string, weak, sentence)]);
    if (password !== repeat) return refuse('confirm', [{ key: 'interaction:forgot.mismatch' }]);
    // once: of parallel submissions one sets the password (the crash rule: README)
    if (!(await deps.flows.resetClaimed(d.uid, r.startedAt, r.proofs.length))) throw alreadyDone();
    // signed out everywhere first: a crash after this leaves the old password working, nothing locked
    const first = await reset.endSessions(account.id);
    try {
      await deps.accounts.setPassword(account.id, password);
    } catch (err) {
      if (!(err instanceof AccountError)) throw err;
      throw new UserFacingError(409, 'reset_failed', 'The new password could not be set. Start again with "Forgot password?" on the sign-in page.', { key: 'interaction:errors.resetFailed' });
    }
    // anything signed in while the password changed ends too
    const second = await reset.endSessions(account.id);
    const ended = { sessions: first.sessions + second.sessions, grants: first.grants + second.grants };
    const ip = normalizeIp(ctx.ip);
    const factors = r.proofs.map((p) => p.factor);
    deps.audit.record({
      type: 'account.password_reset_self', outcome: 'success', actor: { type: 'user', id: account.id, label: account.email }, ...(ip ? { ip } : {}),
      subject: { type: 'account', id: account.id, label: account.email }, accountId: account.id,
      details: { factors, sessionsEnded: ended.sessions, grantsRevoked: ended.grants },
    });
    deps.securityNotice(ctx, account, `Your password was reset with "Forgot password?" (a code ${channelOf(r) === 'sms' ? 'texted to your mobile number' : 'sent to this address'}${factors.length > 1 ? ' and your second step' : ''}). `
      + 'Every session of your account was signed out, and applications must sign in again. If this was not you, set a new password at once with "Forgot password?" on the sign-in page, and tell your administrator.',
    { key: 'email:securityChange.passwordReset', vars: { how: { key: resetHow(channelOf(r) === 'sms', factors.length > 1) } } });
    // this browser's own session of the account ended above: the sign-in starts afresh from the proofs made here
    if (d.session?.accountId === account.id) delete d.session;
    const proofs: Proof[] = [{ factor: 'password', at: Math.floor(clock().getTime() / 1000) }, ...r.proofs];
    // this reset's sign-in: another reset in this interaction (after a crash) signs in anew
    attemptOf(ctx, `reset:${r.startedAt}`);
    if (await beginSignIn(ctx, deps, d, account.id, proofs) === 'password') {
      throw new UserFacingError(400, 'no_sign_in', 'Your password is set. Go back to the application and sign in with it.', { key: 'interaction:errors.passwordSet' });
    }
  });
}
