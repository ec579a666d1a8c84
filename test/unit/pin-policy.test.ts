// The pure rules behind the PIN and the signed-in session: which PINs are refused and why
// (src/policy/pin.ts), and re-authentication windows, auto-logout and the screen lock
// (src/policy/session.ts).
import assert from 'node:assert/strict';
import { pinProblem, type PinRules } from '../../src/policy/pin.ts';
import { VISIT_MAX_SECONDS, reauthWindowOpen, recentlyAuthenticated, sessionEndsAt, sessionState, type SessionFacts } from '../../src/policy/session.ts';

const RULES: PinRules = { minLength: 4, maxLength: 8, rejectTrivial: true };

describe('PIN rules', () => {
  for (const pin of ['4729', '0193', '73916285', '1357', '2468', '112233', '1231']) {
    it(`accepts ${pin}`, () => assert.equal(pinProblem(pin, RULES), undefined));
  }
  const refused: [string, RegExp][] = [
    ['', /digits only/], ['47a9', /digits only/], ['４７２９', /digits only/], [' 4729', /digits only/], ['-472', /digits only/],
    ['472', /4 to 8 digits/], ['472951836', /4 to 8 digits/],
    ['1111', /repeats itself/], ['0000', /repeats itself/], ['1212', /repeats itself/], ['121212', /repeats itself/], ['123123', /repeats itself/],
    ['1234', /sequence/], ['9876', /sequence/], ['8901', /sequence/], ['2109', /sequence/], ['34567890', /sequence/],
  ];
  for (const [pin, why] of refused) {
    it(`refuses "${pin}" (${why.source})`, () => assert.match(pinProblem(pin, RULES) ?? 'accepted', why));
  }
  it('allows trivial PINs when the rule is off, and follows a configured length', () => {
    assert.equal(pinProblem('1111', { ...RULES, rejectTrivial: false }), undefined);
    assert.match(pinProblem('4729', { ...RULES, minLength: 6 }) ?? '', /6 to 8 digits/);
    assert.equal(pinProblem('472951', { ...RULES, minLength: 6 }), undefined);
  });
});

describe('session rules', () => {
  const now = 1_800_000_000;
  it('counts a password or second factor within the window as recent, a PIN or an old proof not', () => {
    assert.ok(recentlyAuthenticated([{ factor: 'password', at: now - 300 }], now, 300));
    assert.ok(recentlyAuthenticated([{ factor: 'totp', at: now - 10 }], now, 300));
    assert.ok(!recentlyAuthenticated([{ factor: 'password', at: now - 301 }], now, 300));
    assert.ok(!recentlyAuthenticated([{ factor: 'pin', at: now }], now, 300));
    assert.ok(!recentlyAuthenticated([], now, 300));
    assert.ok(!recentlyAuthenticated([{ factor: 'password', at: now + 120 }], now, 300), 'a proof from the future is not trusted');
  });

  it('keeps the window open through a visit: each confirmed change slides it, up to an hour after the last proof', () => {
    const password = [{ factor: 'password' as const, at: now - 1000 }];
    assert.ok(!reauthWindowOpen(password, undefined, now, 300), 'no change since an old proof: closed');
    assert.ok(reauthWindowOpen(password, now - 299, now, 300), 'a change confirmed 299 s ago keeps it open');
    assert.ok(!reauthWindowOpen(password, now - 301, now, 300), 'idle longer than the window: closed');
    assert.ok(reauthWindowOpen([{ factor: 'totp' as const, at: now - VISIT_MAX_SECONDS }], now - 10, now, 300), 'a second factor counts as the proof');
    assert.ok(!reauthWindowOpen([{ factor: 'password' as const, at: now - VISIT_MAX_SECONDS - 1 }], now - 10, now, 300), 'never more than an hour after the last proof');
    assert.ok(!reauthWindowOpen([{ factor: 'pin' as const, at: now - 100 }], now - 10, now, 300), 'a PIN is no proof for a change');
    assert.ok(!reauthWindowOpen([], now - 10, now, 300), 'no proof at all');
    assert.ok(!reauthWindowOpen(password, now + 120, now, 300), 'a change from the future is not trusted');
  });

  const facts = (over: Partial<SessionFacts> = {}): SessionFacts => ({
    now, signedInAt: now - 3600, lastActiveAt: now - 60, locked: false, screenLockMinutes: 0, pinSkipped: false, maxDays: 90, ...over,
  });
  it('ends a session after the chosen auto-logout, never later than the server maximum', () => {
    assert.equal(sessionEndsAt({ signedInAt: 0, maxDays: 90 }), 90 * 86_400);
    assert.equal(sessionEndsAt({ signedInAt: 0, autoLogoutDays: 1, maxDays: 90 }), 86_400);
    assert.equal(sessionEndsAt({ signedInAt: 0, autoLogoutDays: 365, maxDays: 90 }), 90 * 86_400);
    assert.equal(sessionState(facts({ signedInAt: now - 86_400, autoLogoutDays: 1 })), 'ended');
    assert.equal(sessionState(facts({ signedInAt: now - 86_399, autoLogoutDays: 1 })), 'active');
  });
  it('locks after the screen-lock minutes of inactivity, unless off or the IP skips the PIN', () => {
    assert.equal(sessionState(facts({ screenLockMinutes: 5, lastActiveAt: now - 299 })), 'active');
    assert.equal(sessionState(facts({ screenLockMinutes: 5, lastActiveAt: now - 300 })), 'locked');
    assert.equal(sessionState(facts({ screenLockMinutes: 5, locked: true })), 'locked', 'stays locked until the PIN');
    assert.equal(sessionState(facts({ screenLockMinutes: 0, lastActiveAt: now - 86_000 })), 'active');
    assert.equal(sessionState(facts({ screenLockMinutes: 5, lastActiveAt: now - 3000, pinSkipped: true })), 'active');
    assert.equal(sessionState(facts({ screenLockMinutes: 5, locked: true, signedInAt: now - 91 * 86_400 })), 'ended', 'the end wins over the lock');
  });
});
