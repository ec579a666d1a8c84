// Opens everything Tessera runs on — database (embedded or MONGODB_URI), stores, signing keys and
// the configured provider — in one place, for the server, the CLI and the tests alike.
import type Provider from 'oidc-provider';
import type { Config } from './config/schema.ts';
import { connectDatabase, type Database } from './db/database.ts';
import { launchEmbedded, type EmbeddedDatabase } from './db/embedded.ts';
import { createSealer, deriveKey } from './crypto/seal.ts';
import { createPasswordHasher } from './accounts/password.ts';
import { createAccountStore, type AccountStore } from './accounts/store.ts';
import { createOidcStorage, type OidcStorage } from './oidc/adapter.ts';
import { createKeyStore, type KeyStore } from './oidc/keys.ts';
import { createClientStore, withSealedClientSecrets, type ClientStore } from './oidc/clients.ts';
import { createProvider } from './oidc/provider.ts';
import { endAccountSessions, type EndedSessions } from './oidc/account-sessions.ts';
import type { AccountView } from './accounts/store.ts';
import { createInteractionSteps, type InteractionSteps } from './interaction/steps.ts';

export interface Services {
  config: Config;
  db: Database;
  accounts: AccountStore;
  keys: KeyStore;
  clients: ClientStore;
  storage: OidcStorage;
  provider: Provider;
  steps: InteractionSteps;
  /** Disables an account and ends its sessions, grants and tokens (back-channel logout included). */
  disableAccount(email: string): Promise<{ account: AccountView; ended: EndedSessions }>;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** Who starts the embedded database when MONGODB_URI is unset; the CLI may join a running one. */
  owner: 'server' | 'cli' | 'test';
  log?: (line: string) => void;
  allowPrivateFetch?: boolean;
  /** Emit the database driver's command events (tests and the benchmark count operations). */
  monitorCommands?: boolean;
}

export async function openServices(config: Config, { owner, log = () => {}, allowPrivateFetch, monitorCommands }: OpenOptions): Promise<Services> {
  let embedded: EmbeddedDatabase | undefined;
  const uri = config.mongodbUri ?? (embedded = await launchEmbedded({
    dataDir: config.dataDir, owner, log, purgeIntervalSeconds: config.database.expiryPurgeIntervalSeconds,
  })).uri;
  let db: Database;
  try {
    db = await connectDatabase(uri, { ...config.database, monitorCommands });
  } catch (err) {
    await embedded?.stop();
    throw err;
  }
  try {
    const sealer = createSealer(config.encryptionKey);
    const accounts = createAccountStore(db, createPasswordHasher(config.password), { minStrength: config.password.minStrength });
    const storage = withSealedClientSecrets(createOidcStorage(db, { tokenKey: deriveKey(config.encryptionKey, 'tessera:token-ids') }), sealer);
    const keys = createKeyStore(db, sealer);
    const steps = createInteractionSteps(db, config.ttl.interactionSeconds);
    await db.init();
    await accounts.backfillEmailLookups();
    await keys.ensure();
    const stepUp = {
      // second factors arrive with their own modules; until then an emailed code is all there is
      factorsOf: async () => ({ available: ['email' as const] }),
      emailCountsAsMfa: config.mfa.emailCountsAsMfa,
      offerEnrolment: false,
    };
    const provider = createProvider({ config, storage, accounts, stepUp, jwks: await keys.jwks(), ...(allowPrivateFetch ? { allowPrivateFetch } : {}) });
    const clients = createClientStore(storage, (metadata) => provider.Client.validate(metadata as unknown as Parameters<Provider['Client']['validate']>[0]));
    return {
      config, db, accounts, keys, clients, storage, provider, steps,
      async disableAccount(email) {
        const account = await accounts.setDisabled(email, true);
        return { account, ended: await endAccountSessions(provider, storage, account.id) };
      },
      async close() {
        await db.close();
        await embedded?.stop();
      },
    };
  } catch (err) {
    await db.close();
    await embedded?.stop();
    throw err;
  }
}
