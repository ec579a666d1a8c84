// Configuration: defaults from config/, environment overrides, and one clear error per bad setting.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, copyFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, ConfigError } from '../../src/config/load.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const KEY = Buffer.alloc(32, 7).toString('base64');
const COOKIE = 'c'.repeat(32);

function tmpDir(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'tessera-config-'));
}

describe('configuration', () => {
  it('reads the defaults and lets the environment override them', () => {
    const config = loadConfig({ env: { NODE_ENV: 'test', TESSERA_DATA_DIR: tmpDir(), PORT: '4000', TRUST_PROXY: 'true', COOKIE_KEYS: `${COOKIE},${'d'.repeat(40)}`, ENCRYPTION_KEY: KEY } });
    assert.equal(config.port, 4000);
    assert.equal(config.issuer, 'http://localhost:3000');
    assert.equal(config.trustProxy, true);
    assert.deepEqual(config.cookieKeys, [COOKIE, 'd'.repeat(40)]);
    assert.equal(config.password.memoryCostKiB, 19456, 'OWASP argon2id default');
  });

  it('generates development secrets once and reuses them', () => {
    const dataDir = tmpDir();
    const a = loadConfig({ env: { NODE_ENV: 'development', TESSERA_DATA_DIR: dataDir } });
    const b = loadConfig({ env: { NODE_ENV: 'development', TESSERA_DATA_DIR: dataDir } });
    assert.deepEqual(a.cookieKeys, b.cookieKeys);
    assert.equal(a.encryptionKey, b.encryptionKey);
    const file = JSON.parse(readFileSync(path.join(dataDir, 'secrets.json'), 'utf8'));
    assert.equal(file.encryptionKey, a.encryptionKey);
  });

  it('requires explicit secrets and a database in production', () => {
    const env = { NODE_ENV: 'production', TESSERA_DATA_DIR: tmpDir() };
    assert.throws(() => loadConfig({ env }), /COOKIE_KEYS is required when NODE_ENV=production/);
    assert.throws(() => loadConfig({ env: { ...env, COOKIE_KEYS: COOKIE } }), /ENCRYPTION_KEY is required/);
    assert.throws(() => loadConfig({ env: { ...env, COOKIE_KEYS: COOKIE, ENCRYPTION_KEY: KEY } }), /MONGODB_URI is required/);
    const core = { ...env, COOKIE_KEYS: COOKIE, ENCRYPTION_KEY: KEY, MONGODB_URI: 'mongodb://db/tessera' };
    assert.throws(() => loadConfig({ env: core }), /SMS_PROVIDER=outbox is for development/);
    assert.throws(() => loadConfig({ env: { ...core, SMS_PROVIDER: 'twilio' } }), /SMS_PROVIDER=twilio needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM/);
    const delivery = { SMS_PROVIDER: 'twilio', TWILIO_ACCOUNT_SID: 'AC1', TWILIO_AUTH_TOKEN: 'tok', TWILIO_FROM: '+15550100' };
    assert.throws(() => loadConfig({ env: { ...core, ...delivery } }), /SMTP_URL is required when NODE_ENV=production/);
    const ok = loadConfig({ env: { ...core, ...delivery, SMTP_URL: 'smtp://mail:25' } });
    assert.equal(ok.env, 'production');
  });

  const base = { NODE_ENV: 'test', COOKIE_KEYS: COOKIE, ENCRYPTION_KEY: KEY };
  for (const [name, value, message] of [
    ['COOKIE_KEYS', 'short', /COOKIE_KEYS \(cookieKeys\): each key must be at least 32 characters/],
    ['ENCRYPTION_KEY', 'abc', /ENCRYPTION_KEY \(encryptionKey\): must be 32 bytes/],
    ['ISSUER', 'https://id.example.com/', /ISSUER \(issuer\): must have no query, fragment or trailing slash/],
    ['PORT', '70000', /PORT \(port\)/],
    ['TRUST_PROXY', 'maybe', /TRUST_PROXY must be true or false/],
    ['MONGODB_URI', 'postgres://x', /MONGODB_URI \(mongodbUri\)/],
  ] as const) {
    it(`rejects ${name}=${value} with a message naming it`, () => {
      assert.throws(() => loadConfig({ env: { ...base, TESSERA_DATA_DIR: tmpDir(), [name]: value } }), (err: Error) => err instanceof ConfigError && message.test(err.message));
    });
  }

  it('names the file when a config file is not valid JSON, and the path when a value is wrong', () => {
    const dir = tmpDir();
    mkdirSync(path.join(dir, 'cfg'));
    copyFileSync(path.join(ROOT, 'config/default.json'), path.join(dir, 'cfg/default.json'));
    writeFileSync(path.join(dir, 'cfg/local.json'), '{ "port": ');
    assert.throws(() => loadConfig({ configDir: path.join(dir, 'cfg'), env: { ...base, TESSERA_DATA_DIR: dir } }), /Invalid configuration file .*local\.json/);
    writeFileSync(path.join(dir, 'cfg/local.json'), JSON.stringify({ ttl: { sessionSeconds: -1 } }));
    assert.throws(() => loadConfig({ configDir: path.join(dir, 'cfg'), env: { ...base, TESSERA_DATA_DIR: dir } }), /ttl\.sessionSeconds/);
  });

  it('keeps the production example valid', () => {
    const dir = tmpDir();
    mkdirSync(path.join(dir, 'cfg'));
    copyFileSync(path.join(ROOT, 'config/default.json'), path.join(dir, 'cfg/default.json'));
    copyFileSync(path.join(ROOT, 'config/production.example.json'), path.join(dir, 'cfg/production.json'));
    const config = loadConfig({ configDir: path.join(dir, 'cfg'), env: {
      NODE_ENV: 'production', COOKIE_KEYS: COOKIE, ENCRYPTION_KEY: KEY, MONGODB_URI: 'mongodb://db/tessera', TESSERA_DATA_DIR: dir,
      SMTP_URL: 'smtp://mail:25', TWILIO_ACCOUNT_SID: 'AC1', TWILIO_AUTH_TOKEN: 'tok', TWILIO_FROM: '+15550100',
    } });
    assert.equal(config.issuer, 'https://id.example.com');
  });
});
