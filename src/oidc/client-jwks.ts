// A relying party's own public keys for private_key_jwt (RFC 7523): what an admin may register as
// a client's `jwks`. Public signing keys only, strong enough, each findable by its kid.
import { createPublicKey } from 'node:crypto';

export interface ClientJwks {
  keys: Record<string, unknown>[];
}

/** At most this many keys and this many characters of JSON: room for a rotation, not a dump. */
export const MAX_CLIENT_KEYS = 10;
export const MAX_CLIENT_JWKS_CHARS = 20_000;

/** Members only a private or symmetric key has (RFC 7518 §6.2.2, §6.3.2, §6.4.1; RFC 8037 §2). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const CURVES: Record<string, readonly string[]> = { EC: ['P-256', 'P-384'], OKP: ['Ed25519'] };

/** Why one key cannot be used, as the end of a sentence naming the key. */
function keyProblem(key: Record<string, unknown>): string | undefined {
  const secret = PRIVATE_MEMBERS.find((m) => m in key);
  if (secret) return `holds the private member "${secret}": paste only the public key (never the private one)`;
  if (key.kty !== 'RSA' && key.kty !== 'EC' && key.kty !== 'OKP') return `has kty ${JSON.stringify(key.kty)}: use RSA, EC (P-256, P-384) or OKP (Ed25519)`;
  if (key.kty !== 'RSA' && !CURVES[key.kty]!.includes(key.crv as string)) return `has the curve ${JSON.stringify(key.crv)}: use ${CURVES[key.kty]!.join(' or ')}`;
  if (key.use !== undefined && key.use !== 'sig') return `has use ${JSON.stringify(key.use)}: client keys sign, so use must be sig (or absent)`;
  if (key.kid !== undefined && (typeof key.kid !== 'string' || !key.kid)) return 'has a kid that is not a non-empty string';
  let details;
  try {
    details = createPublicKey({ key: key as never, format: 'jwk' }).asymmetricKeyDetails;
  } catch {
    return 'is not a valid public JWK';
  }
  if (key.kty === 'RSA' && (details?.modulusLength ?? 0) < 2048) return `is an RSA key of ${details?.modulusLength ?? 0} bits: use at least 2048`;
  return undefined;
}

/** Why `jwks` cannot be registered for a client, as a sentence; undefined when it can. */
export function clientJwksProblem(jwks: unknown): string | undefined {
  if (typeof jwks !== 'object' || jwks === null || Array.isArray(jwks)) return 'the JWKS must be a JSON object with a "keys" list';
  if (JSON.stringify(jwks).length > MAX_CLIENT_JWKS_CHARS) return `the JWKS is longer than ${MAX_CLIENT_JWKS_CHARS} characters`;
  const { keys } = jwks as { keys?: unknown };
  if (!Array.isArray(keys) || keys.length === 0) return 'the JWKS must have a "keys" list with at least one public key';
  if (keys.length > MAX_CLIENT_KEYS) return `the JWKS has ${keys.length} keys: at most ${MAX_CLIENT_KEYS}`;
  const kids = new Set<string>();
  for (const [i, key] of keys.entries()) {
    const name = typeof key?.kid === 'string' && key.kid ? `key "${key.kid}"` : `key ${i + 1}`;
    if (typeof key !== 'object' || key === null || Array.isArray(key)) return `${name} of the JWKS is not a JSON object`;
    const problem = keyProblem(key as Record<string, unknown>);
    if (problem) return `${name} of the JWKS ${problem}`;
    if (typeof key.kid === 'string') {
      if (kids.has(key.kid)) return `two keys of the JWKS have the kid "${key.kid}": each key needs its own kid`;
      kids.add(key.kid);
    } else if (keys.length > 1) {
      return `${name} of the JWKS has no kid: with more than one key, each needs its own kid`;
    }
  }
  return undefined;
}

/** The JWKS an admin pasted as text (console, CLI), or a sentence saying why it is not one. */
export function parseClientJwks(text: string): { jwks: ClientJwks } | { problem: string } {
  if (text.length > MAX_CLIENT_JWKS_CHARS) return { problem: `the JWKS is longer than ${MAX_CLIENT_JWKS_CHARS} characters` };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { problem: 'the JWKS is not valid JSON: paste the whole {"keys": [...]} object' };
  }
  const problem = clientJwksProblem(value);
  return problem ? { problem } : { jwks: value as ClientJwks };
}
