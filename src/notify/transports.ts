// How messages leave Tessera: email over SMTP (nodemailer), SMS and voice calls through a provider
// (Twilio's REST API, or the development outbox). A failed delivery is an error the caller shows
// the user with a way forward; it is never swallowed.
import nodemailer from 'nodemailer';

export interface Email {
  to: string;
  subject: string;
  text: string;
  html: string;
}

export interface Transports {
  email(message: Email): Promise<void>;
  sms(to: string, text: string): Promise<void>;
  /** Calls `to` and reads `spoken` out. */
  voice(to: string, spoken: string): Promise<void>;
}

export class DeliveryError extends Error {
  override name = 'DeliveryError';
  readonly channel: 'email' | 'sms' | 'voice';
  constructor(channel: DeliveryError['channel'], message: string) {
    super(message);
    this.channel = channel;
  }
}

/** The development outbox: the last messages, in this process's memory (never in the database). */
export interface OutboxEntry {
  channel: 'email' | 'sms' | 'voice';
  to: string;
  subject?: string;
  text: string;
  at: Date;
}

export function createOutbox(limit = 100) {
  const entries: OutboxEntry[] = [];
  return {
    add(entry: OutboxEntry) {
      entries.unshift(entry);
      entries.length = Math.min(entries.length, limit);
    },
    /** Newest first. */
    list: (): readonly OutboxEntry[] => entries,
  };
}
export type Outbox = ReturnType<typeof createOutbox>;

export interface TwilioSettings {
  accountSid: string;
  authToken: string;
  from: string;
  apiBase: string;
}

export interface TransportSettings {
  smtpUrl?: string;
  mailFrom: string;
  smsProvider: 'twilio' | 'outbox';
  twilio?: TwilioSettings;
  timeoutMs: number;
}

function twilio(settings: TwilioSettings, timeoutMs: number) {
  const auth = `Basic ${Buffer.from(`${settings.accountSid}:${settings.authToken}`).toString('base64')}`;
  return async (channel: 'sms' | 'voice', resource: 'Messages' | 'Calls', form: Record<string, string>) => {
    const url = `${settings.apiBase.replace(/\/$/, '')}/2010-04-01/Accounts/${encodeURIComponent(settings.accountSid)}/${resource}.json`;
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ From: settings.from, ...form }),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw new DeliveryError(channel, `the ${channel === 'sms' ? 'text message' : 'call'} provider did not answer (${(err as Error).name})`);
    }
    if (!res.ok) {
      const detail = await res.json().then((b) => (b as { message?: string }).message, () => undefined);
      throw new DeliveryError(channel, `the ${channel === 'sms' ? 'text message' : 'call'} provider refused it (${res.status}${detail ? `: ${detail}` : ''})`);
    }
  };
}

const escapeXml = (s: string) => s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * SMTP_URL with the delivery timeout as its connect, greeting and socket-idle limits. nodemailer
 * reads a URL's options from the URL alone (a second argument is message defaults, and an options
 * object's `url` replaces its other fields), so the limits go into the query, overriding any there.
 */
export function smtpUrlWithTimeouts(smtpUrl: string, timeoutMs: number): string {
  const url = new URL(smtpUrl);
  for (const name of ['connectionTimeout', 'greetingTimeout', 'socketTimeout']) url.searchParams.set(name, String(timeoutMs));
  return url.href;
}

export function createTransports(settings: TransportSettings, outbox: Outbox): Transports {
  const mailer = settings.smtpUrl ? nodemailer.createTransport(smtpUrlWithTimeouts(settings.smtpUrl, settings.timeoutMs)) : undefined;
  const provider = settings.smsProvider === 'twilio' && settings.twilio ? twilio(settings.twilio, settings.timeoutMs) : undefined;
  return {
    async email(message) {
      if (!mailer) {
        outbox.add({ channel: 'email', to: message.to, subject: message.subject, text: message.text, at: new Date() });
        return;
      }
      try {
        await mailer.sendMail({ from: settings.mailFrom, ...message });
      } catch (err) {
        throw new DeliveryError('email', `the email could not be sent (${(err as { code?: string }).code ?? (err as Error).name})`);
      }
    },
    async sms(to, text) {
      if (!provider) { outbox.add({ channel: 'sms', to, text, at: new Date() }); return; }
      await provider('sms', 'Messages', { To: to, Body: text });
    },
    async voice(to, spoken) {
      if (!provider) { outbox.add({ channel: 'voice', to, text: spoken, at: new Date() }); return; }
      await provider('voice', 'Calls', { To: to, Twiml: `<Response><Say>${escapeXml(spoken)}</Say><Pause length="1"/><Say>${escapeXml(spoken)}</Say></Response>` });
    },
  };
}
