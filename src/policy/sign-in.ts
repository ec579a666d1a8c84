// The one decision of a sign-in: given what the account has, what this session already proved and
// when, and what the relying party and the client ask for, which steps are still needed, or which
// acr/amr the session now has, or why the request cannot be met. Pure: no I/O, no Koa, no clock
// (the time comes in as `now`). Routes gather the facts, call decideSignIn, and act.
import { ACR, AMR, acrRank, isAcr, type Acr, type Factor } from './assurance.ts';

export type SecondFactor = Exclude<Factor, 'password' | 'pin'>;

export interface Proof {
  factor: Factor;
  /** Epoch seconds when it was proven. */
  at: number;
  /** WebAuthn with user verification: a passkey that is a whole sign-in by itself. */
  userVerified?: boolean;
  /** WebAuthn credential synced across devices (amr swk instead of hwk). */
  synced?: boolean;
}

export interface SignInFacts {
  now: number;
  /** Second factors this account can use now (email always; sms/voice with a verified phone; ...). */
  available: SecondFactor[];
  /** The account's routine second factor: every sign-in needs it (unless a trust signal skips it). */
  routine?: SecondFactor;
  /** What this session proved, oldest first; a factor may appear more than once. */
  proven: Proof[];
  request: {
    /** acr_values, in the RP's order of preference (voluntary). */
    acrValues: string[];
    /** values of an essential `acr` claim: one of them must be met. */
    essentialAcr: string[];
    maxAge?: number;
    /** prompt=login: every factor is proven again. */
    promptLogin: boolean;
  };
  /** The client's minimum acr (client metadata), always enforced. */
  clientMinimumAcr?: string;
  /** Setting: whether an emailed code counts toward the multi-factor level (default false). */
  emailCountsAsMfa: boolean;
  /** Trust signals (trusted device, trusted IP): they may skip the routine factor, never an explicit level. */
  routineSkipped: boolean;
  /**
   * This browser has not been verified for the account (and the account asks for it): a one-time
   * code first, right after the password. No trust signal skips it.
   */
  newDevice: boolean;
  /** Setting: offer to enrol TOTP or WebAuthn when no enrolled factor can meet the level. */
  offerEnrolment: boolean;
  /**
   * The account asks for its PIN after the password and second factor ("Request PIN after
   * sign-in"), and no trusted IP entry skips it. Optional: false when absent.
   */
  pinAfterSignIn?: boolean;
  /**
   * What the risk policy (risk.ts) raised this sign-in to: any second factor the account can use,
   * or the phishing-resistant level. No trust signal skips it. Optional: nothing raised when absent.
   */
  riskRequires?: 'second-factor' | 'phishing-resistant';
}

export type Step =
  | { kind: 'password' }
  | { kind: 'new-device' }
  | { kind: 'second-factor'; options: SecondFactor[]; reason: 'level' | 'routine' | 'risk' }
  | { kind: 'phishing-resistant' }
  | { kind: 'pin' };

export type Decision =
  | { outcome: 'done'; acr: Acr; amr: string[]; authTime: number }
  | { outcome: 'steps'; target: Acr; steps: Step[] }
  | { outcome: 'enrol'; target: Acr; options: ('totp' | 'webauthn')[] }
  | { outcome: 'unmet'; reason: string };

const MFA_FACTORS: readonly SecondFactor[] = ['sms', 'voice', 'totp', 'webauthn', 'recovery'];

function countsForMfa(factor: Factor, facts: SignInFacts): boolean {
  return (MFA_FACTORS as readonly Factor[]).includes(factor) || (factor === 'email' && facts.emailCountsAsMfa);
}

/** Proofs still valid for this request: prompt=login voids all, max_age voids older ones. */
function freshProofs(facts: SignInFacts): Proof[] {
  if (facts.request.promptLogin) return [];
  const { maxAge } = facts.request;
  return facts.proven.filter((p) => maxAge === undefined || facts.now - p.at <= maxAge);
}

/** The level a set of proofs reaches, and the proofs that reach it. */
export function levelOf(proofs: Proof[], facts: SignInFacts): { acr?: Acr; counted: Proof[] } {
  const latest = (f: Factor) => proofs.filter((p) => p.factor === f).at(-1);
  const password = latest('password');
  const webauthn = latest('webauthn');
  const passkey = webauthn?.userVerified ? webauthn : undefined;
  const first = password ?? passkey;
  if (!first) return { counted: [] };
  if (webauthn && (password || passkey)) {
    return { acr: ACR.phr, counted: [...(password ? [password] : []), webauthn] };
  }
  const second = proofs.filter((p) => p !== first && p.factor !== first.factor && countsForMfa(p.factor, facts)).at(-1);
  if (second) return { acr: ACR.mfa, counted: [first, second] };
  return { acr: ACR.password, counted: [first] };
}

function amrOf(counted: Proof[], extra: Proof[]): string[] {
  const values = new Set<string>();
  for (const p of [...counted, ...extra]) values.add(p.factor === 'webauthn' && p.synced ? 'swk' : AMR[p.factor]);
  if (counted.length >= 2) values.add('mfa');
  if (counted.some((p) => p.factor === 'webauthn' && p.userVerified)) values.add('user');
  return [...values];
}

