// Adaptive sign-in at the sign-in's first proof (the password or a passkey): gathers the risk
// policy's facts from what the request already knows (client IP and location, the browser's
// registration) plus one read (the account's history head, which keeps the digest the policy
// needs), asks the pure policy (policy/risk.ts), and records what it decided in the audit log.
import type { Context } from 'koa';
import { assessRisk, riskSummary, type RiskAssessment, type RiskSettings } from '../policy/risk.ts';
import { deviceTrusted } from '../policy/trust.ts';
import { trustFactsOf } from '../devices/device-key.ts';
import type { Config } from '../config/schema.ts';
import type { InteractionDeps } from './context.ts';
import { clientOfRequest, registrationOf } from './device.ts';

/** The policy's settings from the configuration. */
export function riskSettings(risk: Config['risk']): RiskSettings {
  return {
    mode: risk.mode,
    maxSpeedKmh: risk.maxSpeedKmh,
    maxFailuresPerHour: risk.maxFailuresPerHour,
    inactiveDays: risk.inactiveDays,
    actions: {
      'new-device': risk.actions.newDevice,
      'new-country': risk.actions.newCountry,
      'impossible-travel': risk.actions.impossibleTravel,
      'failure-velocity': risk.actions.failureVelocity,
      'long-inactivity': risk.actions.longInactivity,
      'session-moved': risk.actions.sessionMoved,
    },
    notify: risk.notify,
  };
}

/**
 * The risk of this sign-in for the account, or undefined when the policy is off or nothing
 * triggered. `newDevice`: whether the browser still needs new-device verification.
 */
export async function assessSignIn(ctx: Context, deps: InteractionDeps, accountId: string): Promise<RiskAssessment | undefined> {
  const settings = riskSettings(deps.config.risk);
  if (settings.mode === 'off') return undefined;
  const now = deps.stepUp.clock();
  const client = clientOfRequest(ctx);
  const device = await registrationOf(ctx, deps, accountId);
  const history = await deps.history.riskOf(accountId, now);
  const epoch = Math.floor(now.getTime() / 1000);
  const facts = {
    now: epoch,
    here: { ...(client.location?.country ? { country: client.location.country } : {}), ...(client.location?.city ? { city: client.location.city } : {}), ...(client.ll ? { ll: client.ll } : {}) },
    history,
    newDevice: !device?.verifiedAt,
    trusted: {
      // device-bound trust: the password's request signed with the device key (routes.ts, POST /login)
      device: deviceTrusted(trustFactsOf(device, epoch, ctx.state.deviceKeyProven === true, deps.deviceSettings.trustCookieOnly)),
      ip: false,
    },
  };
  let assessment = assessRisk(facts, settings);
  if (!assessment.reasons.length) return undefined;
  // only a sign-in something was raised for reads the trusted addresses, to say so in the record
  const ipTrusted = (await deps.trustedIps.skipsFor(accountId, client.ip)).length > 0;
  assessment = { ...assessment, trusted: { ...assessment.trusted, ip: ipTrusted } };
  deps.audit.record({
    type: 'sign_in.risk', outcome: assessment.applied === 'refuse' ? 'failure' : 'success',
    actor: { type: 'user', id: accountId }, subject: { type: 'account', id: accountId }, accountId,
    ...(client.ip ? { ip: client.ip } : {}),
    details: {
      mode: assessment.mode, action: assessment.action, applied: assessment.applied,
      reasons: assessment.reasons.map((r) => r.code), summary: riskSummary(assessment) ?? null,
      trustedDevice: assessment.trusted.device, trustedIp: assessment.trusted.ip,
    },
  });
  return assessment;
}
