// The messages Tessera sends, rendered from views/email/ (an HTML and a plain-text template each).
import path from 'node:path';
import ejs from 'ejs';
import type { Email } from './transports.ts';

const VIEWS = path.resolve(import.meta.dirname, '../../views/email');

async function render(name: string, data: Record<string, unknown>): Promise<{ text: string; html: string }> {
  const [html, text] = await Promise.all([
    ejs.renderFile(path.join(VIEWS, `${name}.html.ejs`), data),
    ejs.renderFile(path.join(VIEWS, `${name}.text.ejs`), data),
  ]);
  return { html, text };
}

export interface CodeMessages {
  signInCode(to: string, code: string): Promise<Email>;
  recoveryCodeUsed(to: string, left: number): Promise<Email>;
  /** The SMS body and the sentence a voice call reads out. */
  smsCode(code: string): string;
  voiceCode(code: string): string;
}

export function createMessages(productName = 'Tessera', lifetimeMinutes = 15): CodeMessages {
  return {
    async signInCode(to, code) {
      return { to, subject: `${code} is your ${productName} sign-in code`, ...(await render('sign-in-code', { code, productName, lifetimeMinutes })) };
    },
    async recoveryCodeUsed(to, left) {
      return { to, subject: `A ${productName} recovery code was used`, ...(await render('recovery-code-used', { productName, left })) };
    },
    smsCode: (code) => `${code} is your ${productName} code. It expires in ${lifetimeMinutes} minutes. Do not share it.`,
    voiceCode: (code) => `Your ${productName} code is ${code.split('').join(', ')}. Again: ${code.split('').join(', ')}.`,
  };
}
