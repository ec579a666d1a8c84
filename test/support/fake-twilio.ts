// A local fake of the two Twilio REST endpoints Tessera uses (Messages, Calls): it checks Basic
// auth and the form fields as Twilio would, records what it accepted, and can be told to fail.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TwilioRequest { resource: 'Messages' | 'Calls'; form: Record<string, string> }

export async function startFakeTwilio(account = { sid: 'ACtest0000000000000000000000000000', token: 'test-auth-token', from: '+15005550006' }) {
  const accepted: TwilioRequest[] = [];
  let failWith: number | 'hang' | undefined;
  /** For each request left hanging: how long (ms) until the caller gave it up. */
  const abandonedAfter: number[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      const reply = (status: number, json: object) => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(json)); };
      if (failWith === 'hang') { // never answers: the caller's timeout must fire
        const since = performance.now();
        res.once('close', () => abandonedAfter.push(Math.round(performance.now() - since)));
        return;
      }
      if (failWith) return reply(failWith, { code: 20500, message: 'Internal Server Error', status: failWith });
      const m = /^\/2010-04-01\/Accounts\/([^/]+)\/(Messages|Calls)\.json$/.exec(req.url ?? '');
      if (req.method !== 'POST' || !m) return reply(404, { message: 'not found' });
      if (req.headers.authorization !== `Basic ${Buffer.from(`${account.sid}:${account.token}`).toString('base64')}` || m[1] !== account.sid) {
        return reply(401, { code: 20003, message: 'Authenticate' });
      }
      const form = Object.fromEntries(new URLSearchParams(body));
      const resource = m[2] as TwilioRequest['resource'];
      if (form.From !== account.from || !/^\+[1-9]\d{6,14}$/.test(form.To ?? '')) return reply(400, { code: 21211, message: 'Invalid To or From' });
      if (resource === 'Messages' && !form.Body) return reply(400, { code: 21602, message: 'Message body is required' });
      if (resource === 'Calls' && !form.Twiml && !form.Url) return reply(400, { code: 21205, message: 'Url or Twiml is required' });
      accepted.push({ resource, form });
      reply(201, { sid: `SM${accepted.length}`, status: 'queued' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    apiBase: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    account,
    accepted,
    abandonedAfter,
    fail(status: number | 'hang' | undefined) { failWith = status; },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
export type FakeTwilio = Awaited<ReturnType<typeof startFakeTwilio>>;
