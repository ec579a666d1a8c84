// Account deletion at the person's request (GDPR Art. 17), with a grace period: the request
// schedules it (account.deletionGraceDays), a sign-in before then cancels it, and a sweep deletes
// what is due — every document of the account in every collection, the lookup documents included,
// after its sessions, grants and tokens ended — keeping only the audit log's entries, which name the
// account by a pseudonym from then on.
//
// Crash rule: the schedule lives in two places, the account (`deleteAfter`: the truth, read at every
// sign-in at no extra cost) and `account_deletions` (the sweep's index, one small collection).
// Scheduling writes the index first, cancelling clears the account first, so the sweep only ever
// finds index entries whose account says "not scheduled" (it drops them) or "due" (it deletes).
// The deletion itself is idempotent and removes the index entry last: a crash part-way is finished
// by the next sweep.
import { createHmac } from 'node:crypto';
import { Schema } from 'mongoose';
import type { Database } from '../db/database.ts';
import type { AuditType } from '../audit/events.ts';
import type { ClientInfo } from '../devices/client-info.ts';
import type { AccountStore, AccountView } from './store.ts';

interface DeletionDoc {
  _id: string; // account id
  email: string;
  deleteAfter: Date;
}

/** What the deletion removes: each module forgets the account in its own collections. */
export interface Forgetting {
  /** Ends every session, grant and token of the account (back-channel logout included). */
  endSessions(accountId: string): Promise<unknown>;
  /** Every other module's documents of the account, in order (each one idempotent). */
  stores: { name: string; forget(accountId: string): Promise<unknown> }[];
  /** The audit log: its entries about the account keep what happened, named by a pseudonym. */
  pseudonymise(accountId: string, emails: string[], pseudonym: string): Promise<number>;
}

export interface DeletionSettings {
  graceDays: number;
  /** Derives the audit log's pseudonym of a deleted account (not reversible without the key). */
  pseudonymKey: Buffer;
  clock: () => Date;
  log?: (line: string) => void;
  /**
   * Tells the person (email) and the audit log about a step; `seen` is the request's browser, if
   * any; `said`: the sentence's translation (email namespace) for the email, the audit log keeps `change`.
   */
  announce(account: { id: string; email: string; profile?: { locale?: string | undefined; zoneinfo?: string | undefined } }, type: AuditType, change: string, seen?: ClientInfo, said?: { key: string; vars?: Record<string, string | { day: Date }> }): void;
}

export type AccountDeletion = ReturnType<typeof createAccountDeletion>;

export function createAccountDeletion(db: Database, accounts: AccountStore, forgetting: Forgetting, settings: DeletionSettings) {
  const { clock, log = () => {} } = settings;
  const Deletions = db.model<DeletionDoc>('AccountDeletion', new Schema<DeletionDoc>(
    { _id: String, email: { type: String, required: true }, deleteAfter: { type: Date, required: true } },
    { collection: 'account_deletions', versionKey: false },
  ));
  const pseudonym = (accountId: string) => `deleted-account-${createHmac('sha256', settings.pseudonymKey).update(accountId).digest('base64url').slice(0, 16)}`;

  /** Deletes everything of the account (idempotent), the index entry last; `former`: addresses it had before an email change. */
  async function erase(entry: DeletionDoc, former: string[] = []): Promise<void> {
    const { _id: accountId, email } = entry;
    await forgetting.endSessions(accountId);
    for (const store of forgetting.stores) await store.forget(accountId);
    await forgetting.pseudonymise(accountId, [email, ...former].flatMap((e) => [e, e.trim().toLowerCase()]), pseudonym(accountId));
    await accounts.remove(accountId, email);
    await Deletions.deleteOne({ _id: accountId });
  }

  return {
    graceDays: settings.graceDays,

    /** The person's request: deletion in graceDays; resolves to the account as scheduled. */
    async schedule(account: AccountView, seen?: ClientInfo): Promise<AccountView> {
      const deleteAfter = new Date(clock().getTime() + settings.graceDays * 86_400_000);
      await Deletions.replaceOne({ _id: account.id }, { email: account.email, deleteAfter }, { upsert: true });
      const scheduled = await accounts.scheduleDeletion(account.id, deleteAfter);
      settings.announce(account, 'account.deletion_scheduled', `You asked for your account to be deleted. It will be deleted on ${deleteAfter.toISOString().slice(0, 10)}; sign in before then to cancel.`, seen,
        { key: 'email:securityChange.deletionScheduled', vars: { date: { day: deleteAfter } } });
      return scheduled;
    },

    /** A sign-in (or the person) cancels; resolves to whether a deletion was scheduled. */
    async cancel(account: { id: string; email: string }, why: 'signed-in' | 'asked', seen?: ClientInfo): Promise<boolean> {
      const was = await accounts.cancelDeletion(account.id);
      await Deletions.deleteOne({ _id: account.id });
      if (was) {
        settings.announce(account, 'account.deletion_cancelled', why === 'signed-in' ? 'You signed in, so your account will not be deleted. Nothing was removed.' : 'You cancelled the deletion of your account. Nothing was removed.', seen,
          { key: why === 'signed-in' ? 'email:securityChange.deletionCancelledBySignIn' : 'email:securityChange.deletionCancelled' });
      }
      return was;
    },

    /**
     * Deletes every account whose grace period is over (a background job: it reads the whole,
     * small, index). Resolves to the ids deleted; a failure is logged and retried next time.
     */
    async sweep(): Promise<string[]> {
      const now = clock();
      const deleted: string[] = [];
      for (const entry of await Deletions.find().lean<DeletionDoc[]>()) {
        try {
          const account = await accounts.findById(entry._id);
          if (account && !account.deletionScheduledFor) {
            // cancelled (the account was cleared first): the index entry is stale
            await Deletions.deleteOne({ _id: entry._id });
            continue;
          }
          const due = account ? account.deletionScheduledFor! : entry.deleteAfter;
          if (due > now) continue;
          await erase({ ...entry, email: account?.email ?? entry.email }, account?.formerEmails);
          deleted.push(entry._id);
          // the last email is still in the person's own language
          const profile = account?.profile ? { profile: account.profile } : {};
          settings.announce({ id: pseudonym(entry._id), email: account?.email ?? entry.email, ...profile }, 'account.deleted', 'Your account was deleted, with everything Tessera kept about it.',
            undefined, { key: 'email:securityChange.deleted' });
        } catch (err) {
          log(`[tessera] account deletion of ${entry._id} failed (retried at the next sweep): ${(err as Error).message}`);
        }
      }
      return deleted;
    },
  };
}
