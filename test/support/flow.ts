// A small flow language for tests: a cookie-keeping user agent that walks the hosted pages the way
// a browser would, and a relying party built on the real openid-client.
import { randomBytes, webcrypto } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CookieJar } from 'tough-cookie';
import * as oidc from 'openid-client';
import type { Tessera } from './tessera.ts';
import type { NewClient } from '../../src/oidc/clients.ts';

export const REDIRECT_URI = 'http://127.0.0.1:9/callback';
export const POST_LOGOUT_URI = 'http://127.0.0.1:9/signed-out';

export interface Page {
  url: string;
  status: number;
  headers: Headers;
  body: string;
}

/** A browser without a screen: keeps cookies, follows redirects until it leaves for the RP. */
export class UserAgent {
  readonly jar = new CookieJar();
  /** Sent with every request: a browser's User-Agent, or the X-Forwarded-For a proxy adds. */
  readonly headers: Record<string, string>;
  /**
   * Device-bound trust: this agent's device key, as views/static/device-key.js keeps one in a
   * browser's IndexedDB (made when a form binds one); `webCrypto: false` plays a browser without it.
   */
  deviceKey?: webcrypto.CryptoKeyPair;
  readonly webCrypto: boolean;

  constructor(headers: Record<string, string> = {}, options: { webCrypto?: boolean } = {}) {
    this.headers = headers;
    this.webCrypto = options.webCrypto ?? true;
  }

  /** What device-key.js adds to a form: a signature over its challenge, and on a trust form the public key. */
  async deviceKeyFields(hidden: Record<string, string>, fields: Record<string, string>): Promise<Record<string, string>> {
    if (!this.webCrypto) return {};
    const challenge = hidden.device_challenge;
    const sign = async (pair: webcrypto.CryptoKeyPair) => Buffer.from(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, pair.privateKey, new TextEncoder().encode(challenge))).toString('base64url');
    if ('device_key' in hidden) {
      // a trust form: its "Trust this device" box (when it has a challenge, the sign-in's new-device step)
      if (challenge && fields.trust !== 'yes') return {};
      this.deviceKey ??= await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
      const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', this.deviceKey.publicKey);
      return { device_key: JSON.stringify({ kty, crv, x, y }), ...(challenge ? { device_signature: await sign(this.deviceKey) } : {}) };
    }
    return challenge && 'device_signature' in hidden && this.deviceKey ? { device_signature: await sign(this.deviceKey) } : {};
  }

  async request(url: string, init: { method?: string; form?: Record<string, string> } = {}): Promise<Page> {
    const headers: Record<string, string> = { accept: 'text/html', ...this.headers };
    const cookie = await this.jar.getCookieString(url);
    if (cookie) headers.cookie = cookie;
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    }
    const res = await fetch(url, { method: init.method ?? (init.form ? 'POST' : 'GET'), headers, body, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) await this.jar.setCookie(c, url);
    return { url, status: res.status, headers: res.headers, body: await res.text() };
  }

  /** GET url and follow redirects; stops at the first page that is not a redirect, or at `stopAt`. */
  async visit(url: string, stopAt = REDIRECT_URI): Promise<Page> {
    let page = await this.request(url);
    for (let hops = 0; page.status >= 300 && page.status < 400; hops++) {
      if (hops > 20) throw new Error('redirect loop');
      const next = new URL(page.headers.get('location')!, page.url).href;
      if (next.startsWith(stopAt)) return { ...page, url: next };
      page = await this.request(next);
    }
    return page;
  }

  async submit(page: Page, action: RegExp, fields: Record<string, string> = {}, stopAt = REDIRECT_URI): Promise<Page> {
    const form = formOn(page, action);
    const res = await this.request(form.action, { form: { ...form.fields, ...(await this.deviceKeyFields(form.fields, fields)), ...fields } });
    if (res.status >= 300 && res.status < 400) {
      const next = new URL(res.headers.get('location')!, res.url).href;
      if (next.startsWith(stopAt)) return { ...res, url: next };
      return this.visit(next, stopAt);
    }
    return res;
  }
}

