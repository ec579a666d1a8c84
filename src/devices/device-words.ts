// The devices' own pages (the unblock and "This wasn't me" links) in the language of the account
// the link names: the page says so to the language choice (i18n/middleware.ts), and a device is
// described in that language (the emails and the audit keep their English description).
import type { Context } from 'koa';
import type { Translate } from '../i18n/index.ts';
import { UNKNOWN_BROWSER, UNKNOWN_SYSTEM, type Location } from './client-info.ts';
import type { Device } from './registry.ts';

type Software = { browser?: string | undefined; os?: string | undefined };

/** The link's account is known: its language is the page's (unless the browser chose another). */
export function speakAs(ctx: Context, account: { profile?: { locale?: string | undefined } | undefined }): void {
  const locale = account.profile?.locale;
  if (locale) ctx.state.localeHints = { ...(ctx.state.localeHints as object | undefined), accountLocale: locale };
}

/** The browser and system a request named, or the page's words for "unknown" (none recorded, or the stand-ins). */
export function softwareIn(t: Translate, d: Software): { browser: string; os: string } {
  return {
    browser: d.browser && d.browser !== UNKNOWN_BROWSER ? d.browser : t('devices:device.unknownBrowser'),
    os: d.os && d.os !== UNKNOWN_SYSTEM ? d.os : t('devices:device.unknownSystem'),
  };
}

/** "Chrome 124 on Linux" as the security center writes it, in the page's language. */
export const browserOn = (t: Translate, d: Software): string => t('account:common.browserOn', softwareIn(t, d));

/** A device's suggested (and default) name, "Chrome 124 on Linux", in the page's language. */
export const deviceLabel = (t: Translate, d: Software): string => t('devices:device.unnamed', softwareIn(t, d)).slice(0, 64);

/** Where a request came from: the town and the country's name in the page's language ("Kraków, Polska"), or "unknown location". */
export function placeIn(t: Translate, locale: string, location: Location | undefined): string {
  if (!location) return t('account:history.unknownLocation');
  let country = location.country;
  try { country = new Intl.DisplayNames([locale], { type: 'region' }).of(location.country) ?? country; } catch { /* not a region code: as recorded */ }
  return [location.city, country].filter(Boolean).join(', ');
}

/** '"Work laptop", Chrome on macOS' (and its IP) in the page's language. */
export function deviceIn(t: Translate, device: Pick<Device, 'name' | 'browser' | 'os' | 'lastIp'>, withIp = false): string {
  const parts = softwareIn(t, device);
  const described = device.name ? t('devices:device.named', { name: device.name, ...parts }) : t('devices:device.unnamed', parts);
  return withIp && device.lastIp ? t('devices:device.withIp', { device: described, ip: device.lastIp }) : described;
}
