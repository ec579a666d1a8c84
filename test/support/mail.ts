// A real SMTP server in the test process (smtp-server) that keeps what it receives, so tests read
// the emails Tessera sends the way a mailbox would.
import assert from 'node:assert/strict';
import { SMTPServer } from 'smtp-server';
import type { AddressInfo } from 'node:net';

/** How long a test waits for a message or a background write: generous, as a busy machine is slow, not wrong. */
export const WAIT_MS = 20_000;

/** Polls `find` until it returns a value (not undefined or false), for up to `timeoutMs`. */
export async function eventually<T>(find: () => T | undefined | false | Promise<T | undefined | false>, what: string, timeoutMs = WAIT_MS): Promise<T> {
  for (const deadline = Date.now() + timeoutMs; ; await new Promise((r) => setTimeout(r, 20))) {
    const found = await find();
    if (found !== undefined && found !== false) return found;
    if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for ${what}`);
  }
}

export interface ReceivedMail {
  from: string;
  to: string[];
  raw: string;
  /** The decoded text of the message (quoted-printable soft breaks removed). */
  text: string;
}

export async function startSmtp() {
  const received: ReceivedMail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onData(stream, session, callback) {
      let raw = '';
      stream.on('data', (d: Buffer) => { raw += d.toString(); });
      stream.on('end', () => {
        const text = raw.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw, text,
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://127.0.0.1:${port}`,
    received,
    /**
     * The newest message to `address` that `match` accepts (a pattern tested on the decoded text,
     * headers included, or a predicate), among those received from index `since` on; waits for one.
     * Never "the last email": a notice sent in the background can land before or after the one wanted.
     */
    waitFor(address: string, match: RegExp | ((m: ReceivedMail) => boolean), since = 0): Promise<ReceivedMail> {
      const accepts = typeof match === 'function' ? match : (m: ReceivedMail) => match.test(m.text);
      return eventually(() => received.slice(since).filter((m) => m.to.includes(address) && accepts(m)).at(-1), `an email to ${address} matching ${String(match)}`);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
export type Smtp = Awaited<ReturnType<typeof startSmtp>>;

/** A part (text/plain or text/html) of a MIME message, decoded to a string. */
export function partOf(mail: ReceivedMail, type: 'text/plain' | 'text/html'): string {
  const m = new RegExp(`Content-Type: ${type}[^\\r\\n]*\\r\\n((?:[^\\r\\n]+\\r\\n)*)\\r\\n([\\s\\S]*?)\\r\\n--`, 'i').exec(mail.raw);
  assert.ok(m, `the email has a ${type} part`);
  const [, headers, body] = m as unknown as [string, string, string];
  if (/Content-Transfer-Encoding: base64/i.test(headers)) return Buffer.from(body, 'base64').toString('utf8');
  if (!/Content-Transfer-Encoding: quoted-printable/i.test(headers)) return body;
  const soft = body.replace(/=\r\n/g, '');
  const bytes: number[] = [];
  for (let i = 0; i < soft.length; i++) {
    const hex = soft[i] === '=' ? /^[0-9A-F]{2}/i.exec(soft.slice(i + 1, i + 3))?.[0] : undefined;
    if (hex) { bytes.push(parseInt(hex, 16)); i += 2; } else bytes.push(soft.charCodeAt(i));
  }
  return Buffer.from(bytes).toString('utf8');
}