/** Finds the form whose action matches and returns its absolute action and hidden fields. */
export function formOn(page: Page, action: RegExp): { action: string; fields: Record<string, string> } {
  for (const m of page.body.matchAll(/<form[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/g)) {
    if (!action.test(m[1]!)) continue;
    const fields: Record<string, string> = {};
    for (const i of m[2]!.matchAll(/<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"/g)) fields[i[1]!] = i[2]!;
    return { action: new URL(m[1]!.replaceAll('&amp;', '&'), page.url).href, fields };
  }
  throw new Error(`no form with action ${action} on ${page.url} (status ${page.status}):\n${page.body.slice(0, 500)}`);
}

export interface TestUser {
  id: string;
  email: string;
  password: string;
}

/**
 * A test account. New-device verification is off unless asked for (`deviceVerification: true`):
 * most tests are about something else, as an admin would set it for a test account.
 */
export async function createUser(t: Tessera, overrides: Partial<{ email: string; password: string; name: string; deviceVerification: boolean }> = {}): Promise<TestUser> {
  const email = overrides.email ?? `user-${randomBytes(4).toString('hex')}@example.com`;
  const password = overrides.password ?? 'Correct#Horse1';
  const account = await t.services.accounts.create({ email, password, name: overrides.name ?? 'Test User', deviceVerification: overrides.deviceVerification ?? false });
  return { id: account.id, email, password };
}

/** Gives the account a verified primary mobile number directly in the store (as if verified by a code). */
export async function giveVerifiedPhone(t: Tessera, user: { id: string }, number = '+41 79 123 45 67'): Promise<string> {
  const { phone } = await t.services.phones.add(user.id, number);
  await t.services.phones.markVerified(user.id, phone.id, phone.number);
  const primary = await t.services.phones.primaryVerified(user.id);
  if (primary !== phone.number) throw new Error(`${number} did not become the primary mobile number`);
  return phone.number;
}

export interface Authorization {
  url: string;
  verifier: string;
  nonce: string;
  state: string;
}

/** A relying party registered in Tessera and configured through discovery, as any RP would be. */
export class RelyingParty {
  readonly clientId: string;
  readonly clientSecret: string | undefined;
  readonly config: oidc.Configuration;

  private constructor(clientId: string, clientSecret: string | undefined, config: oidc.Configuration) {
    this.clientId = clientId;
    this.clientSecret = clientSecret;
    this.config = config;
  }

  static async register(t: Tessera, client: Partial<NewClient> = {}): Promise<RelyingParty> {
    const created = await t.services.clients.create({
      clientId: `rp-${randomBytes(4).toString('hex')}`,
      redirectUris: [REDIRECT_URI],
      postLogoutRedirectUris: [POST_LOGOUT_URI],
      grants: ['refresh_token'],
      ...client,
    });
    return RelyingParty.discover(t.issuer, created.clientId, created.clientSecret);
  }

  static async discover(issuer: string, clientId: string, clientSecret?: string): Promise<RelyingParty> {
    const config = await oidc.discovery(new URL(issuer), clientId, clientSecret ? { client_secret: clientSecret } : { token_endpoint_auth_method: 'none' },
      clientSecret ? oidc.ClientSecretBasic(clientSecret) : oidc.None(), { execute: [oidc.allowInsecureRequests, oidc.enableNonRepudiationChecks] });
    return new RelyingParty(clientId, clientSecret, config);
  }

  async authorize(params: Record<string, string> = {}): Promise<Authorization> {
    const verifier = oidc.randomPKCECodeVerifier();
    const nonce = oidc.randomNonce();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(this.config, {
      redirect_uri: REDIRECT_URI, scope: 'openid email profile', nonce, state,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...params,
    });
    return { url: url.href, verifier, nonce, state };
  }

  tokens(callbackUrl: string, auth: Authorization) {
    return oidc.authorizationCodeGrant(this.config, new URL(callbackUrl), {
      pkceCodeVerifier: auth.verifier, expectedNonce: auth.nonce, expectedState: auth.state,
    });
  }
}

/** Signs in through the hosted pages (and consent, if shown); returns the RP callback URL. */
export async function signIn(agent: UserAgent, authUrl: string, user: { email: string; password: string }): Promise<string> {
  let page = await agent.visit(authUrl);
  if (page.url.startsWith(REDIRECT_URI)) return page.url;
  page = await agent.submit(page, /\/login$/, { email: user.email, password: user.password });
  if (page.url.startsWith(REDIRECT_URI)) return page.url;
  page = await agent.submit(page, /\/confirm$/);
  if (!page.url.startsWith(REDIRECT_URI)) throw new Error(`sign-in did not reach the RP: ${page.status} ${page.url}\n${page.body.slice(0, 400)}`);
  return page.url;
}

/** Full sign-in plus token exchange: what most tests need as a starting point. */
export async function signInAndGetTokens(rp: RelyingParty, user: TestUser, params: Record<string, string> = {}) {
  const agent = new UserAgent();
  const auth = await rp.authorize(params);
  const callback = await signIn(agent, auth.url, user);
  const tokens = await rp.tokens(callback, auth);
  return { agent, auth, callback, tokens };
}

/** A relying party's back-channel logout endpoint that records the logout tokens it receives. */
export async function backchannelListener() {
  const received: string[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => { received.push(new URLSearchParams(body).get('logout_token') ?? ''); res.end(); });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { uri: `http://127.0.0.1:${(server.address() as AddressInfo).port}/backchannel`, received, close: () => server.close() };
}

/** A request with headers fetch() will not send (Host); returns status, headers and body. */
export function rawRequest(base: string, path: string, headers: Record<string, string>, body?: string) {
  const url = new URL(path, base);
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path: url.pathname + url.search, method: body ? 'POST' : 'GET', headers: { accept: 'text/html', ...headers } }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
