// The unblock page (/account/unblock-device?token=…): where the link of a blocked-device email
// lands. No sign-in: the link (devices/unblock-links.ts) names the device and its block, and the
// person proves the account twice more: its password, checked through the sign-in limits as a
// sign-in from a new device (the stricter limit, which never locks the owner out of the devices
// they use; a locked account is refused like a wrong password), then a code emailed to the account
// (the email factor, purpose 'device-unblock', with the account's code limit). Then the registry
// unblocks the device as the user (history entry, audit event) and the account is told by email.
// A bad, expired or spent link, a wrong password or code changes nothing and says what to do next.
// The token is in the URL: the page never sends a Referer and is never cached.
import Router from '@koa/router';
import type { Context } from 'koa';
import { field } from '../account/area.ts';
import { normalizeEmail, type AccountStore, type AccountView } from '../accounts/store.ts';
import type { AuditSink } from '../audit/events.ts';
import type { FactorPrompt, Said } from '../factors/types.ts';
import type { Translate } from '../i18n/index.ts';
import { deviceIn, speakAs } from './device-words.ts';
import { stamp } from '../i18n/format.ts';
import type { FactorRegistry } from '../factors/registry.ts';
import type { Limits } from '../limits/service.ts';
import { normalizeIp } from '../policy/ip-ranges.ts';
import { clientInfo, describeLocation } from './client-info.ts';
import { DeviceError, type Device, type DeviceRegistry } from './registry.ts';
import { UNBLOCK_PATH, type LinkCheck, type UnblockLinks } from './unblock-links.ts';
import type { ChangeSaid } from '../notify/messages.ts';

export interface UnblockPageDeps {
  links: UnblockLinks;
  devices: Pick<DeviceRegistry, 'unblock'>;
  accounts: Pick<AccountStore, 'authenticate'>;
  factors: Pick<FactorRegistry, 'get'>;
  limits: Limits;
  audit: AuditSink;
  /** Emails the account about a security change (in the background). */
  notify(ctx: Context, account: AccountView, change: string, said?: ChangeSaid): void;
  clock: () => Date;
}

const MAX_TOKEN = 160;
const MAX_PASSWORD = 1024;
const PURPOSE = 'device-unblock';
const PASSWORD_REFUSED: Said = { key: 'devices:unblock.passwordRefused' };

/** The same description for the security notice, in the account's language. */
const deviceSaid = (device: Device): ChangeSaid => {
  const vars = { browser: device.browser ?? { key: 'email:securityChange.unknownBrowser' }, os: device.os ?? { key: 'email:securityChange.unknownSystem' } };
  return device.name ? { key: 'email:securityChange.deviceNamed', vars: { name: device.name, ...vars } } : { key: 'email:securityChange.device', vars };
};
const describe = (device: Device) => `${device.name ? `"${device.name}", ` : ''}${device.browser ?? 'an unknown browser'} on ${device.os ?? 'an unknown system'}`;

