// The console's logo upload (POST /admin/clients/<id>/logo, multipart/form-data): read here, before
// the CSRF check (which needs the form's _csrf field), into ctx.request.body and ctx.state.logoUpload.
// The file is held in memory only: at most MAX_UPLOAD bytes are read, and the logo's own size limit
// (branding/logos.ts) is checked afterwards so a too-large logo gets a sentence, not a bare 413.
import { Writable } from 'node:stream';
import type { Context, Next } from 'koa';
import formidable from 'formidable';
import { UserFacingError } from '../http/errors.ts';

const LOGO_FORM = /^\/admin\/clients\/[^/]+\/logo$/;
const MAX_UPLOAD = 2 * 1024 * 1024;

export function logoUpload() {
  return async (ctx: Context, next: Next) => {
    if (ctx.method !== 'POST' || !LOGO_FORM.test(ctx.path) || !ctx.is('multipart/form-data')) return next();
    const chunks: Buffer[] = [];
    const form = formidable({
      maxFiles: 1, maxFields: 5, maxFieldsSize: 16 * 1024, maxFileSize: MAX_UPLOAD, maxTotalFileSize: MAX_UPLOAD, allowEmptyFiles: true, minFileSize: 0,
      fileWriteStreamHandler: () => new Writable({ write(chunk: Buffer, _enc, done) { chunks.push(chunk); done(); } }),
    });
    try {
      const [fields, files] = await form.parse(ctx.req);
      ctx.request.body = Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, v?.[0] ?? '']));
      ctx.state.logoUpload = files.logo?.length ? Buffer.concat(chunks) : undefined;
    } catch {
      throw new UserFacingError(413, 'upload_too_large', `The upload could not be read, or is larger than ${MAX_UPLOAD / 1024 / 1024} MB. Choose a PNG, JPEG or WebP logo of at most 100 KB and upload it again.`);
    }
    await next();
  };
}
