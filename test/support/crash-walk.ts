// The crash walk of README "The crash rule" for tests of one operation: the database layer's
// test-only fault hook lets the operation's first n writes through and fails every later one (as
// a process that died there would leave the database), then a restarted Tessera on the same
// database, secrets and port is checked. Every n below the uninterrupted run's count is walked.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { freshDatabaseName, startTessera, type Tessera, type TesseraOptions } from './tessera.ts';

export interface CrashScenario<C> {
  /** Runs on the instance that will crash, before the hook is armed. */
  setup(t: Tessera): Promise<C>;
  /** The operation whose writes are cut short (its answer after a crash does not matter). */
  operation(t: Tessera, context: C): Promise<unknown>;
  /** Runs on the restarted instance (same database, same secrets, same port). */
  check(t: Tessera, context: C, n: number): Promise<void>;
  /** Options for both instances (a movable clock, settings). */
  tessera?: Pick<TesseraOptions, 'clock' | 'env'>;
}

/** Walks every crash point of `scenario`; resolves to the operation's number of writes. */
export async function walkCrashes<C>(scenario: CrashScenario<C>): Promise<number> {
  let total: number | undefined;
  for (let n = 0; total === undefined || n < total; n++) {
    const database = freshDatabaseName('crash');
    const secrets = { cookieKeys: [randomBytes(32).toString('base64url')], encryptionKey: randomBytes(32).toString('base64') };
    const quiet = { log: () => {}, serviceLog: () => {} };
    const crashing = await startTessera({ database, secrets, testDatabase: { faults: true }, ...quiet, ...scenario.tessera });
    const port = (crashing.server.address() as AddressInfo).port;
    const faults = crashing.services.db.faults!;
    let context: C;
    try {
      context = await scenario.setup(crashing);
      if (total === undefined) {
        // the uninterrupted run: how many writes the operation makes
        const before = faults.writes;
        await scenario.operation(crashing, context);
        total = faults.writes - before;
        assert.ok(total >= 1, 'the operation writes');
        n = -1;
        continue;
      }
      faults.crashAfter(n);
      await scenario.operation(crashing, context).catch((err: unknown) => {
        if (!faults.crashed) throw err;
      });
      assert.ok(faults.crashed, `the operation reached its write ${n + 1}`);
    } finally {
      crashing.server.closeAllConnections();
      await new Promise<void>((resolve) => crashing.server.close(() => resolve()));
      await crashing.services.close().catch(() => {});
    }
    const restarted = await startTessera({ database, secrets, port, ...scenario.tessera });
    try {
      await scenario.check(restarted, context, n);
    } catch (err) {
      (err as Error).message = `after a crash following write ${n} of ${total}: ${(err as Error).message}`;
      throw err;
    } finally {
      await restarted.close();
    }
  }
  if (process.env.CRASH_WALK_REPORT) console.log(`      (${total} writes walked)`);
  return total;
}
