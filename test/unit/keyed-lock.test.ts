import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createKeyedLock } from '../../src/db/keyed-lock.ts';

describe('keyed lock', () => {
  it('runs work for one key one at a time, in arrival order', async () => {
    const lock = createKeyedLock();
    const events: string[] = [];
    await Promise.all([1, 2, 3].map((n) => lock('k', async () => {
      events.push(`start ${n}`);
      await sleep(5);
      events.push(`end ${n}`);
    })));
    assert.deepEqual(events, ['start 1', 'end 1', 'start 2', 'end 2', 'start 3', 'end 3']);
  });

  it('lets different keys run side by side and survives a failing holder', async () => {
    const lock = createKeyedLock();
    const events: string[] = [];
    const a = lock('a', async () => { events.push('a'); await sleep(10); throw new Error('boom'); });
    const b = lock('b', async () => { events.push('b'); });
    await assert.rejects(a, /boom/);
    await b;
    assert.deepEqual(events, ['a', 'b']);
    assert.equal(await lock('a', async () => 'after'), 'after');
  });
});
