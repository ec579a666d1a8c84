// Adaptive sign-in: the situation of one sign-in (new device, new country, impossible travel,
// failure velocity, long inactivity, trust state) in, one action out, with reason codes and plain
// sentences a person can read; and a signed-in session used from another country than the one it
// was signed in from (a session that moves). Pure: no I/O, no clock (the time comes in as `now`). The action only
// ever raises what the sign-in decision (sign-in.ts) requires; trust signals are reported, never
// used to lower it.

export type RiskAction = 'none' | 'second-factor' | 'phishing-resistant' | 'refuse';
export type RiskMode = 'enforce' | 'observe' | 'off';
export type RiskSignal = 'new-device' | 'new-country' | 'impossible-travel' | 'failure-velocity' | 'long-inactivity' | 'session-moved';

export const RISK_ACTIONS: readonly RiskAction[] = ['none', 'second-factor', 'phishing-resistant', 'refuse'];
export const RISK_SIGNALS: readonly RiskSignal[] = ['new-device', 'new-country', 'impossible-travel', 'failure-velocity', 'long-inactivity', 'session-moved'];

/** Below this distance two places may be one: geoip-lite's city guesses are that coarse. */
export const TRAVEL_NOISE_KM = 300;

export interface RiskSettings {
  mode: RiskMode;
  /** Faster than this between two successful sign-ins is impossible travel. */
  maxSpeedKmh: number;
  /** More failed attempts than this in the last hour is failure velocity. */
  maxFailuresPerHour: number;
  /** No successful sign-in for this many days is long inactivity. */
  inactiveDays: number;
  /** What each signal asks for when it triggers. */
  actions: Record<RiskSignal, RiskAction>;
  /** Signals whose triggering should also tell the account (an email). */
  notify: RiskSignal[];
}

export interface Place {
  country?: string;
  city?: string;
  /** [latitude, longitude] */
  ll?: [number, number];
}

/** What the account's kept history says (sessions/history.ts keeps it in the history head). */
export interface RiskHistory {
  /** Countries of the account's successful sign-ins. */
  countries: string[];
  /** The latest successful sign-in: when (epoch seconds) and where. */
  last?: Place & { at: number };
  /** Failed attempts (wrong password or code) for the account in the last hour. */
  failuresLastHour: number;
}

export interface RiskFacts {
  /** Epoch seconds. */
  now: number;
  /** Where this sign-in comes from (unknown: no country, no ll). */
  here: Place;
  history: RiskHistory;
  /** This browser has not been verified for the account. */
  newDevice: boolean;
  /** Trust state: reported with the reasons, never lowers the action. */
  trusted: { device: boolean; ip: boolean };
}

export interface RiskReason {
  code: RiskSignal;
  action: RiskAction;
  /** A plain sentence fragment, e.g. "first sign-in from Brazil" (English: logs, audit, history). */
  text: string;
  /** The same fragment's facts, for a page in another language (country codes, km, seconds ago). */
  vars?: Record<string, string | number>;
}

export interface RiskAssessment {
  mode: RiskMode;
  /** What the signals ask for (recorded in every mode but off). */
  action: RiskAction;
  /** What the sign-in must do: the action under enforce, none under observe and off. */
  applied: RiskAction;
  /** Signals that asked for something, strongest first. */
  reasons: RiskReason[];
  /** Whether the account should be told (a triggered signal is in settings.notify). */
  notify: boolean;
  trusted: { device: boolean; ip: boolean };
}

const rank = (a: RiskAction) => RISK_ACTIONS.indexOf(a);
/** The stronger of two actions. */
export const raise = (a: RiskAction, b: RiskAction): RiskAction => (rank(b) > rank(a) ? b : a);

const regionNames = new Intl.DisplayNames(['en'], { type: 'region' });
/** "Brazil" for "BR" (the code itself when unknown). */
export function countryName(code: string): string {
  try { return regionNames.of(code) ?? code; } catch { return code; }
}

