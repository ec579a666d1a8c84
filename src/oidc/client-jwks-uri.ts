// The keys a private_key_jwt client publishes at its jwks_uri pass the rules a registered JWKS
// passes (client-jwks.ts) before oidc-provider uses them, whatever the source of the keys.
// oidc-provider fetches a jwks_uri through its `fetch` option (lib/models/client.js,
// ClientKeyStore.refresh, with its 2.5 s timeout signal and private-address guard already set):
// this wraps that fetch, reads the set within a size cap, and refuses it, once per fetch, with one
// log line. The provider then answers invalid_client with its own words; a post-middleware puts
// the reason in their place, so the client's developers learn what to fix.
import Provider from 'oidc-provider';
import { MAX_CLIENT_JWKS_CHARS, clientJwksProblem } from './client-jwks.ts';

type FetchOptions = RequestInit & { dispatcher?: unknown };
export type ProviderFetch = (url: URL | string | Request, options?: FetchOptions) => Promise<Response>;

/** The most bytes of a served JWKS read: room for whitespace around the largest set a client may register. */
export const MAX_SERVED_JWKS_BYTES = 4 * MAX_CLIENT_JWKS_CHARS;
const MAX_LOGGED_REASON = 300;
/** Where the refusal's reason waits, on the request's state, for the answer to be written. */
const REFUSED = Symbol('tessera.clientKeysRefused');

type RequestState = Record<symbol, string | undefined>;

/** Why a served JWKS was not used (the request's client assertion is then refused). */
export class ClientKeysRefused extends Error {}

/** The client of the current provider request, when `url` is its jwks_uri. */
function clientFetchingItsKeys(url: URL | string | Request, options: FetchOptions | undefined) {
  const ctx = Provider.ctx;
  const client = ctx?.oidc?.client;
  if (!ctx || !client?.jwksUri || (options?.method ?? 'GET').toUpperCase() !== 'GET') return undefined;
  const href = url instanceof Request ? url.url : String(url);
  return URL.parse(client.jwksUri)?.href === href ? { state: ctx.state as RequestState, clientId: client.clientId } : undefined;
}

/** The response's body as text, or a sentence when it is longer than the cap (reading stops there). */
async function boundedText(response: Response): Promise<{ text: string } | { problem: string }> {
  const tooLarge = { problem: `the JWKS is larger than ${MAX_SERVED_JWKS_BYTES} bytes` };
  if (Number(response.headers.get('content-length') ?? 0) > MAX_SERVED_JWKS_BYTES) {
    await response.body?.cancel();
    return tooLarge;
  }
  const chunks: Uint8Array[] = [];
  let received = 0;
  for await (const chunk of response.body ?? []) {
    received += chunk.length;
    if (received > MAX_SERVED_JWKS_BYTES) {
      await response.body?.cancel();
      return tooLarge;
    }
    chunks.push(chunk);
  }
  return { text: Buffer.concat(chunks).toString('utf8') };
}

/** Why the served JWKS cannot be used, as a sentence; undefined when it can. */
function servedJwksProblem(text: string): string | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'the JWKS is not valid JSON';
  }
  return clientJwksProblem(value);
}

/**
 * The provider's `fetch` option: `inner` for every call, and for a client's jwks_uri the keys it
 * served checked first. A set that fails is never handed on: the fetch fails, so the provider
 * keeps no keys of it and fetches again next time. Other answers (an error status, a fetch
 * failure) reach the provider as they are.
 */
export function checkedClientKeysFetch(inner: ProviderFetch, log: (line: string) => void): ProviderFetch {
  return async (url, options) => {
    const fetching = clientFetchingItsKeys(url, options);
    const response = await inner(url, options);
    if (!fetching || response.status !== 200) return response;
    const read = await boundedText(response);
    const problem = 'problem' in read ? read.problem : servedJwksProblem(read.text);
    if (problem) {
      fetching.state[REFUSED] = problem;
      log(`[tessera] client ${fetching.clientId}: the keys at its jwks_uri were refused: ${problem.slice(0, MAX_LOGGED_REASON)}`);
      throw new ClientKeysRefused(problem);
    }
    // the body was read here: hand the same text on, with the headers the provider reads (its
    // cache lifetime comes from Cache-Control and Expires)
    const headers = new Headers(response.headers);
    headers.delete('content-length');
    headers.delete('content-encoding');
    return new Response((read as { text: string }).text, { status: response.status, statusText: response.statusText, headers });
  };
}

/**
 * The provider answers a refused set as any failed client authentication ("client authentication
 * failed"); the answer of the request whose fetch refused it says why instead. A request that only
 * waited on another request's fetch keeps the provider's words.
 */
export function explainRefusedClientKeys(provider: Provider): void {
  provider.use(async (ctx, next) => {
    await next();
    const reason = (ctx.state as RequestState)[REFUSED];
    const body = ctx.body as { error?: unknown } | undefined;
    if (!reason || typeof body !== 'object' || body === null || body.error !== 'invalid_client') return;
    ctx.body = { ...body, error_description: `the keys this client publishes at its jwks_uri are not acceptable: ${reason}` };
  });
}
