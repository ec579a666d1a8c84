// The passkey offer, the last page of a password sign-in in a browser that can make a passkey
// (when: passkey-offer.ts). "Create a passkey" registers one on this device without asking for the
// password again — the sign-in proved it within the re-authentication window — and "Not now" is
// remembered in this browser for 30 days; either answer (once) carries the sign-in on to the
// application. A passkey made here for an account without unused recovery codes comes with codes,
// shown once first, as any first second factor set up in a sign-in (recovery-step.ts). Without
// script, or in a browser that cannot, "Not now" always works.
import type Router from '@koa/router';
import type { Context } from 'koa';
import { UserFacingError } from '../http/errors.ts';
import { normalizeIp } from '../policy/ip-ranges.ts';
import { accountOf, alreadyDone, clientOf, field, pendingSignIn, type Details, type InteractionDeps } from './context.ts';
import { carryOn } from './sign-in-flow.ts';
import { clientOfRequest } from './device.ts';
import { deviceLabel } from '../devices/device-words.ts';
import type { Translate } from '../i18n/index.ts';
import { rememberNotNow } from './passkey-offer.ts';
import { codesNeeded, showNewCodes } from './recovery-step.ts';
import type { Flow } from './flow.ts';
import type { Said } from '../factors/types.ts';

const CREATED = 'A passkey was added to your account.';

export async function renderPasskeyOffer(ctx: Context, deps: InteractionDeps, d: Details, flow: Flow & { accountId: string }, error?: string | Said): Promise<void> {
  const account = await accountOf(deps, flow.accountId);
  const { name } = await clientOf(deps, d);
  ctx.status = error ? 400 : 200;
  await ctx.render('interaction/passkey-offer', { title: 'Sign in faster next time', uid: d.uid, clientName: name, email: account.email, csrf: ctx.state._csrf, error });
}

export function passkeyUpgradeRoutes(router: Router, deps: InteractionDeps): void {
  async function offered(ctx: Context) {
    const { d, flow } = await pendingSignIn(ctx, deps);
    if (flow.passkeyOffer === 'answered') throw alreadyDone();
    if (flow.passkeyOffer !== 'shown') throw new UserFacingError(400, 'wrong_step', 'This step of the sign-in is already done. Go back to the application and start again.', { key: 'interaction:errors.wrongStep' });
    return { d, flow, account: await accountOf(deps, flow.accountId) };
  }
  const scope = (d: Details) => `upgrade:${d.uid}`;

  router.post('/passkey-offer/options', async (ctx) => {
    const { d, account } = await offered(ctx);
    ctx.body = await deps.webauthn.registrationOptions(account, scope(d), 'passkey');
  });

  router.post('/passkey-offer', async (ctx) => {
    const { d, flow, account } = await offered(ctx);
    const password = flow.proofs.filter((p) => p.factor === 'password').at(-1);
    const now = Math.floor(deps.stepUp.clock().getTime() / 1000);
    if (!password || now - password.at > deps.config.account.reauthMinutes * 60) return renderPasskeyOffer(ctx, deps, d, flow, { key: 'interaction:passkeyOffer.tooLate' });
    const client = clientOfRequest(ctx);
    const t = ctx.state.t as Translate;
    const result = await deps.webauthn.register(account, scope(d), field(ctx, 'response', 16_384), t('interaction:passkeyOffer.defaultName', { device: deviceLabel(t, client) }).slice(0, 64));
    if (!result.ok) return renderPasskeyOffer(ctx, deps, d, flow, result.said ?? result.message);
    // the answer and "codes shown" in one write, once: a reload or a crash never shows codes twice
    const codes = await codesNeeded(deps, account.id);
    if (!(await deps.flows.answerPasskeyOffer(d.uid, flow.accountId, codes))) throw alreadyDone();
    const ip = normalizeIp(ctx.ip);
    deps.audit.record({
      type: 'mfa.changed', outcome: 'success', actor: { type: 'user', id: account.id, label: account.email }, ...(ip ? { ip } : {}),
      subject: { type: 'account', id: account.id, label: account.email }, accountId: account.id, details: { change: CREATED },
    });
    deps.securityNotice(ctx, account, CREATED, { key: 'email:securityChange.passkeyAdded' });
    if (codes) return showNewCodes(ctx, deps, d, account, { key: 'interaction:recoveryCodes.passkeySetUp' });
    await carryOn(ctx, deps, d, { ...flow, passkeyOffer: 'answered' });
  });

  router.post('/passkey-offer/not-now', async (ctx) => {
    const { d, flow } = await offered(ctx);
    if (!(await deps.flows.answerPasskeyOffer(d.uid, flow.accountId))) throw alreadyDone();
    rememberNotNow(ctx, deps);
    await carryOn(ctx, deps, d, { ...flow, passkeyOffer: 'answered' });
  });
}
