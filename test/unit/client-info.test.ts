// What a request says about where it comes from: the browser and system of its User-Agent (each
// header parsed once per process) and the place of its IP, never one request's for another's.
import assert from 'node:assert/strict';
import { clientInfo, UNKNOWN_BROWSER, UNKNOWN_SYSTEM } from '../../src/devices/client-info.ts';

const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
const SAFARI = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';

describe('client info (devices/client-info.ts)', () => {
  it('names the browser and system of each User-Agent, the same on every request, in any order', () => {
    for (let i = 0; i < 3; i++) {
      assert.deepEqual({ browser: clientInfo('127.0.0.1', FIREFOX).browser, os: clientInfo('127.0.0.1', FIREFOX).os }, { browser: 'Firefox 128', os: 'Linux' });
      assert.deepEqual({ browser: clientInfo('127.0.0.1', SAFARI).browser, os: clientInfo('127.0.0.1', SAFARI).os }, { browser: 'Mobile Safari 17', os: 'iOS 17.5' });
    }
    assert.deepEqual([clientInfo('127.0.0.1', undefined).browser, clientInfo('127.0.0.1', '').os], [UNKNOWN_BROWSER, UNKNOWN_SYSTEM]);
  });

  it('places each request by its own IP, whatever its browser', () => {
    const london = clientInfo('81.2.69.142', FIREFOX);
    const local = clientInfo('127.0.0.1', FIREFOX);
    assert.equal(london.location?.country, 'GB');
    assert.ok(london.ll, 'with coordinates for the risk policy');
    assert.equal(local.location, undefined);
    assert.equal(local.ll, undefined);
    assert.equal(local.ip, '127.0.0.1');
  });

  it('reads at most 512 characters of a User-Agent, however long', () => {
    const long = `${FIREFOX}${' x'.repeat(10_000)}`;
    assert.equal(clientInfo('127.0.0.1', long).browser, 'Firefox 128');
  });
});
