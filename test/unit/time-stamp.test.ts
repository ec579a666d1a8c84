// Times on the security center's pages (issue 20): in the person's time zone when the profile
// names one, else UTC; the zone is named either way.
import assert from 'node:assert/strict';
import { day, stamp } from '../../src/account/time.ts';

describe('times as the person reads them', () => {
  const summer = new Date('2026-07-01T12:34:56Z');
  const winter = new Date('2026-01-15T23:10:00Z');
  it('UTC without a zone', () => {
    assert.equal(stamp(summer), '2026-07-01 12:34 UTC');
  });
  it('the profile\'s zone, daylight saving included, across midnight', () => {
    assert.equal(stamp(summer, 'Europe/Paris'), '2026-07-01 14:34 Europe/Paris');
    assert.equal(stamp(winter, 'Europe/Paris'), '2026-01-16 00:10 Europe/Paris');
    assert.equal(stamp(winter, 'America/New_York'), '2026-01-15 18:10 America/New_York');
  });
  it('UTC for a zone this runtime does not know, and a dash for no time', () => {
    assert.equal(stamp(summer, 'Mars/Olympus'), '2026-07-01 12:34 UTC');
    assert.equal(stamp(undefined, 'Europe/Paris'), '—');
  });
  it('the day in the profile\'s zone (the date a page shows alone)', () => {
    assert.equal(day(winter, 'Europe/Paris'), '2026-01-16');
    assert.equal(day(winter), '2026-01-15');
    assert.equal(day(winter, 'Mars/Olympus'), '2026-01-15');
    assert.equal(day(undefined), '—');
  });
});
