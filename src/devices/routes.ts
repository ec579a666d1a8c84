// The devices page (/account/security/devices): the browsers that signed in to the account, with
// the current one marked; trust the current browser (name it, verify a 6-digit code valid 4
// minutes, "Extend", "Resend"), transfer trust at the limit, rename, and remove (with a code too).
// Codes go by text message with a verified mobile number, else by email (also when no more texts
// may go to it today), through the factors. The page says what was sent, and what was not.
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { AccountArea } from '../account/area.ts';
import { field, tr } from '../account/area.ts';
import { day } from '../i18n/format.ts';
import type { Translate } from '../i18n/index.ts';
import type { AccountView } from '../accounts/store.ts';
import { UserFacingError } from '../http/errors.ts';
import type { FactorRegistry } from '../factors/registry.ts';
import type { FactorPrompt, SecondFactorModule } from '../factors/types.ts';
import type { CodeMessages } from '../notify/messages.ts';
import type { Transports } from '../notify/transports.ts';
import type { DeviceNotices } from '../notify/device-notices.ts';
import type { PhoneSendCheck } from '../limits/phone-caps.ts';
import { clientInfo } from './client-info.ts';
import { browserOn, deviceLabel, placeIn, softwareIn } from './device-words.ts';
import { MAX_NAME, type Device, type DeviceRegistry, type PendingAction } from './registry.ts';
import { parseDeviceKey } from './device-key.ts';

export interface DevicePagesDeps {
  devices: DeviceRegistry;
  factors: FactorRegistry;
  messages: CodeMessages;
  transports: Transports;
  /** The daily caps on texts and calls (the confirmation text counts on the owner's allowance). */
  phoneSends: PhoneSendCheck;
  /** `trustCookieOnly`: a browser without a device key may be trusted by its cookie alone (DEVICE_TRUST_COOKIE_ONLY). */
  settings: { trustDays: number; maxTrusted: number; trustCookieOnly?: boolean };
  clock: () => Date;
  notices: DeviceNotices;
  /** The account's verified mobile number (text-message confirmations). */
  phoneOf(account: AccountView): Promise<string | undefined>;
  /** Ends the account's sessions signed in from a device that was removed or blocked. */
  endDeviceSessions(accountId: string, deviceId: string, why: string): Promise<number>;
  log?: (line: string) => void;
}

const DAY = 24 * 3600 * 1000;
const noDevice = () => new UserFacingError(400, 'no_such_device', 'There is no such device on your account.', { key: 'account:errors.noSuchDevice' });

