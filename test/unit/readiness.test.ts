// What /readyz reports (ops/health.ts): a database that never answers counts as down after the
// timeout, probes arriving together share one ping, and a shutdown wins over everything.
import assert from 'node:assert/strict';
import { createReadiness } from '../../src/ops/health.ts';

const never = () => new Promise<never>(() => {});
/** Lets pending callbacks run (the ping starts on the next tick). */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('readiness', () => {
  it('is ready when the database answers and the signing keys are loaded', async () => {
    const readiness = createReadiness({ ping: async () => ({ ok: 1 }), signingKeysLoaded: () => true, timeoutMs: 1_000 });
    assert.deepEqual(await readiness.check(), { ready: true });
  });

  it('reports the database when its ping hangs, after the timeout, not after the ping', async () => {
    const readiness = createReadiness({ ping: never, signingKeysLoaded: () => true, timeoutMs: 20 });
    assert.deepEqual(await readiness.check(), { ready: false, reason: 'database' });
  });

  it('reports the database when its ping fails, even synchronously', async () => {
    const failing = createReadiness({ ping: async () => { throw new Error('connection refused'); }, signingKeysLoaded: () => true, timeoutMs: 1_000 });
    assert.deepEqual(await failing.check(), { ready: false, reason: 'database' });
    const throwing = createReadiness({ ping: () => { throw new TypeError('no connection'); }, signingKeysLoaded: () => true, timeoutMs: 1_000 });
    assert.deepEqual(await throwing.check(), { ready: false, reason: 'database' });
  });

  it('asks a stuck database once for probes that arrive together, and again once it has answered', async () => {
    let pings = 0;
    let answer!: () => void;
    const readiness = createReadiness({
      ping: () => { pings++; return new Promise<void>((resolve) => { answer = resolve; }); },
      signingKeysLoaded: () => true, timeoutMs: 20,
    });
    const states = await Promise.all([readiness.check(), readiness.check(), readiness.check()]);
    assert.deepEqual(states.map((s) => s.ready), [false, false, false]);
    assert.equal(await readiness.check().then((s) => s.ready), false, 'still the same stuck ping');
    assert.equal(pings, 1);
    answer();
    await settle(); // the stuck ping has settled
    const next = readiness.check();
    await settle();
    answer();
    assert.deepEqual(await next, { ready: true });
    assert.equal(pings, 2);
  });

  it('reports missing signing keys without asking the database', async () => {
    let pings = 0;
    const readiness = createReadiness({ ping: async () => { pings++; }, signingKeysLoaded: () => false, timeoutMs: 1_000 });
    assert.deepEqual(await readiness.check(), { ready: false, reason: 'signing_keys' });
    assert.equal(pings, 0);
  });

  it('is not ready from the start of a shutdown, whatever else holds', async () => {
    let answer!: () => void;
    const readiness = createReadiness({ ping: () => new Promise<void>((resolve) => { answer = resolve; }), signingKeysLoaded: () => true, timeoutMs: 1_000 });
    const during = readiness.check();
    await settle();
    readiness.beginShutdown();
    answer();
    assert.deepEqual(await during, { ready: false, reason: 'shutting_down' }, 'a shutdown that began while the database answered');
    assert.equal(readiness.shuttingDown, true);
    assert.deepEqual(await readiness.check(), { ready: false, reason: 'shutting_down' });
  });
});
