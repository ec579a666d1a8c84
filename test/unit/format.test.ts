// Dates and times as a person reads them (i18n/format.ts): the language's long date, a 24-hour
// time, the account's zone (daylight saving included) and always the zone's name; UTC without a
// zone or with one this runtime does not know.
import assert from 'node:assert/strict';
import { clockFace, day, stamp, zoneOf } from '../../src/i18n/format.ts';

describe('dates and times in the reader\'s language and zone', () => {
  const winter = new Date('2026-12-05T20:48:00Z');
  const summer = new Date('2026-07-01T12:34:56Z');

  it('writes a moment in each language, the zone named', () => {
    assert.equal(stamp(winter, 'Europe/Warsaw', 'pl'), '5 grudnia 2026, 21:48 CET');
    assert.equal(stamp(winter, 'Europe/Warsaw', 'de'), '5. Dezember 2026, 21:48 MEZ');
    assert.equal(stamp(winter, undefined, 'en'), '5 December 2026, 20:48 UTC');
    assert.equal(stamp(winter), '5 December 2026, 20:48 UTC');
  });

  it('follows daylight saving in the profile\'s zone', () => {
    assert.equal(stamp(summer, 'Europe/Warsaw', 'pl'), '1 lipca 2026, 14:34 CEST');
    assert.equal(stamp(summer, 'Europe/Berlin', 'de'), '1. Juli 2026, 14:34 MESZ');
    assert.equal(stamp(summer, 'Europe/London', 'en'), '1 July 2026, 13:34 BST');
    assert.equal(stamp(winter, 'Europe/London', 'en'), '5 December 2026, 20:48 GMT');
    // a zone without a name in the language: its offset, so the time is still never ambiguous
    assert.equal(stamp(winter, 'America/New_York', 'en'), '5 December 2026, 15:48 GMT-5');
    assert.equal(stamp(summer, 'America/New_York', 'de'), '1. Juli 2026, 08:34 GMT-4');
  });

  it('crosses midnight into the zone\'s own day', () => {
    const late = new Date('2026-01-15T23:10:00Z');
    assert.equal(stamp(late, 'Europe/Paris', 'en'), '16 January 2026, 00:10 CET');
    assert.equal(day(late, 'Europe/Paris', 'pl'), '16 stycznia 2026');
    assert.equal(day(late, undefined, 'de'), '15. Januar 2026');
  });

  it('falls back to UTC for a zone this runtime does not know (and for an unknown language, English)', () => {
    assert.equal(zoneOf('Mars/Olympus'), 'UTC');
    assert.equal(zoneOf(undefined), 'UTC');
    assert.equal(zoneOf('Europe/Warsaw'), 'Europe/Warsaw');
    assert.equal(stamp(winter, 'Mars/Olympus', 'pl'), '5 grudnia 2026, 20:48 UTC');
    assert.equal(stamp(winter, 'not a zone', 'de'), '5. Dezember 2026, 20:48 UTC');
    assert.equal(stamp(winter, 'Europe/Warsaw', 'fr'), '5 December 2026, 21:48 CET');
  });

  it('writes a dash for no time, and binds a zone and language for the pages', () => {
    assert.equal(stamp(undefined, 'Europe/Paris'), '—');
    assert.equal(day(undefined), '—');
    const face = clockFace('Europe/Warsaw', 'de');
    assert.equal(face.when(winter), '5. Dezember 2026, 21:48 MEZ');
    assert.equal(face.day(winter), '5. Dezember 2026');
  });
});
