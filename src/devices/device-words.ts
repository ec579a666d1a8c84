// The devices' own pages (the unblock and "This wasn't me" links) in the language of the account
// the link names: the page says so to the language choice (i18n/middleware.ts), and a device is
// described in that language (the emails and the audit keep their English description).
import type { Context } from 'koa';
import type { Translate } from '../i18n/index.ts';
import type { Device } from './registry.ts';

/** The link's account is known: its language is the page's (unless the browser chose another). */
export function speakAs(ctx: Context, account: { profile?: { locale?: string | undefined } | undefined }): void {
  const locale = account.profile?.locale;
  if (locale) ctx.state.localeHints = { ...(ctx.state.localeHints as object | undefined), accountLocale: locale };
}

/** '"Work laptop", Chrome on macOS' (and its IP) in the page's language. */
export function deviceIn(t: Translate, device: Pick<Device, 'name' | 'browser' | 'os' | 'lastIp'>, withIp = false): string {
  const parts = { browser: device.browser ?? t('devices:device.unknownBrowser'), os: device.os ?? t('devices:device.unknownSystem') };
  const described = device.name ? t('devices:device.named', { name: device.name, ...parts }) : t('devices:device.unnamed', parts);
  return withIp && device.lastIp ? t('devices:device.withIp', { device: described, ip: device.lastIp }) : described;
}