/** Which level this request needs, or why it cannot be asked for. */
function requiredLevel(facts: SignInFacts, reachable: (acr: Acr) => boolean): { acr: Acr } | { unmet: string } {
  const floor = facts.clientMinimumAcr && isAcr(facts.clientMinimumAcr) ? facts.clientMinimumAcr : ACR.password;
  const atLeastFloor = (acr: Acr) => (acrRank(acr) >= acrRank(floor) ? acr : floor);
  const essential = facts.request.essentialAcr.filter(isAcr);
  if (facts.request.essentialAcr.length) {
    // one of the essential values must be met: the weakest one at or above the client's floor
    const candidates = essential.filter((a) => acrRank(a) >= acrRank(floor)).sort((a, b) => acrRank(a) - acrRank(b));
    const pick = candidates.find(reachable);
    return pick ? { acr: pick } : { unmet: `none of the essential acr values ${facts.request.essentialAcr.join(', ')} can be met` };
  }
  const asked = facts.request.acrValues.filter(isAcr);
  if (asked.length) {
    const pick = asked.map(atLeastFloor).find(reachable);
    return pick ? { acr: pick } : { unmet: `none of the requested acr values ${asked.join(', ')} can be reached by this account` };
  }
  return { acr: floor };
}

export function decideSignIn(facts: SignInFacts): Decision {
  const fresh = freshProofs(facts);
  const mfaOptions = facts.available.filter((f) => countsForMfa(f, facts));
  const canReach = (acr: Acr) =>
    acr === ACR.password || (acr === ACR.mfa ? mfaOptions.length > 0 : facts.available.includes('webauthn'));
  const canEnrolFor = (acr: Acr) => facts.offerEnrolment && acr !== ACR.password;

  const required = requiredLevel(facts, (acr) => canReach(acr) || canEnrolFor(acr));
  if ('unmet' in required) return { outcome: 'unmet', reason: required.unmet };
  // the risk policy only raises: to phr, or (an account without any second factor) to mfa, whose
  // enrolment and unmet rules then apply
  const riskFloor = facts.riskRequires === 'phishing-resistant' ? ACR.phr
    : facts.riskRequires === 'second-factor' && !facts.available.length ? ACR.mfa : undefined;
  const target = riskFloor && acrRank(riskFloor) > acrRank(required.acr) ? riskFloor : required.acr;
  // who is signing in, and from which browser: the password, then a new browser's code, before
  // anything else, an enrolment too (an emailed new-device code is then the enrolment's own code:
  // one emailed code per sign-in, never counted as the factor set up)
  const steps: Step[] = [];
  const passkeyFresh = fresh.some((p) => p.factor === 'webauthn' && p.userVerified);
  if (!fresh.some((p) => p.factor === 'password') && !passkeyFresh) steps.push({ kind: 'password' });
  if (facts.newDevice) steps.push({ kind: 'new-device' });
  if (!canReach(target)) {
    if (!canEnrolFor(target)) return { outcome: 'unmet', reason: `this account has no factor that reaches ${target}` };
    if (steps.length) return { outcome: 'steps', target, steps };
    return { outcome: 'enrol', target, options: target === ACR.phr ? ['webauthn'] : ['totp', 'webauthn'] };
  }

  const have = levelOf(fresh, facts);
  if (acrRank(have.acr) < acrRank(target)) {
    if (target === ACR.phr) steps.push({ kind: 'phishing-resistant' });
    else if (target === ACR.mfa) {
      const alreadySecond = fresh.some((p) => p.factor !== 'password' && countsForMfa(p.factor, facts));
      if (!alreadySecond) steps.push({ kind: 'second-factor', options: mfaOptions, reason: 'level' });
    }
  }
  // the account's own rule: its routine factor on every sign-in, unless a trust signal skips it
  // (a recovery code stands in for it: that is what it is for when the routine factor is lost)
  const routine = facts.routine;
  if (routine && !facts.routineSkipped && !fresh.some((p) => p.factor === routine || p.factor === 'recovery')) {
    const covered = steps.some((s) => s.kind === 'second-factor' || s.kind === 'phishing-resistant');
    if (!covered) steps.push({ kind: 'second-factor', options: [routine, ...(facts.available.includes('recovery') && routine !== 'recovery' ? ['recovery' as const] : [])], reason: 'routine' });
  }
  // the risk policy's second factor: any the account can use (a new browser's code is one), never skipped by trust
  if (facts.riskRequires === 'second-factor' && facts.available.length && !fresh.some((p) => p.factor !== 'password' && p.factor !== 'pin')) {
    const covered = steps.some((s) => s.kind === 'new-device' || s.kind === 'second-factor' || s.kind === 'phishing-resistant');
    if (!covered) steps.push({ kind: 'second-factor', options: facts.available, reason: 'risk' });
  }
  // the person's own rule: the PIN last, once per sign-in (amr gains pin; it never raises the level)
  if (facts.pinAfterSignIn && !fresh.some((p) => p.factor === 'pin')) steps.push({ kind: 'pin' });
  if (steps.length) return { outcome: 'steps', target, steps };

  const reached = levelOf(fresh, facts);
  if (!reached.acr || acrRank(reached.acr) < acrRank(target)) return { outcome: 'unmet', reason: 'the session does not reach the required level' };
  const extra = fresh.filter((p) => !reached.counted.includes(p) && !reached.counted.some((c) => c.factor === p.factor));
  // OIDC Core §5.5.1.1: with an essential acr claim the token's acr is one of its values; a
  // stronger session reports the strongest listed level it meets (amr still says what happened)
  const essential = facts.request.essentialAcr.filter(isAcr);
  const acr = essential.length && !essential.includes(reached.acr)
    ? essential.filter((a) => acrRank(a) <= acrRank(reached.acr)).sort((a, b) => acrRank(b) - acrRank(a))[0]!
    : reached.acr;
  return {
    outcome: 'done',
    acr,
    amr: amrOf(reached.counted, extra),
    authTime: Math.min(...reached.counted.map((p) => p.at)),
  };
}
