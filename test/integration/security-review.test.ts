// Findings of the security review of the account and admin surfaces (issue 26) that are not about
// sign-ins in progress (those are in account-changes.test.ts): unusual HTTP methods on pages.
import assert from 'node:assert/strict';
import http from 'node:http';
import { startTessera, type Tessera } from '../support/tessera.ts';

/** A request with any method (fetch refuses some, such as CONNECT-like or WebDAV ones, in its own way). */
function send(base: string, method: string, path: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method, headers: { accept: 'text/html' } }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('security review of the account and admin surfaces', () => {
  let t: Tessera;
  const serverErrors: unknown[] = [];

  before(async () => { t = await startTessera({ log: (err) => serverErrors.push(err) }); });
  after(() => t.close());

  describe('unusual HTTP methods on pages', () => {
    for (const path of ['/account/security', '/account/security/password', '/admin', '/admin/users', '/interaction/abcdefghijklmnopqrstuvwxyz']) {
      it(`answers 405 with Allow: GET, HEAD, POST for DELETE, PUT, PROPFIND, LOCK and PURGE on ${path}, and logs no error`, async () => {
        for (const method of ['DELETE', 'PUT', 'PROPFIND', 'LOCK', 'PURGE']) {
          const res = await send(t.issuer, method, path);
          assert.equal(res.status, 405, `${method} ${path}`);
          assert.equal(res.headers.allow, 'GET, HEAD, POST');
          assert.match(res.body, /can only be opened or its form sent/);
          assert.doesNotMatch(res.body, /at \w+ \(|node_modules/, 'no stack trace');
        }
        assert.deepEqual(serverErrors, []);
      });
    }
  });
});
