// The risk policy's reasons in a reader's language: policy/risk.ts writes them in English for logs,
// the audit log and the sign-in history, and keeps their facts (country codes, km, seconds ago);
// the step pages and the unusual-sign-in email put those facts into sentences here (countries by Intl).
import type { RiskReason } from '../policy/risk.ts';
import type { Translate } from './index.ts';

/** "2 h ago" in the page's language (policy/risk.ts `ago`). */
function ago(t: Translate, seconds: number): string {
  if (seconds < 3600) return t('interaction:risk.minutesAgo', { count: Math.max(1, Math.round(seconds / 60)) });
  if (seconds < 2 * 86_400) return t('interaction:risk.hoursAgo', { count: Math.round(seconds / 3600) });
  return t('interaction:risk.daysAgo', { count: Math.round(seconds / 86_400) });
}

/** One risk reason in `locale` from its facts (as it was assessed, in English, when it has none). */
export function riskReasonIn(t: Translate, locale: string, r: RiskReason): string {
  const v = r.vars;
  if (!v) return r.text; // assessed before the reasons carried their facts
  const regions = new Intl.DisplayNames([locale], { type: 'region' });
  const country = (code: unknown) => { try { return regions.of(String(code)) ?? String(code); } catch { return String(code); } };
  const place = (prefix: string) => (v[`${prefix}Country`] ? [v[`${prefix}City`], country(v[`${prefix}Country`])].filter(Boolean).join(', ') : t('interaction:risk.unknownPlace'));
  const number = (n: unknown) => Number(n).toLocaleString(locale);
  switch (r.code) {
    case 'new-device': return t('interaction:risk.newDevice');
    case 'new-country': return v.previous
      ? t('interaction:risk.newCountryPrevious', { country: country(v.country), previous: country(v.previous), ago: ago(t, Number(v.agoSeconds)) })
      : t('interaction:risk.newCountry', { country: country(v.country) });
    case 'impossible-travel': return t('interaction:risk.impossibleTravel', { here: place('here'), last: place('last'), km: number(v.km), ago: ago(t, Number(v.agoSeconds)), speed: number(v.speed) });
    case 'failure-velocity': return t('interaction:risk.failureVelocity', { count: Number(v.count) });
    case 'long-inactivity': return t('interaction:risk.longInactivity', { count: Number(v.count) });
    case 'session-moved': return t('interaction:risk.sessionMoved', { from: country(v.from), here: country(v.here) });
    default: return r.text;
  }
}
