// Uploaded application logos: kept by Tessera in `brand_logos`, named by the SHA-256 of their
// bytes (so the URL changes with the image and can be cached for a year, and saving the same image
// twice is one document). Only PNG, JPEG and WebP, recognised from the bytes themselves (never the
// name or a declared type); SVG is refused because it can carry script. A logo is saved before the
// client's logo_uri points at it: a crash between the two leaves an unused image, never a broken link.
import { createHash } from 'node:crypto';
import { Schema } from 'mongoose';
import type { Database } from '../db/database.ts';
import { DomainError } from '../domain-error.ts';

export const MAX_LOGO_BYTES = 100 * 1024;
export const LOGO_PATH = '/branding/logos';

export type LogoType = 'image/png' | 'image/jpeg' | 'image/webp';
const EXTENSIONS: Record<LogoType, string> = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp' };
export const LOGO_FILE = /^([0-9a-f]{64})\.(png|jpg|webp)$/;

export class LogoError extends DomainError {
  override name = 'LogoError';
  constructor(message: string) {
    super('invalid', 'invalid_logo', message);
  }
}

/** The image type read from the first bytes (magic numbers), or undefined for anything else. */
export function sniffImage(bytes: Buffer): LogoType | undefined {
  if (bytes.length >= 8 && bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'image/png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
  if (bytes.length >= 12 && bytes.toString('latin1', 0, 4) === 'RIFF' && bytes.toString('latin1', 8, 12) === 'WEBP') return 'image/webp';
  return undefined;
}

/** Why these bytes cannot be a logo, as a sentence with the way forward; undefined when they can. */
export function logoProblem(bytes: Buffer): string | undefined {
  if (bytes.length === 0) return 'The logo file is empty. Choose a PNG, JPEG or WebP image.';
  if (bytes.length > MAX_LOGO_BYTES) return `The logo is ${Math.ceil(bytes.length / 1024)} KB; the limit is ${MAX_LOGO_BYTES / 1024} KB. Make it smaller (a logo is shown at most 48 pixels high) and upload it again.`;
  if (sniffImage(bytes)) return undefined;
  const head = bytes.subarray(0, 512).toString('utf8').trimStart().toLowerCase();
  if (head.startsWith('<svg') || head.startsWith('<?xml') || head.includes('<svg')) return 'SVG logos are not accepted (an SVG file can carry script). Upload a PNG, JPEG or WebP image instead.';
  return 'The logo is not a PNG, JPEG or WebP image. Upload one of those (the type is read from the file itself).';
}

interface LogoDoc {
  _id: string;
  type: LogoType;
  data: Buffer;
  createdAt: Date;
}

export type LogoStore = ReturnType<typeof createLogoStore>;

export function createLogoStore(db: Database, issuer: string, clock: () => Date) {
  const schema = new Schema<LogoDoc>({
    _id: String, type: { type: String, required: true }, data: { type: Buffer, required: true }, createdAt: { type: Date, required: true },
  }, { collection: 'brand_logos', versionKey: false });
  const Logos = db.model<LogoDoc>('BrandLogo', schema);

  return {
    /** Saves the image (once per content) and answers the URL to publish as the client's logo_uri. */
    async save(bytes: Buffer): Promise<string> {
      const problem = logoProblem(bytes);
      if (problem) throw new LogoError(problem);
      const type = sniffImage(bytes)!;
      const hash = createHash('sha256').update(bytes).digest('hex');
      // content-addressed: the same image twice is the same document (a duplicate insert is fine)
      await Logos.create({ _id: hash, type, data: bytes, createdAt: clock() }).catch((err: { code?: number }) => {
        if (err.code !== 11000) throw err;
      });
      return `${issuer.replace(/\/$/, '')}${LOGO_PATH}/${hash}.${EXTENSIONS[type]}`;
    },
    /** The stored image named by `file` (`<sha256>.<ext>`), if any. */
    async find(file: string): Promise<{ type: LogoType; data: Buffer } | undefined> {
      const match = LOGO_FILE.exec(file);
      if (!match) return undefined;
      const doc = await Logos.findById(match[1]).lean();
      if (!doc || EXTENSIONS[doc.type] !== match[2]) return undefined;
      return { type: doc.type, data: Buffer.from(doc.data.buffer ?? doc.data) };
    },
  };
}
