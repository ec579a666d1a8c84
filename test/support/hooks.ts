// Root hooks: one database server for the whole run. TEST_MONGODB_URI points the suite at a real
// MongoDB; otherwise a fresh embedded FerretDB is started in a temporary directory.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launchEmbedded, type EmbeddedDatabase } from '../../src/db/embedded.ts';

let embedded: EmbeddedDatabase | undefined;
let tmp: string | undefined;
let serverUri: string | undefined;

/** mongodb://host:port/ of the run's database server; each caller picks its own database name. */
export function databaseServerUri(): string {
  if (!serverUri) throw new Error('database server not started (root hook missing)');
  return serverUri;
}

/** The embedded server's SQLite directory, or undefined when the suite runs against MongoDB. */
export function embeddedSqliteDir(): string | undefined {
  return tmp && path.join(tmp, 'ferretdb', 'db');
}

export const mochaHooks = {
  async beforeAll(this: Mocha.Context) {
    this.timeout(600_000); // a fresh machine builds FerretDB once
    if (process.env.TEST_MONGODB_URI) {
      serverUri = process.env.TEST_MONGODB_URI.replace(/\/[^/]*$/, '/');
      return;
    }
    tmp = mkdtempSync(path.join(os.tmpdir(), 'tessera-test-'));
    embedded = await launchEmbedded({ dataDir: tmp, owner: 'test', purgeIntervalSeconds: 1, log: (l) => console.log(`    ${l}`) });
    serverUri = embedded.uri.replace(/\/[^/]*$/, '/');
  },
  async afterAll() {
    await embedded?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  },
};
