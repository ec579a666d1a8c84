// Signing in with a passkey, no email typed: the sign-in page's script asks for request options
// (any discoverable credential of this site, its user verified) for the browser's autofill or the
// "Sign in with a passkey" button, and posts the assertion. The challenge belongs to this
// interaction and is spent once; the credential is found by its id and must be the account's the
// user handle names. A verified passkey is a proof like the password (the decision then asks for
// what else this sign-in needs: a new device's code, the routine factor, the PIN, consent). It
// names no account until it is verified, so failures count per IP and per browser.
import type Router from '@koa/router';
import type { Context } from 'koa';
import { UserFacingError } from '../http/errors.ts';
import { normalizeEmail } from '../accounts/store.ts';
import { clientOf, details, field, type Details, type InteractionDeps } from './context.ts';
import { beginSignIn } from './sign-in-flow.ts';
import { browserOf, clientOfRequest, refuseBlocked } from './device.ts';
import { keyChallenge } from './device-key-proof.ts';

const NOT_SIGNED_IN = 'That passkey did not sign you in. Try it again, or sign in with your email and password.';
const NO_USER_VERIFICATION = 'Your passkey did not check that it is you (no fingerprint, face, PIN or screen lock), so it cannot sign you in on its own. Use a passkey that asks for one, or sign in with your email and password.';
const TOO_MANY = 'Too many passkey sign-ins failed from this browser or network. Wait a few minutes and try again, or sign in with your email and password.';

/** The sign-in form again, with the passkey's refusal beside its button. */
async function refuse(ctx: Context, deps: InteractionDeps, d: Details, message: string, status = 400): Promise<void> {
  const { name } = await clientOf(deps, d);
  ctx.status = status;
  await ctx.render('interaction/login', {
    title: 'Sign in', uid: d.uid, clientName: name, email: '', error: undefined, passkeyError: message, csrf: ctx.state._csrf, signUp: !!deps.signUp, keyChallenge: keyChallenge(deps, d.uid),
  });
}

export function passkeySignInRoutes(router: Router, deps: InteractionDeps): void {
  // JSON for the page's script (CSRF token in a header). Nothing is read or written: the challenge
  // is signed for this interaction's uid, and only its sign-in (which reads the interaction) takes it
  router.post('/passkey/options', async (ctx) => {
    const uid = String(ctx.params.uid);
    if (!/^[\w-]{1,64}$/.test(uid)) throw new UserFacingError(400, 'interaction_mismatch', 'This page does not belong to the sign-in in progress. Go back to the application and start again.', { key: 'interaction:errors.interactionMismatch' });
    ctx.body = await deps.webauthn.passkeyOptions(uid);
  });

  router.post('/passkey', async (ctx) => {
    const d = await details(ctx, deps.provider, 'login');
    const party = { browserId: browserOf(ctx), ip: clientOfRequest(ctx).ip ?? ctx.ip };
    const { locked, succeeded } = await deps.limits.passkeyState(party);
    if (locked) return refuse(ctx, deps, d, TOO_MANY, 429);
    const result = await deps.webauthn.signInWithPasskey(d.uid, field(ctx, 'response', 16_384));
    const account = result.ok ? await deps.accounts.findById(result.accountId) : undefined;
    // a disabled, locked or reset account signs in with a passkey no more than with its password
    if (!result.ok || !account || account.disabled || account.locked || account.passwordResetRequired) {
      await deps.limits.passkeyFailed(party);
      return refuse(ctx, deps, d, !result.ok && result.reason === 'no-user-verification' ? NO_USER_VERIFICATION : NOT_SIGNED_IN);
    }
    // a browser blocked for this account is refused as on the password path
    const { ghost } = await refuseBlocked(ctx, deps, normalizeEmail(account.email), account.id);
    await succeeded();
    const proof = { factor: 'webauthn' as const, at: Math.floor(deps.stepUp.clock().getTime() / 1000), userVerified: true, synced: result.synced };
    if (await beginSignIn(ctx, deps, d, account.id, [proof], ghost) === 'password') {
      // the decision never asks a fresh passkey for the password; should it, say so rather than loop
      throw new UserFacingError(400, 'no_sign_in', 'This sign-in needs your password. Sign in with your email and password.', { key: 'interaction:errors.passkeyNeedsPassword' });
    }
  });
}
