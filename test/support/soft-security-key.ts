// A security key in software (ES256, as an authenticator answers a browser): registered to an
// account through Tessera's own WebAuthn store, it answers a page's assertion challenge; its
// private key can also be handed to Chromium's virtual authenticator (WebAuthn.addCredential), so
// a browser test has a registered key without walking the enrolment pages.
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isoCBOR } from '@simplewebauthn/server/helpers';
import type { Tessera } from './tessera.ts';

const b64 = (bytes: Uint8Array | Buffer) => Buffer.from(bytes).toString('base64url');

export class SoftSecurityKey {
  readonly id = randomBytes(16);
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly issuer: string;
  private counter = 0;

  constructor(issuer: string) {
    this.issuer = issuer;
    ({ privateKey: this.privateKey, publicKey: this.publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' }));
  }

  private get rpIdHash() { return createHash('sha256').update(new URL(this.issuer).hostname).digest(); }

  /** Registers this key to the account (as the account page's ceremony would) and makes it the routine second factor. */
  async registerTo(t: Tessera, account: { id: string; email: string }): Promise<void> {
    const scope = `soft-key-${randomBytes(4).toString('hex')}`;
    const options = await t.services.webauthn.registrationOptions(account, scope, 'key');
    const result = await t.services.webauthn.register(account, scope, this.registration(options.challenge), 'Soft key');
    if (!result.ok) throw new Error(`the soft key was not registered: ${result.message}`);
    await t.services.accounts.setSecondFactor(account.id, 'webauthn');
  }

  private registration(challenge: string): string {
    const jwk = this.publicKey.export({ format: 'jwk' });
    const coseKey = isoCBOR.encode(new Map<number, number | Uint8Array>([[1, 2], [3, -7], [-1, 1], [-2, Buffer.from(jwk.x!, 'base64url')], [-3, Buffer.from(jwk.y!, 'base64url')]]));
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(this.id.length);
    // UP | UV | AT, AAGUID all zero
    const authData = Buffer.concat([this.rpIdHash, Buffer.from([0x45]), Buffer.alloc(4), Buffer.alloc(16), idLength, this.id, Buffer.from(coseKey)]);
    const attestationObject = isoCBOR.encode(new Map<string, unknown>([['fmt', 'none'], ['attStmt', new Map()], ['authData', new Uint8Array(authData)]]) as never);
    const clientDataJSON = Buffer.from(JSON.stringify({ type: 'webauthn.create', challenge, origin: new URL(this.issuer).origin }));
    return JSON.stringify({
      id: b64(this.id), rawId: b64(this.id), type: 'public-key', clientExtensionResults: {},
      response: { clientDataJSON: b64(clientDataJSON), attestationObject: b64(attestationObject), transports: ['usb'] },
    });
  }

  /** The answer a browser posts for this challenge (the page's #webauthn-options); `forged`: signed by another key. */
  assertion(challenge: string, { forged = false } = {}): string {
    const clientDataJSON = Buffer.from(JSON.stringify({ type: 'webauthn.get', challenge, origin: new URL(this.issuer).origin, crossOrigin: false }));
    const count = Buffer.alloc(4);
    count.writeUInt32BE(++this.counter);
    const authData = Buffer.concat([this.rpIdHash, Buffer.from([0x05]), count]);
    const signer = forged ? generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey : this.privateKey;
    const signature = sign('sha256', Buffer.concat([authData, createHash('sha256').update(clientDataJSON).digest()]), signer);
    return JSON.stringify({ id: b64(this.id), rawId: b64(this.id), type: 'public-key', clientExtensionResults: {},
      response: { clientDataJSON: b64(clientDataJSON), authenticatorData: b64(authData), signature: b64(signature) } });
  }

  /** The credential as Chromium's WebAuthn.addCredential takes it (binary fields in standard base64). */
  virtualCredential(): { credentialId: string; isResidentCredential: boolean; rpId: string; privateKey: string; signCount: number } {
    return {
      credentialId: this.id.toString('base64'), isResidentCredential: false, rpId: new URL(this.issuer).hostname,
      privateKey: this.privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64'), signCount: this.counter,
    };
  }
}