export function devicePageRoutes(deps: DevicePagesDeps): (router: Router, area: AccountArea) => void {
  const { devices, clock } = deps;
  const trusted = (d: Device) => d.state === 'ACTIVE' && !!d.trustedUntil && d.trustedUntil > clock();
  const purposeOf = (action: PendingAction['action']): 'device-trust' | 'device-remove' => (action === 'trust' ? 'device-trust' : 'device-remove');

  const currentDevice = (ctx: Context, account: AccountView) =>
    devices.ensure(account.id, ctx.state.browserId as string, clientInfo(ctx.ip, ctx.get('user-agent')));

  /** SMS to a verified mobile number when there is one, else email. */
  async function channelFor(account: AccountView): Promise<SecondFactorModule> {
    const sms = deps.factors.get('sms');
    return sms && (await sms.availability(account)).available ? sms : deps.factors.get('email')!;
  }

  /** A device of this account (not removed), from a form field or the URL. */
  async function ownDevice(account: AccountView, id: string): Promise<Device> {
    const device = await devices.byId(id);
    if (!device || device.accountId !== account.id || device.state === 'REMOVED') throw noDevice();
    return device;
  }

  /**
   * The list, with a notice at the top or a refusal beside the field whose id is `refused.at`
   * (views/account/devices.ejs: the trust form's name or replaced device, a device's new name).
   */
  async function list(ctx: Context, account: AccountView, notice?: string, refused?: { at: string; message: string }) {
    const current = await currentDevice(ctx, account);
    const all = (await devices.listFor(account.id)).filter((d) => d.state !== 'REMOVED');
    const trustedOnes = all.filter(trusted);
    if (refused) ctx.status = 400;
    await ctx.render('account/devices', {
      title: tr(ctx)('account:nav.devices'), csrf: ctx.state._csrf, notice, refused, currentId: current.id,
      devices: all.map((d) => ({ ...d, ...softwareIn(tr(ctx), d), trusted: trusted(d), where: placeIn(tr(ctx), ctx.state.locale as string, d.location) })),
      trustedOnes: trustedOnes.map((d) => ({ ...d, ...softwareIn(tr(ctx), d) })),
      // device-bound trust: a trusted browser without a device key of its own is offered the trust form again
      currentTrusted: trusted(current) && (!!current.key || !!deps.settings.trustCookieOnly), notKeyBound: trusted(current) && !current.key && !deps.settings.trustCookieOnly, atLimit: trustedOnes.length >= deps.settings.maxTrusted,
      maxTrusted: deps.settings.maxTrusted, trustDays: deps.settings.trustDays, suggestedName: current.name ?? deviceLabel(tr(ctx), clientInfo(ctx.ip, ctx.get('user-agent'))),
    });
  }

  async function verifyPage(ctx: Context, device: Device, prompt: FactorPrompt, error?: string) {
    const pending = device.pending!;
    const t = tr(ctx);
    if (error) ctx.status = 400;
    await ctx.render('account/device-verify', {
      title: t('account:deviceVerify.heading'), csrf: ctx.state._csrf, device, pending, prompt, error,
      action: pending.action === 'trust'
        ? t(pending.replaceId ? 'account:deviceVerify.trustReplacing' : 'account:deviceVerify.trust', { name: pending.name })
        : t('account:deviceVerify.remove', { name: device.name ?? browserOn(t, device) }),
    });
  }

  /** The device with a pending action of this account, and the factor its code went through. */
  async function pendingOf(account: AccountView, id: string) {
    const device = await ownDevice(account, id);
    if (!device.pending) throw new UserFacingError(400, 'nothing_pending', 'There is nothing to confirm for this device. Start again from the devices page.', { key: 'account:errors.nothingPending' });
    const module = deps.factors.get(device.pending.channel)!;
    return { device, module, scope: { account, scope: device.id, purpose: purposeOf(device.pending.action) } };
  }

  async function start(ctx: Context, account: AccountView, device: Device, pending: Omit<PendingAction, 'channel'>) {
    // a new action on the device: an expired, locked or used code of an earlier one is replaced
    const scope = { account, scope: device.id, purpose: purposeOf(pending.action), ip: ctx.ip, restart: true };
    let module = await channelFor(account);
    let prompt = await module.begin(scope);
    if (prompt.capped && module.id !== 'email') {
      // no more texts to the number today: email serves this step as well
      const capped = prompt.problem;
      module = deps.factors.get('email')!;
      prompt = await module.begin(scope);
      prompt = { ...prompt, instructions: `${capped} We emailed the code instead. ${prompt.instructions}`.trim() };
    }
    const withChannel: PendingAction = { ...pending, channel: module.id as PendingAction['channel'] };
    await devices.setPending(device.id, withChannel);
    await verifyPage(ctx, { ...device, pending: withChannel }, prompt);
  }

  async function confirmed(t: Translate, account: AccountView, device: Device, ip: string | undefined, zone: string | undefined, locale: string): Promise<string> {
    const pending = device.pending!;
    if (pending.action === 'remove') {
      await devices.remove(device.id, 'user', 'removed by the user (code confirmed)');
      await deps.endDeviceSessions(account.id, device.id, 'the device was removed by the user');
      return t('account:devices.removed', { name: device.name ?? browserOn(t, device) });
    }
    const until = new Date(clock().getTime() + deps.settings.trustDays * DAY);
    let replaced: Device | undefined;
    if (pending.replaceId) {
      replaced = await devices.byId(pending.replaceId);
      await devices.transfer(pending.replaceId, device.id, until, 'user', pending.publicKey);
      // the replaced device was removed: its sessions end
      await deps.endDeviceSessions(account.id, pending.replaceId, 'the device was replaced by another trusted device');
    } else {
      await devices.trust(device.id, pending.name ?? deviceLabel(t, device), until, pending.publicKey);
    }
    const name = replaced?.name ?? pending.name ?? 'This browser';
    // the confirmation by email (and by text message when the code went that way); never fails
    // the change, and the page says exactly which went out
    const sent: ('email' | 'text message')[] = [];
    const unsent: ('email' | 'text message')[] = [];
    const attempt = async (how: 'email' | 'text message', send: () => Promise<unknown>) => {
      try {
        await send();
        sent.push(how);
      } catch (err) {
        unsent.push(how);
        deps.log?.(`[tessera] device confirmation by ${how} not sent: ${(err as Error).message}`);
      }
    };
    await attempt('email', async () => deps.transports.email(await deps.messages.in(account.profile).deviceTrusted(account.email, name, until, replaced ? (replaced.name ?? 'the old device') : undefined)));
    const phone = pending.channel === 'sms' ? await deps.phoneOf(account) : undefined;
    if (phone) {
      await attempt('text message', async () => {
        await deps.phoneSends({ accountId: account.id, number: phone, verified: true, ...(ip ? { ip } : {}) });
        await deps.transports.sms(phone, deps.messages.in(account.profile).deviceTrustedSms(name, until));
      });
    }
    const by = (hows: ('email' | 'text message')[]) => hows.map((how) => t(how === 'email' ? 'account:devices.byEmail' : 'account:devices.byText')).join(t('account:devices.andBy'));
    return [
      t('account:devices.trusted', { name, day: day(until, zone, locale) }),
      ...(sent.length ? [t('account:devices.confirmationSent', { by: by(sent) })] : []),
      ...(unsent.length ? [t('account:devices.confirmationUnsent', { by: by(unsent) })] : []),
    ].join(' ');
  }

  return (router, area) => {
    router.get('/security/devices', async (ctx) => {
      const account = await area.requireAccount(ctx);
      if (account) await list(ctx, account);
    });

    router.post('/security/devices/trust', async (ctx) => {
      const account = await area.requireAccount(ctx);
      if (!account) return;
      const name = field(ctx, 'name', 200).trim();
      if (!name || name.length > MAX_NAME) return list(ctx, account, undefined, { at: 'device-name', message: tr(ctx)('account:devices.nameNeeded', { max: MAX_NAME }) });
      const device = await currentDevice(ctx, account);
      const others = (await devices.listFor(account.id)).filter((d) => trusted(d) && d.id !== device.id);
      let replaceId: string | undefined;
      if (others.length >= deps.settings.maxTrusted) {
        const chosen = others.find((d) => d.id === field(ctx, 'replace', 64));
        if (!chosen) return list(ctx, account, undefined, { at: 'replace', message: tr(ctx)('account:devices.chooseReplaced', { count: deps.settings.maxTrusted }) });
        replaceId = chosen.id;
      }
      // device-bound trust: the page's script sends this browser's device public key (views/static/device-key.js)
      const publicKey = parseDeviceKey(field(ctx, 'device_key', 400));
      if (!publicKey && !deps.settings.trustCookieOnly) return list(ctx, account, undefined, { at: 'device-key', message: tr(ctx)('account:devices.keyNeeded') });
      await start(ctx, account, device, { action: 'trust', name, ...(replaceId ? { replaceId } : {}), ...(publicKey ? { publicKey } : {}) });
    });

    router.post('/security/devices/:id/remove', async (ctx) => {
      const account = await area.requireAccount(ctx);
      if (!account) return;
      await start(ctx, account, await ownDevice(account, String(ctx.params.id).slice(0, 64)), { action: 'remove' });
    });

    router.post('/security/devices/:id/rename', async (ctx) => {
      const account = await area.requireAccount(ctx);
      if (!account) return;
      const device = await ownDevice(account, String(ctx.params.id).slice(0, 64));
      const name = field(ctx, 'name', 200).trim();
      if (!name || name.length > MAX_NAME) return list(ctx, account, undefined, { at: `rename-${device.id}`, message: tr(ctx)('account:devices.nameLength', { max: MAX_NAME }) });
      await devices.rename(device.id, name);
      await list(ctx, account, tr(ctx)('account:devices.renamed', { name }));
    });

    router.post('/security/devices/verify', async (ctx) => {
      const account = await area.requireAccount(ctx);
      if (!account) return;
      const { device, module, scope } = await pendingOf(account, field(ctx, 'device', 64));
      const result = await module.verify(scope, field(ctx, 'code', 16));
      if (!result.ok) {
        // wrong codes count toward blocking the browser that enters them
        const here = await currentDevice(ctx, account);
        const { justBlocked, failures } = await devices.recordFailure(here.id, 'wrong code (device settings)');
        if (justBlocked) {
          deps.notices.deviceBlocked(account.id, clientInfo(ctx.ip, ctx.get('user-agent')), failures, here.id);
          await deps.endDeviceSessions(account.id, here.id, 'the device was blocked after failed attempts');
        }
        // the page again without opening a new code: an expired or locked code waits for "Resend"
        return verifyPage(ctx, device, { input: 'code', instructions: tr(ctx)('account:deviceVerify.enterCode'), canResend: true }, result.message);
      }
      await list(ctx, account, await confirmed(tr(ctx), account, device, ctx.ip, account.profile.zoneinfo, ctx.state.locale as string));
    });

    router.post('/security/devices/extend', async (ctx) => {
      const account = await area.requireAccount(ctx);
      if (!account) return;
      const { device, module, scope } = await pendingOf(account, field(ctx, 'device', 64));
      await verifyPage(ctx, device, await module.extend!(scope));
    });

    router.post('/security/devices/resend', async (ctx) => {
      const account = await area.requireAccount(ctx);
      if (!account) return;
      const { device, module, scope } = await pendingOf(account, field(ctx, 'device', 64));
      const prompt = await module.resend!({ ...scope, ip: ctx.ip });
      // no more texts today: starting again sends the code by email
      await verifyPage(ctx, device, prompt.capped ? { ...prompt, problem: `${prompt.problem} Cancel and start again to get a code by email.` } : prompt);
    });
  };
}