export function unblockRouter(deps: UnblockPageDeps): Router {
  const { links } = deps;
  const router = new Router({ prefix: UNBLOCK_PATH });

  router.use(async (ctx, next) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Referrer-Policy', 'no-referrer');
    await next();
  });

  async function refused(ctx: Context, why: Exclude<LinkCheck, { ok: true }>['why']) {
    ctx.status = 400;
    await ctx.render('devices/unblock', { state: 'refused', why, hours: links.hours });
  }

  type Usable = Extract<LinkCheck, { ok: true }>;
  /** The page of a usable link speaks the language of the account it names. */
  const view = (ctx: Context, link: Usable) => {
    speakAs(ctx, link.account);
    return { device: deviceIn(ctx.state.t as Translate, link.device), blockedAt: stamp(link.blockedAt, link.account.profile?.zoneinfo, ctx.state.locale as string), email: link.account.email };
  };

  async function passwordPage(ctx: Context, token: string, link: Usable, error?: Said) {
    if (error) ctx.status = 400;
    await ctx.render('devices/unblock', { state: 'password', token, ...view(ctx, link), error, csrf: ctx.state._csrf });
  }

  async function codePage(ctx: Context, token: string, link: Usable, prompt: FactorPrompt, error?: Said) {
    if (error) ctx.status = 400;
    await ctx.render('devices/unblock', {
      state: 'code', token, proof: links.proofFor(token, browser(ctx)), ...view(ctx, link), prompt, error, csrf: ctx.state._csrf,
    });
  }

  const browser = (ctx: Context) => String(ctx.state.browserId ?? '');
  const scopeOf = (link: Usable, ctx: Context) => ({ account: link.account, scope: `${link.device.id}:${link.blockedAt.getTime()}`, purpose: PURPOSE, ip: ctx.ip }) as const;
  const emailCodes = () => deps.factors.get('email')!;

  /** The link of a form post, when it still works; otherwise the page says why (and undefined). */
  async function posted(ctx: Context): Promise<{ token: string; link: Usable } | undefined> {
    const token = field(ctx, 'token', MAX_TOKEN);
    const link = await links.check(token);
    if (!link.ok) {
      await refused(ctx, link.why);
      return undefined;
    }
    return { token, link };
  }

  /** The code steps need the password proven for this link in this browser; else back to it. */
  async function proven(ctx: Context, token: string, link: Usable): Promise<boolean> {
    if (links.proves(field(ctx, 'proof', 64), token, browser(ctx))) return true;
    await passwordPage(ctx, token, link, { key: 'devices:unblock.passwordFirst' });
    return false;
  }

  /** Whether `typed` is the account's password, through the sign-in limits (as sign-in and the password guard do). */
  async function passwordRight(ctx: Context, link: Usable, typed: string): Promise<boolean> {
    if (!typed) return false;
    const { account } = link;
    const ip = normalizeIp(ctx.ip) ?? ctx.ip;
    const party = { email: normalizeEmail(account.email), browserId: browser(ctx) || `unblock:${link.device.id}`, ip, knownDevice: false };
    const { right, locked, lockout } = await deps.limits.passwordAttempt(party, async () => (await deps.accounts.authenticate(account.email, typed)) !== undefined);
    if (right) return true;
    if (lockout) {
      const info = clientInfo(ctx.ip, ctx.get('user-agent'));
      deps.limits.lockedOut(account.email, { at: deps.clock(), ...(info.ip ? { ip: info.ip } : {}), where: describeLocation(info.location), browser: info.browser, os: info.os }, account.profile);
      deps.audit.record({
        type: 'sign_in.locked_out', outcome: 'failure', actor: { type: 'user', id: account.id }, subject: { type: 'account', id: account.id, label: account.email }, accountId: account.id,
        ip, details: { where: describeLocation(info.location), browser: info.browser ?? null, os: info.os ?? null },
      });
    }
    deps.audit.record({
      type: 'device.unblocked', outcome: 'failure', actor: { type: 'user', id: account.id, label: account.email },
      subject: { type: 'device', id: link.device.id, ...(link.device.name ? { label: link.device.name } : {}) }, accountId: account.id, ip,
      details: { why: locked ? 'password refused while sign-ins are locked (unblock link)' : 'wrong password (unblock link)' },
    });
    return false;
  }

  router.get('/', async (ctx) => {
    const token = typeof ctx.query.token === 'string' && ctx.query.token.length <= MAX_TOKEN ? ctx.query.token : '';
    const link = await links.check(token);
    if (!link.ok) return refused(ctx, link.why);
    await passwordPage(ctx, token, link);
  });

  router.post('/password', async (ctx) => {
    const at = await posted(ctx);
    if (!at) return;
    if (!(await passwordRight(ctx, at.link, field(ctx, 'password', MAX_PASSWORD)))) return passwordPage(ctx, at.token, at.link, PASSWORD_REFUSED);
    // a reload or a second right password finds the code already sent: nothing new goes out
    await codePage(ctx, at.token, at.link, await emailCodes().begin(scopeOf(at.link, ctx)));
  });

  router.post('/resend', async (ctx) => {
    const at = await posted(ctx);
    if (!at || !(await proven(ctx, at.token, at.link))) return;
    await codePage(ctx, at.token, at.link, await emailCodes().resend!(scopeOf(at.link, ctx)));
  });

  router.post('/code', async (ctx) => {
    const at = await posted(ctx);
    if (!at || !(await proven(ctx, at.token, at.link))) return;
    const { link, token } = at;
    const again: FactorPrompt = { input: 'code', instructions: 'Enter the 6-digit code we emailed you, or use "Resend the code" to get a new one.', canResend: true, said: { instructions: { key: 'devices:unblock.enterCode' } } };
    const party = { accountId: link.account.id, knownDevice: false };
    const lockedMs = await deps.limits.codesLockedFor(party);
    if (lockedMs > 0) {
      const minutes = Math.max(1, Math.ceil(lockedMs / 60_000));
      return codePage(ctx, token, link, again, { key: 'devices:unblock.codesLocked', vars: { count: minutes } });
    }
    const result = await emailCodes().verify(scopeOf(link, ctx), field(ctx, 'code', 16));
    if (!result.ok) {
      await deps.limits.codeFailed(party);
      speakAs(ctx, link.account);
      const t = ctx.state.t as Translate;
      return codePage(ctx, token, link, again, { key: 'devices:unblock.codeRefused', vars: { message: result.said ? t(result.said.key, result.said.vars) : result.message } });
    }
    try {
      await deps.devices.unblock(link.device.id, 'user', 'unblocked by the account holder (emailed link, password and emailed code)',
        { id: link.account.id, label: link.account.email, ...(normalizeIp(ctx.ip) ? { ip: normalizeIp(ctx.ip)! } : {}) });
    } catch (err) {
      // unblocked or removed meanwhile (another tab, an administrator): the link has done its part
      if (err instanceof DeviceError) return refused(ctx, 'ended');
      throw err;
    }
    deps.notify(ctx, link.account, `A blocked device (${describe(link.device)}) was unblocked with the link we emailed, your password and an emailed code.`,
      { key: 'email:securityChange.deviceUnblocked', vars: { device: deviceSaid(link.device) } });
    await ctx.render('devices/unblock', { state: 'done', ...view(ctx, link) });
  });

  return router;
}
