// Browsers, systems and places inside the pages' sentences (devices/device-words.ts): the words
// around them ("on", "unter", a comma in Polish) and the stand-ins for a request that named none
// come from the page's language, and a country is named in it.
import assert from 'node:assert/strict';
import { translator } from '../../src/i18n/index.ts';
import { browserOn, deviceLabel, placeIn, softwareIn } from '../../src/devices/device-words.ts';
import { clientInfo } from '../../src/devices/client-info.ts';

const [en, pl, de] = [translator('en'), translator('pl'), translator('de')];
const firefox = { browser: 'Firefox 128', os: 'Linux' };

describe('browsers, systems and places in the page\'s language', () => {
  it('joins a browser and its system with the language\'s words', () => {
    assert.equal(browserOn(en, firefox), 'Firefox 128 on Linux');
    assert.equal(browserOn(pl, firefox), 'Firefox 128, Linux');
    assert.equal(browserOn(de, firefox), 'Firefox 128 unter Linux');
  });

  it('suggests a device name in the language (a name the person keeps, at most 64 characters)', () => {
    assert.equal(deviceLabel(en, firefox), 'Firefox 128 on Linux');
    assert.equal(deviceLabel(pl, firefox), 'Firefox 128, Linux');
    assert.equal(deviceLabel(de, firefox), 'Firefox 128 unter Linux');
    assert.equal(deviceLabel(en, { browser: 'B'.repeat(80), os: 'Linux' }).length, 64);
  });

  it('says "unknown" in the language for a request that named no browser or system', () => {
    const nameless = clientInfo('127.0.0.1', '');
    assert.deepEqual(softwareIn(pl, nameless), { browser: 'nieznana przeglądarka', os: 'nieznany system' });
    assert.equal(browserOn(pl, nameless), 'nieznana przeglądarka, nieznany system');
    assert.equal(browserOn(de, {}), 'ein unbekannter Browser unter einem unbekannten System');
    assert.doesNotMatch(browserOn(pl, nameless) + browserOn(de, nameless), /Unknown|unknown/);
  });

  it('names the country in the language, and an unknown place in it', () => {
    assert.equal(placeIn(pl, 'pl', { country: 'DE', city: 'Berlin' }), 'Berlin, Niemcy');
    assert.equal(placeIn(de, 'de', { country: 'PL' }), 'Polen');
    assert.equal(placeIn(en, 'en', { country: 'PL', city: 'Kraków' }), 'Kraków, Poland');
    assert.equal(placeIn(pl, 'pl', undefined), 'nieznana lokalizacja');
    assert.equal(placeIn(en, 'en', undefined), 'unknown location');
  });
});