/** Great-circle distance in km (haversine, mean Earth radius). */
export function distanceKm(a: [number, number], b: [number, number]): number {
  const rad = (d: number) => (d * Math.PI) / 180;
  const dLat = rad(b[0] - a[0]);
  const dLon = rad(b[1] - a[1]);
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(rad(a[0])) * Math.cos(rad(b[0])) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371 * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** "2 h ago", "25 min ago", "3 days ago". */
export function ago(seconds: number): string {
  if (seconds < 3600) return `${Math.max(1, Math.round(seconds / 60))} min ago`;
  if (seconds < 2 * 86_400) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86_400)} days ago`;
}

/** A place's facts for a translated sentence: `${prefix}Country` and `${prefix}City` when known. */
const placeVars = (prefix: string, p: Place): Record<string, string> => ({ ...(p.country ? { [`${prefix}Country`]: p.country } : {}), ...(p.city ? { [`${prefix}City`]: p.city } : {}) });

const placeName = (p: Place) => (p.country ? [p.city, countryName(p.country)].filter(Boolean).join(', ') : 'an unknown place');

/** Each signal: triggered (with its sentence) or not. */
function triggered(facts: RiskFacts, settings: RiskSettings): { code: RiskSignal; text: string; vars: Record<string, string | number> }[] {
  const { here, history, now } = facts;
  const last = history.last;
  const out: { code: RiskSignal; text: string; vars: Record<string, string | number> }[] = [];
  if (facts.newDevice) out.push({ code: 'new-device', text: 'first sign-in from this device', vars: {} });
  // only an account with a known past can have a new country; an unknown place is not one
  if (here.country && history.countries.length && !history.countries.includes(here.country)) {
    const previous = last?.country ? `; previous sign-in from ${countryName(last.country)} ${ago(now - last.at)}` : '';
    out.push({ code: 'new-country', text: `first sign-in from ${countryName(here.country)}${previous}`, vars: { country: here.country, ...(last?.country ? { previous: last.country, agoSeconds: now - last.at } : {}) } });
  }
  if (here.ll && last?.ll) {
    const km = distanceKm(last.ll, here.ll);
    const hours = Math.max(now - last.at, 1) / 3600;
    if (km > TRAVEL_NOISE_KM && km / hours > settings.maxSpeedKmh) {
      out.push({ code: 'impossible-travel', text: `${placeName(here)} is ${Math.round(km).toLocaleString('en')} km from the previous sign-in (${placeName(last)}, ${ago(now - last.at)}): faster than ${settings.maxSpeedKmh.toLocaleString('en')} km/h`, vars: { ...placeVars('here', here), ...placeVars('last', last), km: Math.round(km), agoSeconds: now - last.at, speed: settings.maxSpeedKmh } });
    }
  }
  if (history.failuresLastHour > settings.maxFailuresPerHour) {
    out.push({ code: 'failure-velocity', text: `${history.failuresLastHour} failed sign-in attempts in the last hour`, vars: { count: history.failuresLastHour } });
  }
  if (last && now - last.at > settings.inactiveDays * 86_400) {
    out.push({ code: 'long-inactivity', text: `no sign-in for ${Math.floor((now - last.at) / 86_400)} days`, vars: { count: Math.floor((now - last.at) / 86_400) } });
  }
  return out;
}

export function assessRisk(facts: RiskFacts, settings: RiskSettings): RiskAssessment {
  const none: RiskAssessment = { mode: settings.mode, action: 'none', applied: 'none', reasons: [], notify: false, trusted: facts.trusted };
  if (settings.mode === 'off') return none;
  const reasons = triggered(facts, settings)
    .map((t) => ({ ...t, action: settings.actions[t.code] }))
    .filter((r) => r.action !== 'none')
    .sort((a, b) => rank(b.action) - rank(a.action));
  // trust is not an input to the action: a trusted device or IP cannot lower what a signal raised
  const action = reasons.reduce<RiskAction>((acc, r) => raise(acc, r.action), 'none');
  return {
    ...none,
    action,
    applied: settings.mode === 'enforce' ? action : 'none',
    reasons,
    notify: reasons.some((r) => settings.notify.includes(r.code)),
  };
}

export interface SessionMoveFacts {
  /** Where the session was signed in (or last proved a second factor). */
  signedInFrom: Place;
  /** Where this authorization request comes from. */
  here: Place;
  trusted: { device: boolean; ip: boolean };
}

/**
 * A signed-in session used by a relying party from another country than the one it was signed in
 * from: what to ask before the session signs anyone in silently. Unknown places never trigger it.
 * A `refuse` setting is not offered for it (the session's own sign-in already passed the policy).
 */
export function assessSessionMove(facts: SessionMoveFacts, settings: Pick<RiskSettings, 'mode' | 'actions' | 'notify'>): RiskAssessment {
  const none: RiskAssessment = { mode: settings.mode, action: 'none', applied: 'none', reasons: [], notify: false, trusted: facts.trusted };
  const from = facts.signedInFrom.country;
  const here = facts.here.country;
  const action = settings.actions['session-moved'];
  if (settings.mode === 'off' || !from || !here || from === here || action === 'none') return none;
  const reason: RiskReason = { code: 'session-moved', action, text: `this session was signed in from ${countryName(from)} and is now used from ${countryName(here)}`, vars: { from, here } };
  return {
    ...none,
    action,
    applied: settings.mode === 'enforce' ? action : 'none',
    reasons: [reason],
    notify: settings.notify.includes('session-moved'),
  };
}

const ASKED: Record<RiskAction, string> = {
  none: 'Signed in',
  'second-factor': 'Asked for a code',
  'phishing-resistant': 'Asked for a security key',
  refuse: 'Refused the sign-in',
};

/** "Asked for a code: first sign-in from Brazil; previous sign-in from Poland 2 h ago" (observe: "Would have …"). */
export function riskSummary(a: Pick<RiskAssessment, 'mode' | 'action' | 'reasons'>): string | undefined {
  if (!a.reasons.length) return undefined;
  const verb = a.mode === 'observe' ? `Would have ${ASKED[a.action].charAt(0).toLowerCase()}${ASKED[a.action].slice(1)}` : ASKED[a.action];
  return `${verb}: ${a.reasons.map((r) => r.text).join('; ')}`;
}

/** The one sentence the step page shows the person. */
export function riskSentence(a: Pick<RiskAssessment, 'reasons'>): string | undefined {
  if (!a.reasons.length) return undefined;
  const text = a.reasons.map((r) => r.text).join('; ');
  return `This sign-in is unusual for your account: ${text}.`;
}
