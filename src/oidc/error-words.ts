// What a person reads when an application's sign-in request cannot be served: a plain sentence per
// OAuth/OIDC error code (the protocol's own description is kept for the folded technical details).
// Pure: no I/O.

const PLAIN: Record<string, string> = {
  invalid_redirect_uri: 'The application sent you here with a return address Tessera does not know for it, so the sign-in cannot go on. This is a problem with the application\'s setup, not with your account: tell the application\'s support team.',
  redirect_uri_mismatch: 'The application sent you here with a return address Tessera does not know for it, so the sign-in cannot go on. This is a problem with the application\'s setup, not with your account: tell the application\'s support team.',
  invalid_client: 'Tessera does not know the application that sent you here, so the sign-in cannot go on. Go back to the application; if this happens again, tell its support team.',
  unauthorized_client: 'The application that sent you here may not sign people in this way. Go back to the application; if this happens again, tell its support team.',
  invalid_request: 'The application\'s sign-in request was incomplete or not understood. Go back to the application and start the sign-in again.',
  invalid_request_object: 'The application\'s sign-in request was incomplete or not understood. Go back to the application and start the sign-in again.',
  invalid_scope: 'The application asked for information Tessera does not give out. Go back to the application; if this happens again, tell its support team.',
  unsupported_response_type: 'The application asked to sign you in in a way Tessera does not offer. Go back to the application; if this happens again, tell its support team.',
  access_denied: 'The sign-in was stopped. Go back to the application to start again.',
  login_required: 'You need to sign in first. Go back to the application and start the sign-in again.',
  consent_required: 'The application needs your permission first. Go back to the application and start the sign-in again.',
  invalid_grant: 'This sign-in link was already used or has expired. Go back to the application and start again.',
  session_not_found: 'This sign-in has expired or was already completed. Go back to the application and start again.',
};

/** The sentence for an error code, or a general one. */
export function plainWords(code: string | undefined): string {
  return (code && PLAIN[code]) ?? 'The sign-in could not go on because of a problem with the request from the application. Go back to the application and start again; if this happens again, tell its support team.';
}

/** The web origin of a registered redirect URI (an http(s) one), as the way back to the application. */
export function appOrigin(redirectUri: string | undefined): string | undefined {
  if (!redirectUri) return undefined;
  try {
    const url = new URL(redirectUri);
    return url.protocol === 'https:' || url.protocol === 'http:' ? `${url.origin}/` : undefined;
  } catch {
    return undefined;
  }
}
