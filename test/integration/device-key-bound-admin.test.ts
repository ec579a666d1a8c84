// Whether a device's trust is bound to a device key (README "Device-bound trust"), as an admin sees
// it: the admin API's Device has `keyBound` (documented in the OpenAPI document), and the console's
// user page says "bound to a key" or "cookie only" beside a trusted device. Neither ever shows the
// key itself; removing the device discards the key, and `keyBound` says so.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import request from 'supertest';
import { generate } from 'otplib';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { UserAgent, createUser, type Page, type TestUser } from '../support/flow.ts';
import * as s from '../../src/admin/api/schemas.ts';
import type { DeviceKeyJwk } from '../../src/devices/device-key.ts';

const PREFIX = '/admin/api/v1';
const DAY = 86_400_000;

/** A browser's device public key (WebCrypto's P-256 JWK, as the trust form sends it). */
function deviceKey(): DeviceKeyJwk {
  const { x, y } = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
  return { kty: 'EC', crv: 'P-256', x: x!, y: y! };
}

describe('device-bound trust in the admin API and the console', function () {
  this.timeout(120_000);
  let t: Tessera;
  let person: TestUser;
  let token: string;
  const key = deviceKey();
  const ids = { bound: '', cookieOnly: '', untrusted: '' };
  const failures: unknown[] = [];

  before(async () => {
    t = await startTessera({ log: (err) => { failures.push(err); console.error('    [tessera 500]', err); } });
    person = await createUser(t, { email: `key-bound-${Date.now()}@example.com` });
    const seen = { browser: 'Firefox 128', os: 'Linux', ip: '203.0.113.9' };
    ids.bound = (await t.services.devices.ensure(person.id, 'browser-with-key', seen)).id;
    await t.services.devices.markVerified(ids.bound, { until: new Date(Date.now() + 30 * DAY), name: 'Laptop with key', key: { publicKey: key, nonce: 'n-1' } });
    ids.cookieOnly = (await t.services.devices.ensure(person.id, 'browser-cookie-only', seen)).id;
    await t.services.devices.markVerified(ids.cookieOnly, { until: new Date(Date.now() + 30 * DAY), name: 'Old tablet' });
    ids.untrusted = (await t.services.devices.ensure(person.id, 'browser-untrusted', seen)).id;

    const clientId = `key-bot-${Date.now()}`;
    const secret = (await t.services.clients.create({ clientId, redirectUris: [], grants: ['client_credentials'] })).clientSecret!;
    await t.services.clients.grantAdminApi(clientId);
    const granted = await request(t.issuer).post('/token').auth(clientId, secret).type('form').send({ grant_type: 'client_credentials', scope: 'admin' });
    assert.equal(granted.status, 200, JSON.stringify(granted.body));
    token = granted.body.access_token;
  });
  after(() => t?.close());
  afterEach(() => assert.deepEqual(failures.splice(0), [], 'never a 500'));

  const api = (method: 'get' | 'post', path: string) => request(t.issuer)[method](PREFIX + path).set('Authorization', `Bearer ${token}`);

  describe('the admin API', () => {
    it('says which devices\' trust is bound to a key, and never shows the key', async () => {
      const res = await api('get', `/users/${person.id}/devices`).expect(200);
      const { devices } = s.DevicesResponse.parse(res.body);
      const bound = Object.fromEntries(devices.map((d) => [d.id, d.keyBound]));
      assert.deepEqual(bound, { [ids.bound]: true, [ids.cookieOnly]: false, [ids.untrusted]: false });
      for (const d of res.body.devices as Record<string, unknown>[]) assert.equal(typeof d.keyBound, 'boolean', 'always present');
      const got = await api('get', `/devices/${ids.bound}`).expect(200);
      assert.equal(got.body.device.keyBound, true);
      for (const text of [res.text, got.text]) {
        assert.ok(!text.includes(key.x) && !text.includes(key.y), 'not the key');
        assert.doesNotMatch(text, /publicKey|keyNonce|keyFailures|"jwk"|"kty"/);
      }
    });

    it('documents keyBound on the Device schema, as a required boolean', async () => {
      const doc = (await request(t.issuer).get(`${PREFIX}/openapi.json`).expect(200)).body as { components: { schemas: Record<string, { properties: Record<string, { type?: string }>; required?: string[] }> } };
      const device = doc.components.schemas.Device!;
      assert.equal(device.properties.keyBound?.type, 'boolean');
      assert.ok(device.required?.includes('keyBound'));
    });
  });

  describe('the console\'s user page', () => {
    const PASSWORD = 'Correct#Horse1';
    let agent: UserAgent;

    before(async () => {
      const admin = await createUser(t, { name: 'Grace Admin', password: PASSWORD });
      await t.services.accounts.setRole(admin.id, 'admin');
      const { secret } = await t.services.totp.begin(admin.id, admin.email);
      const step = Math.floor(Date.now() / 30_000);
      assert.ok(await t.services.totp.confirm(admin.id, await generate({ secret, epoch: step * 30 })));
      agent = new UserAgent();
      let page = await agent.visit(`${t.issuer}/admin`);
      page = await agent.submit(page, /\/login$/, { email: admin.email, password: admin.password });
      page = await agent.submit(page, /\/factor$/, { code: await generate({ secret, epoch: (step + 1) * 30 }) });
      assert.equal(page.status, 200, page.body.slice(0, 300));
    });

    /** The text of the device's entry on the user page (tags removed). */
    const entry = (page: Page, id: string) => {
      const li = new RegExp(`<li id="device-${id}"[\\s\\S]*?</li>`).exec(page.body)?.[0] ?? '';
      return li.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');
    };

    it('shows "bound to a key" or "cookie only" beside a trusted device, and nothing of the key', async () => {
      const page = await agent.visit(`${t.issuer}/admin/users/${person.id}`);
      assert.equal(page.status, 200);
      assert.match(entry(page, ids.bound), /trust until \S+ bound to a key/);
      assert.doesNotMatch(entry(page, ids.bound), /cookie only/);
      assert.match(entry(page, ids.cookieOnly), /trust until \S+ cookie only/);
      assert.doesNotMatch(entry(page, ids.cookieOnly), /bound to a key/);
      assert.doesNotMatch(entry(page, ids.untrusted), /bound to a key|cookie only/, 'a device without trust has nothing to bind');
      assert.ok(!page.body.includes(key.x) && !page.body.includes(key.y), 'not the key');
    });

    it('shows the key discarded once the device is removed (admin API)', async () => {
      const removed = await api('post', `/devices/${ids.bound}/remove`).expect(200);
      assert.equal(removed.body.device.state, 'REMOVED');
      assert.equal(removed.body.device.keyBound, false);
      const page = await agent.visit(`${t.issuer}/admin/users/${person.id}`);
      assert.doesNotMatch(entry(page, ids.bound), /bound to a key|cookie only/);
    });
  });
});
