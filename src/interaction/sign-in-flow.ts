// Between the steps of one sign-in: after every proof (the password, a code, a key) ask the one
// decision what comes next, then finish the login with the acr/amr it names, show the next step,
// or send the relying party unmet_authentication_requirements.
import type { Context } from 'koa';
import { decideSignIn, type Decision, type Proof } from '../policy/sign-in.ts';
import { factsFor, requestFacts, sessionProofs, type SignInResult } from '../oidc/step-up.ts';
import { finish, clientOf, type Details, type InteractionDeps } from './context.ts';
import { knownDevices, signInCompleted } from './device.ts';

/** The session's own proofs count only for the account it names and only without prompt=login. */
async function provenSoFar(deps: InteractionDeps, d: Details, accountId: string, interactionProofs: Proof[], promptLogin: boolean): Promise<Proof[]> {
  const session = d.session?.accountId === accountId && !promptLogin
    ? await sessionProofs(deps.stepUp, { uid: d.session.uid, accountId, amr: d.session.amr })
    : [];
  return [...session, ...interactionProofs];
}

export async function decide(ctx: Context, deps: InteractionDeps, d: Details, accountId: string, interactionProofs: Proof[]): Promise<{ decision: Decision; proven: Proof[] }> {
  const { client } = await clientOf(deps, d);
  const request = requestFacts(d.params, client as unknown as Record<string, unknown>);
  const proven = await provenSoFar(deps, d, accountId, interactionProofs, request.promptLogin);
  const known = knownDevices(ctx).get(accountId);
  const where = { browserId: ctx.state.browserId as string | undefined, ip: ctx.ip, signingIn: true, ...(known ? { device: known } : {}) };
  const decision = decideSignIn(await factsFor(deps.stepUp, accountId, proven, { ...request, promptLogin: false }, where));
  return { decision, proven };
}

/** After a proof: finish, or go to the next step (the interaction page shows it), or refuse. */
export async function continueSignIn(ctx: Context, deps: InteractionDeps, d: Details, accountId: string, interactionProofs: Proof[]): Promise<void> {
  const { decision, proven } = await decide(ctx, deps, d, accountId, interactionProofs);
  if (decision.outcome === 'done') {
    await signInCompleted(ctx, deps, accountId, decision.amr);
    const result: SignInResult = { login: { accountId, acr: decision.acr, amr: decision.amr, ts: decision.authTime }, proofs: proven };
    await finish(ctx, deps, 'login', result as never);
    await deps.progress.end(d.uid);
    return;
  }
  if ((decision.outcome === 'steps' && decision.steps[0]!.kind !== 'password') || decision.outcome === 'enrol') {
    await deps.progress.start(d.uid, { accountId, proofs: interactionProofs });
    ctx.status = 303;
    ctx.redirect(`/interaction/${d.uid}`);
    return;
  }
  const reason = decision.outcome === 'unmet'
    ? decision.reason
    : 'this account has no sign-in method that reaches the level the application asked for';
  await finish(ctx, deps, 'login', { error: 'unmet_authentication_requirements', error_description: reason });
}
