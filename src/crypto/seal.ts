// Authenticated encryption (AES-256-GCM) for secrets Tessera must store but never in clear:
// signing keys now, one-time codes later. The key comes from the ENCRYPTION_KEY setting.
import { createCipheriv, createDecipheriv, createSecretKey, hkdfSync, randomBytes } from 'node:crypto';

export interface Sealer {
  seal(plain: string, context: string): string;
  open(sealed: string, context: string): string;
}

/** `context` is bound as associated data: a value sealed for one purpose cannot be opened for another. */
export function createSealer(base64Key: string): Sealer {
  const bytes = Buffer.from(base64Key, 'base64');
  if (bytes.length !== 32) throw new Error('encryption key must be 32 bytes');
  // one key object for every seal and open (a Buffer key is made into one on every call)
  const key = createSecretKey(bytes);
  return {
    seal(plain, context) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(context));
      const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return ['v1', iv.toString('base64url'), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
    },
    open(sealed, context) {
      const [version, iv, body, tag] = sealed.split('.');
      if (version !== 'v1' || !iv || !body || !tag) throw new Error('not a sealed value');
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(context));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
    },
  };
}

/** A 32-byte key for one purpose derived from ENCRYPTION_KEY (HKDF-SHA256), e.g. the HMAC of token ids. */
export function deriveKey(base64Key: string, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(base64Key, 'base64'), Buffer.alloc(0), purpose, 32));
}
