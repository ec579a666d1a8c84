// The account store: the only module that touches the accounts collection. Everything else calls
// these functions and receives plain AccountView objects (never the mongoose document or hash).
// Accounts are found by _id only; sign-in by email goes through a lookup document keyed by the
// normalised email (account_emails), whose unique _id also keeps emails unique. The one exception is
// search (administration only), which filters and sorts the accounts collection itself.
import { randomUUID } from 'node:crypto';
import { Schema } from 'mongoose';
import { forget, memoized, WRITE_OPERATIONS } from '../db/request-memo.ts';
import type { Database } from '../db/database.ts';
import type { PasswordHasher } from './password.ts';
import { DEFAULT_PASSWORD_RULES, passwordProblems, personalWordIn, type PasswordRules } from '../policy/password.ts';
import { guessabilityProblem, type Strength } from '../policy/common-passwords.ts';
import { profileProblems, type Profile } from './profile.ts';
import type { SecondFactor } from '../policy/sign-in.ts';
import { DomainError } from '../domain-error.ts';


/** An id no account has: what an unknown email's sign-in reads, so it costs what a known one does. */
const NO_ACCOUNT = 'no-such-account';
export type Role = 'user' | 'admin';

export interface AccountView {
  id: string;
  email: string;
  emailVerified: boolean;
  name: string;
  role: Role;
  disabled: boolean;
  organisationId?: string;
  profile: Profile;
  /** The routine second factor every sign-in needs (account setting), if any. */
  secondFactor?: SecondFactor;
  /** New-device verification at sign-in (on unless an admin turned it off for a service or test account). */
  deviceVerification: boolean;
  /** The person's session settings (account security center). */
  security: SecuritySettings;
  /** Sign-in lockout set by an admin: every sign-in fails like a wrong password until unlocked. */
  locked: boolean;
  /** No usable password (an admin reset it, or the account was invited): only a set-password link helps. */
  passwordResetRequired: boolean;
  /** When the person asked for the account to be deleted takes effect (a sign-in before then cancels it). */
  deletionScheduledFor?: Date;
  /** Addresses the account had before an email change: deletion pseudonymises them in the audit log too. */
  formerEmails?: string[];
  /**
   * The security stamp: it changes whenever what proves the account changes (a new or reset
   * password, a lock, a disable, the routine second factor), so a sign-in in progress that
   * started before can tell and stop.
   */
  stamp: number;
  /** The consents the person gave applications, by client id: asked once, until "Remove access". */
  consents: Record<string, RememberedConsent>;
  createdAt: Date;
  updatedAt: Date;
}

/**
 * A consent the person gave an application, remembered across sign-ins and browsers (OIDC scopes
 * and claims allowed), until they remove the application's access.
 */
export interface RememberedConsent {
  scopes: string[];
  claims: string[];
  /**
   * The application as it was allowed (a digest of its client id and redirect URIs,
   * interaction/consent.ts): a client deleted and registered again under the same id, or one whose
   * redirect URIs changed, is asked again.
   */
  client: string;
  at: Date;
}

export interface SecuritySettings {
  /** Whether a PIN is set (its hash never leaves this module). */
  pinSet: boolean;
  /** Ask for the PIN after the password (and second factor) at every sign-in. */
  pinAfterSignIn: boolean;
  /** Minutes of inactivity before the session locks (0: never). */
  screenLockMinutes: number;
  /** Days after which a session ends regardless of activity (undefined: the server's maximum). */
  autoLogoutDays?: number;
  /** When the password last changed. */
  passwordChangedAt?: Date;
}

interface AccountDoc {
  _id: string;
  email: string;
  emailNormalized: string;
  emailVerified: boolean;
  name: string;
  passwordHash: string;
  role: Role;
  disabled: boolean;
  organisationId?: string;
  profile?: Profile;
  secondFactor?: SecondFactor;
  deviceVerification?: boolean;
  pinHash?: string;
  pinAfterSignIn?: boolean;
  screenLockMinutes?: number;
  autoLogoutDays?: number;
  passwordChangedAt?: Date;
  locked?: boolean;
  passwordResetRequired?: boolean;
  stamp?: number;
  deleteAfter?: Date;
  formerEmails?: string[];
  /** Client id → the consent the person gave that application (kept across sign-ins). */
  consents?: Record<string, RememberedConsent>;
  createdAt: Date;
  updatedAt: Date;
}

/** Client ids become field names of `consents`: no dots, no leading "$". */
const consentKeyOk = (clientId: string) => clientId.length > 0 && !clientId.includes('.') && !clientId.startsWith('$');

/** The security stamp moves on (AccountView.stamp). */
const NEW_STAMP = { $inc: { stamp: 1 } } as const;

/**
 * not_found, and email_taken and email_moved (conflicts), are their own kinds; every other code is
 * invalid input. same_email: the address is the account's already; email_moved: the account's
 * email changed since the caller read it.
 */
export class AccountError extends DomainError {
  override name = 'AccountError';
  declare readonly code: 'email_taken' | 'email_moved' | 'same_email' | 'invalid_email' | 'weak_password' | 'invalid_profile' | 'not_found' | 'wrong_password' | 'no_pin' | 'invalid_cursor' | 'invalid_role';
  constructor(code: AccountError['code'], message: string) {
    super(code === 'not_found' ? 'not_found' : code === 'email_taken' || code === 'email_moved' ? 'conflict' : 'invalid', code, message);
  }
}

const BACKFILL_MARKER = '#email-lookups-backfilled';
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
/**
 * Characters an email never needs and that make one look like another: control, format (zero
 * width, bidi marks and overrides), private-use, unassigned and every kind of space.
 */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Z}]/u;

/** Why `email` (trimmed) cannot be an account's email, or undefined. */
function emailProblem(email: string, typed: string): string | undefined {
  if (INVISIBLE.test(email)) return `"${typed.trim().replace(new RegExp(INVISIBLE.source, 'gu'), '?')}" contains an invisible or control character (such as a zero-width space or a direction mark): type the address again`;
  if (!EMAIL.test(email)) return `"${typed}" is not an email address`;
  return undefined;
}

/**
 * The stored "hash" of an account without a usable password (invited, or reset by an admin). It is
 * no PHC string, so nothing verifies against it; sign-in checks verify against the hasher's dummy
 * instead, so such an account costs the same work as any other and answers like a wrong password.
 */
const NO_PASSWORD = '!no-password';
const usableHash = (doc: AccountDoc | null | undefined): string | undefined => (doc && doc.passwordHash !== NO_PASSWORD ? doc.passwordHash : undefined);

/** Longest search text an admin may type (longer is cut). */
const MAX_QUERY = 200;
const escapeRegex = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const encodeCursor = (emailNormalized: string) => Buffer.from(emailNormalized, 'utf8').toString('base64url');
function decodeCursor(cursor: string): string {
  const bad = () => new AccountError('invalid_cursor', 'the cursor is not one a previous page returned');
  if (!/^[\w-]{1,1400}$/.test(cursor)) throw bad();
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!text || encodeCursor(text) !== cursor) throw bad();
  return text;
}

export function normalizeEmail(email: string): string {
  return email.trim().normalize('NFKC').toLowerCase();
}

function view(doc: AccountDoc): AccountView {
  return {
    id: doc._id,
    email: doc.email,
    emailVerified: doc.emailVerified,
    name: doc.name,
    role: doc.role,
    disabled: doc.disabled,
    ...(doc.organisationId ? { organisationId: doc.organisationId } : {}),
    profile: doc.profile ?? {},
    ...(doc.secondFactor ? { secondFactor: doc.secondFactor } : {}),
    deviceVerification: doc.deviceVerification !== false,
    security: {
      pinSet: !!doc.pinHash,
      pinAfterSignIn: !!doc.pinHash && doc.pinAfterSignIn === true,
      screenLockMinutes: doc.pinHash ? doc.screenLockMinutes ?? 0 : 0,
      ...(doc.autoLogoutDays ? { autoLogoutDays: doc.autoLogoutDays } : {}),
      ...(doc.passwordChangedAt ? { passwordChangedAt: doc.passwordChangedAt } : {}),
    },
    locked: doc.locked === true,
    passwordResetRequired: doc.passwordResetRequired === true,
    stamp: doc.stamp ?? 0,
    ...(doc.deleteAfter ? { deletionScheduledFor: doc.deleteAfter } : {}),
    ...(doc.formerEmails?.length ? { formerEmails: doc.formerEmails } : {}),
    consents: doc.consents ?? {},
    createdAt: doc.createdAt,
    updatedAt: doc.updatedAt ?? doc.createdAt,
  };
}

/** A sign-up's refusals, one per field, in words to show beside it (lower case, no full stop). */
export interface SignUpProblems { email?: string; name?: string; password?: string }

/** A sign-up checked and waiting for its emailed code: never a plain password. */
export interface PreparedSignUp { email: string; name: string; passwordHash: string }

/** Control and format characters have no place in a name shown to applications. */
const INVISIBLE_IN_NAME = /[\p{Cc}\p{Cf}]/u;

export interface NewAccount {
  email: string;
  password: string;
  name?: string;
  role?: Role;
  emailVerified?: boolean;
  profile?: Profile;
  deviceVerification?: boolean;
}

interface EmailDoc {
  _id: string; // normalised email
  accountId: string;
}

export type AccountStore = ReturnType<typeof createAccountStore>;

export interface AccountRules {
  /** zxcvbn score every new password must reach (config password.minStrength). */
  minStrength: Strength;
  /** The rule set every new password meets (config password.rules). */
  passwordRules?: PasswordRules;
}

export function createAccountStore(db: Database, hasher: PasswordHasher, rules: AccountRules = { minStrength: 3 }) {
  const passwordRules = rules.passwordRules ?? DEFAULT_PASSWORD_RULES;

  /** Why a new password is refused (every rule it breaks, then guessability), or undefined. */
  async function newPasswordProblem(password: string, context: string[]): Promise<string | undefined> {
    const problems = passwordProblems(password, passwordRules);
    if (problems.length) return `the password needs ${problems.join(', ')}`;
    const [email = '', name = ''] = context;
    const personal = personalWordIn(password, { email, name });
    if (personal) return `the password contains your name or email address ("${personal}"): choose one without it`;
    const guessable = await guessabilityProblem(password, rules.minStrength, context);
    return guessable ? `the password ${guessable}` : undefined;
  }

  const schema = new Schema<AccountDoc>(
    {
      _id: { type: String, required: true },
      email: { type: String, required: true },
      emailNormalized: { type: String, required: true, unique: true },
      emailVerified: { type: Boolean, default: false },
      name: { type: String, default: '' },
      passwordHash: { type: String, required: true },
      role: { type: String, enum: ['user', 'admin'], default: 'user' },
      disabled: { type: Boolean, default: false },
      organisationId: { type: String },
      profile: { type: Schema.Types.Mixed },
      secondFactor: { type: String },
      deviceVerification: { type: Boolean },
      pinHash: { type: String },
      pinAfterSignIn: { type: Boolean },
      screenLockMinutes: { type: Number },
      autoLogoutDays: { type: Number },
      passwordChangedAt: { type: Date },
      locked: { type: Boolean },
      passwordResetRequired: { type: Boolean },
      stamp: { type: Number },
      deleteAfter: { type: Date },
      formerEmails: { type: [String], default: undefined },
      consents: { type: Schema.Types.Mixed },
    },
    { collection: 'accounts', versionKey: false, timestamps: true },
  );
  // one read of an account per request (db/request-memo.ts); any write forgets what was read
  const forgetAccounts = () => forget('account:');
  schema.pre([...WRITE_OPERATIONS], forgetAccounts);
  schema.post([...WRITE_OPERATIONS], forgetAccounts);
  schema.post('save', forgetAccounts);
  const Accounts = db.model<AccountDoc>('Account', schema);
  // on the embedded database an update rewrites the whole document: the account's own writes take
  // its in-process lock (the key db.modifyIf takes), so two changes at once never lose one another
  const write = <R>(id: string, work: () => Promise<R>): Promise<R> => db.exclusive(`${Accounts.collection.name}/${id}`, work);
  const readAccount = (id: string) => memoized(`account:${id}`, () => Accounts.findById(id).lean<AccountDoc>().then((doc) => doc ?? undefined));
  const Emails = db.model<EmailDoc>('AccountEmail', new Schema<EmailDoc>(
    { _id: String, accountId: { type: String, required: true } },
    { collection: 'account_emails', versionKey: false },
  ));

  async function byEmail(email: string): Promise<AccountDoc | undefined> {
    const pointer = await Emails.findById(normalizeEmail(email)).lean<EmailDoc>();
    // an unknown email reads an account too (none): the same work as a known one
    const doc = await readAccount(pointer?.accountId ?? NO_ACCOUNT);
    if (!pointer) return undefined;
    return doc && doc.emailNormalized === pointer._id ? doc : undefined;
  }

  /** Applies `update` to the account `id` and returns it as it is now (AccountError not_found). */
  async function updateById(id: string, update: Record<string, unknown>): Promise<AccountView> {
    const doc = await write(id, () => Accounts.findOneAndUpdate({ _id: id }, update, { returnDocument: 'after' }).lean<AccountDoc>());
    if (!doc) throw new AccountError('not_found', 'no such account');
    return view(doc);
  }

  const taken = (email: string) => new AccountError('email_taken', `an account with email ${email} already exists`);
  const duplicate = (err: unknown) => (err as { code?: number }).code === 11000;

  /**
   * Claims the email's lookup document for the account `id` about to be written: 'claimed' (it
   * was free), the id of a dead claim taken over (a creation that died between its two writes left
   * a lookup naming no account), or 'taken' (it names a live account).
   */
  async function claimEmail(emailNormalized: string, id: string): Promise<'claimed' | 'taken' | { from: string }> {
    for (let attempt = 0; attempt < 3; attempt++) {
      if (await Emails.create({ _id: emailNormalized, accountId: id }).then(() => true, (err: unknown) => {
        if (duplicate(err)) return false;
        throw err;
      })) return 'claimed';
      const pointer = await Emails.findById(emailNormalized).lean<EmailDoc>();
      if (!pointer) continue; // released meanwhile: claim again
      const holder = await Accounts.findById(pointer.accountId).lean<AccountDoc>();
      if (holder?.emailNormalized === emailNormalized) return 'taken';
      // a dead claim, or one whose creation is still running: the unique emailNormalized index
      // of accounts settles that race when the account is written (insert, below)
      return (await db.updateIf(Emails, emailNormalized, { accountId: pointer.accountId }, { $set: { accountId: id } })) ? { from: pointer.accountId } : 'taken';
    }
    return 'taken';
  }

  /** A unique index refused a write: 11000, or (FerretDB, for a collision caused by an update) SQLite's words. */
  const collision = (err: unknown) => duplicate(err) || /UNIQUE constraint failed/.test((err as Error | undefined)?.message ?? '');
  const unusable = () => new AccountError('email_taken', 'that address cannot be used for this account');
  const moved = () => new AccountError('email_moved', 'the account\'s email address changed meanwhile');

  /** The trimmed address `typed` as a new email for account `id` (AccountError invalid_email, same_email, not_found). */
  async function newEmailFor(id: string, typed: string): Promise<{ email: string; emailNormalized: string; doc: AccountDoc }> {
    const email = typed.trim();
    const bad = emailProblem(email, typed);
    if (bad) throw new AccountError('invalid_email', bad);
    const doc = await Accounts.findById(id).lean<AccountDoc>();
    if (!doc) throw new AccountError('not_found', 'no such account');
    const emailNormalized = normalizeEmail(email);
    if (emailNormalized === doc.emailNormalized) throw new AccountError('same_email', `${email} is the account's email address already`);
    return { email, emailNormalized, doc };
  }

  /** Whether an account holds the email: its lookup names one that has it (any other lookup is a leftover, free). */
  async function held(emailNormalized: string): Promise<boolean> {
    const pointer = await Emails.findById(emailNormalized).lean<EmailDoc>();
    if (!pointer) return false;
    return (await readAccount(pointer.accountId))?.emailNormalized === emailNormalized;
  }

  /**
   * Deletes the email's lookup if it names account `id` and that account does not have the email
   * (a claim given up, or the address a change left behind), under the lookup's lock.
   */
  async function releaseEmail(emailNormalized: string, id: string): Promise<void> {
    await db.exclusive(`${Emails.collection.name}/${emailNormalized}`, async () => {
      const pointer = await Emails.findById(emailNormalized).lean<EmailDoc>();
      if (pointer?.accountId !== id) return;
      if ((await Accounts.findById(id).lean<AccountDoc>())?.emailNormalized === emailNormalized) return;
      await Emails.deleteOne(db.guardsInServer ? { _id: emailNormalized, accountId: id } : { _id: emailNormalized });
    });
  }

  /** Points the email's lookup at account `id`, which has the email (the unique index of accounts makes it the only one). */
  async function pointAt(emailNormalized: string, id: string): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const pointer = await Emails.findById(emailNormalized).lean<EmailDoc>();
      if (pointer?.accountId === id) return;
      const done = pointer
        ? await db.updateIf(Emails, emailNormalized, { accountId: pointer.accountId }, { $set: { accountId: id } })
        : await Emails.create({ _id: emailNormalized, accountId: id }).then(() => true, (err: unknown) => {
          if (duplicate(err)) return false;
          throw err;
        });
      if (done) return;
    }
  }

  /**
   * Writes a new account. Crash rule: the email's lookup document first (its unique _id decides
   * who gets the email), then the account. A crash between them leaves a lookup naming no
   * account: sign-in treats the email as unknown and the next creation takes the claim over.
   */
  async function insert(fields: Omit<AccountDoc, '_id' | 'emailNormalized' | 'createdAt' | 'updatedAt'>): Promise<AccountView> {
    const id = randomUUID();
    const emailNormalized = normalizeEmail(fields.email);
    const claim = await claimEmail(emailNormalized, id);
    if (claim === 'taken') throw taken(fields.email);
    try {
      const doc = await Accounts.create({ _id: id, emailNormalized, ...fields });
      return view(doc.toObject());
    } catch (err) {
      if (claim === 'claimed') await Emails.deleteOne({ _id: emailNormalized, accountId: id });
      else if (duplicate(err)) {
        // the claim was not dead: its creation finished first. Point the lookup back at its account
        // (administration only, and rare: a scan of accounts).
        const winner = await Accounts.findOne({ emailNormalized }).lean<AccountDoc>();
        if (winner) await db.updateIf(Emails, emailNormalized, { accountId: id }, { $set: { accountId: winner._id } });
      }
      if (duplicate(err)) throw taken(fields.email);
      throw err;
    }
  }

  return {
    async create(input: NewAccount): Promise<AccountView> {
      const email = input.email.trim();
      const badEmail = emailProblem(email, input.email);
      if (badEmail) throw new AccountError('invalid_email', badEmail);
      const invalid = profileProblems(input.profile ?? {});
      if (invalid.length) throw new AccountError('invalid_profile', invalid.join('; '));
      const weak = await newPasswordProblem(input.password, [email, input.name ?? '']);
      if (weak) throw new AccountError('weak_password', weak);
      const passwordHash = await hasher.hash(input.password);
      return insert({
        email,
        emailVerified: input.emailVerified ?? false,
        name: input.name ?? '',
        passwordHash,
        role: input.role ?? 'user',
        disabled: false,
        ...(input.profile && Object.keys(input.profile).length ? { profile: input.profile } : {}),
        ...(input.deviceVerification === false ? { deviceVerification: false } : {}),
      });
    },

    /**
     * An account made by an admin without a password: no password signs in to it until the person
     * sets one through the set-password link the invitation carries (passwordResetRequired).
     */
    async createInvited(input: { email: string; name?: string; role?: Role }): Promise<AccountView> {
      const email = input.email.trim();
      const badEmail = emailProblem(email, input.email);
      if (badEmail) throw new AccountError('invalid_email', badEmail);
      if ((input.name ?? '').length > 200) throw new AccountError('invalid_profile', 'name must be at most 200 characters');
      return insert({
        email, emailVerified: false, name: input.name ?? '', passwordHash: NO_PASSWORD, role: input.role ?? 'user', disabled: false,
        passwordResetRequired: true,
      });
    },

    /**
     * Sign-up, before anything is written: each field's problem (the address as an address, the
     * name, the password by every rule a new password meets, the name and address included), or
     * the account to be, with its password hashed. No lookup: the same work for every address.
     */
    async prepareSignUp(input: { email: string; name: string; password: string }): Promise<{ problems: SignUpProblems } | { account: PreparedSignUp }> {
      const email = input.email.trim();
      const name = input.name.trim();
      const problems: SignUpProblems = {};
      const badEmail = email ? emailProblem(email, input.email) : 'enter your email address';
      if (badEmail) problems.email = badEmail;
      if (!name) problems.name = 'enter your name';
      else if (name.length > 200 || INVISIBLE_IN_NAME.test(name)) problems.name = 'a name has at most 200 characters and no control characters';
      const weak = input.password ? await newPasswordProblem(input.password, [email, name]) : 'enter a password';
      if (weak) problems.password = weak;
      if (Object.keys(problems).length) return { problems };
      return { account: { email, name, passwordHash: await hasher.hash(input.password) } };
    },

    /**
     * Sign-up, once an emailed code proved the address: writes the account (verified address) the
     * crash-ordered way every creation does (AccountError email_taken when the address has one).
     */
    async createSignedUp(prepared: PreparedSignUp): Promise<AccountView> {
      return insert({ email: prepared.email, emailVerified: true, name: prepared.name, passwordHash: prepared.passwordHash, role: 'user', disabled: false });
    },

    /**
     * Once per database: writes the email lookup documents of accounts made before they existed
     * (and repairs one that names no account). A marker document (no "@", so never an email)
     * records that it ran — only when every account's lookup is right: a failure is retried
     * (three tries), reported in `failed`, and leaves the marker unwritten so the next start runs it again.
     */
    async backfillEmailLookups(): Promise<{ added: number; failed: string[] }> {
      if (await Emails.findById(BACKFILL_MARKER).lean()) return { added: 0, failed: [] };
      let added = 0;
      const failed: string[] = [];
      for (const doc of await Accounts.find().lean<AccountDoc[]>()) {
        let problem: string | undefined;
        for (let attempt = 0; attempt < 3; attempt++) {
          try {
            const pointer = await Emails.findById(doc.emailNormalized).lean<EmailDoc>();
            if (pointer?.accountId === doc._id) { problem = undefined; break; }
            if (!pointer) {
              await Emails.create({ _id: doc.emailNormalized, accountId: doc._id }).catch((err: unknown) => {
                if (!duplicate(err)) throw err; // written meanwhile: the next try looks again
              });
            } else {
              const holder = await Accounts.findById(pointer.accountId).lean<AccountDoc>();
              if (holder?.emailNormalized === doc.emailNormalized) { problem = `${doc.email}: the email is also ${holder._id}'s`; break; }
              await db.updateIf(Emails, doc.emailNormalized, { accountId: pointer.accountId }, { $set: { accountId: doc._id } });
            }
            if ((await Emails.findById(doc.emailNormalized).lean<EmailDoc>())?.accountId === doc._id) { added++; problem = undefined; break; }
            problem = `${doc.email}: the lookup did not stick`;
          } catch (err) {
            problem = `${doc.email}: ${(err as Error).message}`;
          }
        }
        if (problem) failed.push(problem);
      }
      if (!failed.length) await Emails.create({ _id: BACKFILL_MARKER, accountId: '-' }).catch((err: unknown) => {
        if (!duplicate(err)) throw err;
      });
      return { added, failed };
    },

    async findById(id: string): Promise<AccountView | undefined> {
      const doc = await readAccount(id);
      return doc ? view(doc) : undefined;
    },

    async findByEmail(email: string): Promise<AccountView | undefined> {
      const doc = await byEmail(email);
      return doc ? view(doc) : undefined;
    },

    /**
     * The sign-in check. Unknown email, wrong password, a disabled or locked account and one without
     * a usable password all return undefined
     * after the same amount of work, so the caller cannot tell them apart.
     */
    async authenticate(email: string, password: string): Promise<AccountView | undefined> {
      const doc = await byEmail(email);
      const ok = await hasher.verify(usableHash(doc), password);
      if (!ok || !doc || doc.disabled || doc.locked) return undefined;
      return view(doc);
    },

    /**
     * The sign-in check in two steps, with one lookup: who the email names (if anyone; the caller
     * may refuse a blocked device first), then the password, with the same work either way.
     */
    async signInLookup(email: string): Promise<{ account?: AccountView; verify(password: string): Promise<AccountView | undefined> }> {
      const doc = await byEmail(email);
      return {
        ...(doc ? { account: view(doc) } : {}),
        async verify(password: string) {
          const ok = await hasher.verify(usableHash(doc), password);
          return ok && doc && !doc.disabled && !doc.locked ? view(doc) : undefined;
        },
      };
    },

    async list(): Promise<AccountView[]> {
      const docs = await Accounts.find().sort({ createdAt: 1 }).lean<AccountDoc[]>();
      return docs.map(view);
    },

    /**
     * ADMIN-ONLY (never on a sign-in or account-page path): filters and sorts the whole accounts
     * collection. Accounts whose email or name contains `q` (case-insensitive, taken literally, at
     * most 200 characters), ordered by normalised email, `limit` (1-100) at a time; `next` (absent on
     * the last page) is the cursor of the page after. AccountError invalid_cursor for a made-up cursor.
     */
    async search(query: { q?: string; cursor?: string; limit: number }): Promise<{ accounts: AccountView[]; next?: string }> {
      const limit = Math.min(Math.max(Math.trunc(query.limit) || 1, 1), 100);
      const q = (query.q ?? '').trim().slice(0, MAX_QUERY);
      const after = query.cursor ? decodeCursor(query.cursor) : undefined;
      const pattern = q ? new RegExp(escapeRegex(q), 'i') : undefined;
      const filter: Record<string, unknown>[] = [
        ...(pattern ? [{ $or: [{ email: pattern }, { name: pattern }] }] : []),
        ...(after !== undefined ? [{ emailNormalized: { $gt: after } }] : []),
      ];
      const docs = await Accounts.find(filter.length ? { $and: filter } : {}).sort({ emailNormalized: 1 }).limit(limit + 1).lean<AccountDoc[]>();
      const page = docs.slice(0, limit);
      return { accounts: page.map(view), ...(docs.length > limit ? { next: encodeCursor(page[page.length - 1]!.emailNormalized) } : {}) };
    },

    /** The person's deletion request takes effect at `at` (accounts/deletion.ts keeps the schedule). */
    async scheduleDeletion(id: string, at: Date): Promise<AccountView> {
      return updateById(id, { $set: { deleteAfter: at } });
    },

    /** A sign-in (or the person) cancels a scheduled deletion; resolves to whether one was scheduled. */
    async cancelDeletion(id: string): Promise<boolean> {
      return db.updateIf(Accounts, id, { deleteAfter: { $exists: true } }, { $unset: { deleteAfter: '' } });
    },

    /**
     * Account deletion, last step: the account, then every email lookup document still naming it:
     * its email's, and any an email change cut short by a crash left behind (a scan, for the
     * deletion sweep only). A crash between leaves lookups naming no account: the emails are free
     * for the next creation (insert's takeover).
     */
    async remove(id: string, _email?: string): Promise<void> {
      await Accounts.deleteOne({ _id: id });
      await Emails.deleteMany({ accountId: id });
    },

    /**
     * The trimmed address `typed` if it may become account `id`'s new email: AccountError
     * invalid_email, same_email (the account's already, in any case), email_taken (another
     * account has it; the words say only that it cannot be used). Nothing is written.
     */
    async checkNewEmail(id: string, typed: string): Promise<string> {
      const { email, emailNormalized } = await newEmailFor(id, typed);
      if (await held(emailNormalized)) throw unusable();
      return email;
    },

    /**
     * Changes the account's email to `typed` if it is still `from`. The caller proved control of
     * the new address (a code sent there), so it is verified; the old one is kept in
     * formerEmails; the stamp moves on (a sign-in in progress, perhaps waiting for a code emailed
     * to the old address, stops). AccountError invalid_email, same_email, email_taken,
     * email_moved; nothing changes then.
     *
     * Crash rule: the new address's lookup is claimed first (its unique _id decides who gets
     * it), then the account is changed, then the old address's lookup is released. A crash
     * after the claim leaves a lookup naming an account without that email: sign-in treats the
     * new address as unknown, the old one still signs in, and a retry (or another account) takes
     * the claim over. A crash after the account write leaves the old lookup naming an account
     * that no longer has it: unknown to sign-in, free for the next claim, removed with the account.
     */
    async changeEmail(id: string, from: string, typed: string): Promise<AccountView> {
      const { email, emailNormalized, doc } = await newEmailFor(id, typed);
      if (doc.emailNormalized !== normalizeEmail(from)) throw moved();
      if ((await claimEmail(emailNormalized, id)) === 'taken') throw unusable();
      let changed: AccountDoc | undefined;
      try {
        changed = await db.modifyIf(Accounts, id, { emailNormalized: doc.emailNormalized },
          { $set: { email, emailNormalized, emailVerified: true }, $addToSet: { formerEmails: doc.email }, ...NEW_STAMP });
      } catch (err) {
        if (!collision(err)) throw err; // a crash: the claim is left for the next claim to take over
        // another account got the address after the claim was taken over: the lookup is its
        // (rare, and a scan, as in insert)
        const winner = await Accounts.findOne({ emailNormalized }).lean<AccountDoc>();
        await (winner ? pointAt(emailNormalized, winner._id) : releaseEmail(emailNormalized, id));
        throw unusable();
      }
      if (!changed) {
        const now = await Accounts.findById(id).lean<AccountDoc>();
        if (now?.emailNormalized === emailNormalized) return view(now); // the same change, confirmed twice at once
        await releaseEmail(emailNormalized, id);
        throw now ? moved() : new AccountError('not_found', 'no such account');
      }
      // a claim another party took over between our claim and our write points back here
      await pointAt(emailNormalized, id);
      await releaseEmail(doc.emailNormalized, id);
      return view(changed);
    },

    /** Marks the email verified if it is still `email` (where the code went); undefined when it changed meanwhile. */
    async markEmailVerified(id: string, email: string): Promise<AccountView | undefined> {
      const doc = await db.modifyIf(Accounts, id, { emailNormalized: normalizeEmail(email) }, { $set: { emailVerified: true } });
      return doc ? view(doc) : undefined;
    },

    /** An admin's change of role. */
    async setRole(id: string, role: Role): Promise<AccountView> {
      if (role !== 'user' && role !== 'admin') throw new AccountError('invalid_role', 'the role is user or admin');
      return updateById(id, { $set: { role } });
    },

    /** The admin sign-in lockout on or off: while on, sign-ins fail like a wrong password. */
    async setLocked(id: string, locked: boolean): Promise<AccountView> {
      return updateById(id, locked ? { $set: { locked: true }, ...NEW_STAMP } : { $unset: { locked: '' } });
    },

    /** Disables or enables an account by id (ending its sessions is the caller's business). */
    async setDisabledById(id: string, disabled: boolean): Promise<AccountView> {
      return updateById(id, { $set: { disabled }, ...(disabled ? NEW_STAMP : {}) });
    },

    /** An admin's password reset: the current password stops working now; a set-password link sets a new one. */
    async requirePasswordReset(id: string): Promise<AccountView> {
      return updateById(id, { $set: { passwordHash: NO_PASSWORD, passwordResetRequired: true }, ...NEW_STAMP });
    },

    /**
     * Why `password` cannot be this account's new password (every broken rule, then guessability,
     * in the words of AccountError weak_password), or undefined: lets a page refuse it before
     * spending anything. AccountError not_found for an unknown id.
     */
    async newPasswordProblemFor(id: string, password: string): Promise<string | undefined> {
      const doc = await Accounts.findById(id).lean<AccountDoc>();
      if (!doc) throw new AccountError('not_found', 'no such account');
      return newPasswordProblem(password, [doc.email, doc.name]);
    },

    /**
     * Sets a new password without the current one (the caller redeemed a set-password link, which
     * came by email, so the email counts as verified). The same rules as every new password
     * (AccountError weak_password, nothing changed); clears passwordResetRequired.
     */
    async setPassword(id: string, password: string): Promise<AccountView> {
      const doc = await Accounts.findById(id).lean<AccountDoc>();
      if (!doc) throw new AccountError('not_found', 'no such account');
      const weak = await newPasswordProblem(password, [doc.email, doc.name]);
      if (weak) throw new AccountError('weak_password', weak);
      const passwordHash = await hasher.hash(password);
      return updateById(id, { $set: { passwordHash, passwordChangedAt: new Date(), emailVerified: true }, $unset: { passwordResetRequired: '' }, ...NEW_STAMP });
    },

    /** Replaces the given profile fields (an empty string clears one). */
    async updateProfile(email: string, changes: Profile & { name?: string }): Promise<AccountView> {
      const found = await byEmail(email);
      if (!found) throw new AccountError('not_found', `no account with email ${email}`);
      const { name, ...fields } = changes;
      const merged: Profile = { ...found.profile, ...fields, address: { ...found.profile?.address, ...fields.address } };
      for (const [k, v] of Object.entries(merged)) if (v === '') delete merged[k as keyof Profile];
      for (const [k, v] of Object.entries(merged.address ?? {})) if (v === '') delete merged.address![k as keyof Profile['address'] & string];
      if (merged.address && !Object.keys(merged.address).length) delete merged.address;
      const invalid = profileProblems(merged);
      if (invalid.length || (name !== undefined && name.length > 200)) throw new AccountError('invalid_profile', [...invalid, ...(name && name.length > 200 ? ['name must be at most 200 characters'] : [])].join('; '));
      const updatedAt = new Date();
      await write(found._id, () => Accounts.updateOne({ _id: found._id }, { $set: { profile: merged, ...(name !== undefined ? { name } : {}), updatedAt } }));
      return view({ ...found, profile: merged, ...(name !== undefined ? { name } : {}), updatedAt });
    },

    /** Sets (or, with undefined, turns off) the routine second factor every sign-in needs. */
    /** The routine second factor on or off (a new stamp: sign-ins in progress stop); resolves to the new stamp. */
    async setSecondFactor(accountId: string, factor: SecondFactor | undefined): Promise<number> {
      const doc = await write(accountId, () => Accounts.findOneAndUpdate({ _id: accountId }, { ...(factor ? { $set: { secondFactor: factor } } : { $unset: { secondFactor: '' } }), ...NEW_STAMP }, { returnDocument: 'after' }).lean<{ stamp?: number }>());
      if (!doc) throw new AccountError('not_found', 'no such account');
      return doc.stamp ?? 0;
    },

    /** New-device verification on or off for one account (service and test accounts). */
    async setDeviceVerification(email: string, on: boolean): Promise<AccountView> {
      const found = await byEmail(email);
      if (!found) throw new AccountError('not_found', `no account with email ${email}`);
      await write(found._id, () => Accounts.updateOne({ _id: found._id }, on ? { $unset: { deviceVerification: '' } } : { $set: { deviceVerification: false } }));
      return view({ ...found, deviceVerification: on });
    },

    /** Records the organisation an account belongs to (organisations keep their own member lists). */
    async setOrganisation(accountId: string, organisationId: string | undefined): Promise<void> {
      const res = await write(accountId, () => Accounts.updateOne({ _id: accountId }, organisationId ? { $set: { organisationId } } : { $unset: { organisationId: '' } }));
      if (!res.matchedCount) throw new AccountError('not_found', 'no such account');
    },

    async setDisabled(email: string, disabled: boolean): Promise<AccountView> {
      const found = await byEmail(email);
      if (!found) throw new AccountError('not_found', `no account with email ${email}`);
      await write(found._id, () => Accounts.updateOne({ _id: found._id }, { $set: { disabled }, ...(disabled ? NEW_STAMP : {}) }));
      return view({ ...found, disabled, stamp: (found.stamp ?? 0) + (disabled ? 1 : 0) });
    },

    /** The rule set's problems with a new password, in words (empty when acceptable); the page shows each. */
    passwordRuleProblems: (password: string) => passwordProblems(password, passwordRules),

    /**
     * Changes the password after checking the current one. AccountError wrong_password (current
     * not right) or weak_password (the new one breaks a rule or is common); nothing changes then.
     */
    async changePassword(accountId: string, current: string, next: string): Promise<AccountView> {
      const doc = await Accounts.findById(accountId).lean<AccountDoc>();
      const ok = await hasher.verify(usableHash(doc), current);
      if (!doc || !ok) throw new AccountError('wrong_password', 'Your current password is not right.');
      if (next === current) throw new AccountError('weak_password', 'the new password must differ from the current one');
      const weak = await newPasswordProblem(next, [doc.email, doc.name]);
      if (weak) throw new AccountError('weak_password', weak);
      const passwordHash = await hasher.hash(next);
      const passwordChangedAt = new Date();
      await write(accountId, () => Accounts.updateOne({ _id: accountId }, { $set: { passwordHash, passwordChangedAt }, ...NEW_STAMP }));
      return view({ ...doc, passwordHash, passwordChangedAt, stamp: (doc.stamp ?? 0) + 1 });
    },

    /** Sets or replaces the PIN (the caller checked its rules and the re-authentication). */
    async setPin(accountId: string, pin: string): Promise<void> {
      const pinHash = await hasher.hash(pin);
      const res = await write(accountId, () => Accounts.updateOne({ _id: accountId }, { $set: { pinHash } }));
      if (!res.matchedCount) throw new AccountError('not_found', 'no such account');
    },

    /** Removes the PIN, and with it the settings that need one. */
    async removePin(accountId: string): Promise<void> {
      await write(accountId, () => Accounts.updateOne({ _id: accountId }, { $unset: { pinHash: '', pinAfterSignIn: '', screenLockMinutes: '' } }));
    },

    /** Whether `pin` is the account's PIN (one full hash verification either way). */
    async verifyPin(accountId: string, pin: string): Promise<boolean> {
      const doc = await Accounts.findById(accountId).lean<AccountDoc>();
      return hasher.verify(doc?.pinHash, pin.slice(0, 64));
    },

    /**
     * Remembers the consent the person gave the application `clientId` (replacing what was kept
     * for it), so later sign-ins to it do not ask again. A client id that cannot be a field name
     * (a dot, a leading "$") is not kept: that application asks every time.
     */
    async rememberConsent(accountId: string, clientId: string, consent: RememberedConsent): Promise<void> {
      if (!consentKeyOk(clientId)) return;
      await write(accountId, () => Accounts.updateOne({ _id: accountId }, { $set: { [`consents.${clientId}`]: consent } }));
    },

    /** Forgets the consent given to `clientId` ("Remove access"): its next sign-in asks again. */
    async forgetConsent(accountId: string, clientId: string): Promise<void> {
      if (!consentKeyOk(clientId)) return;
      await write(accountId, () => Accounts.updateOne({ _id: accountId }, { $unset: { [`consents.${clientId}`]: '' } }));
    },

    /** Forgets every kept consent (the account was used by someone else: what they allowed is asked again). */
    async forgetAllConsents(accountId: string): Promise<void> {
      await write(accountId, () => Accounts.updateOne({ _id: accountId }, { $unset: { consents: '' } }));
    },

    /** The session settings: PIN after sign-in and the screen lock need a PIN (AccountError no_pin). */
    async setSessionSettings(accountId: string, settings: { pinAfterSignIn?: boolean; screenLockMinutes?: number; autoLogoutDays?: number | null }): Promise<void> {
      const doc = await Accounts.findById(accountId).lean<AccountDoc>();
      if (!doc) throw new AccountError('not_found', 'no such account');
      const needsPin = settings.pinAfterSignIn === true || (settings.screenLockMinutes ?? 0) > 0;
      if (needsPin && !doc.pinHash) throw new AccountError('no_pin', 'Set a PIN first.');
      const set: Record<string, unknown> = {};
      const unset: Record<string, ''> = {};
      if (settings.pinAfterSignIn !== undefined) set.pinAfterSignIn = settings.pinAfterSignIn;
      if (settings.screenLockMinutes !== undefined) set.screenLockMinutes = settings.screenLockMinutes;
      if (settings.autoLogoutDays === null) unset.autoLogoutDays = '';
      else if (settings.autoLogoutDays !== undefined) set.autoLogoutDays = settings.autoLogoutDays;
      await write(accountId, () => Accounts.updateOne({ _id: accountId }, { ...(Object.keys(set).length ? { $set: set } : {}), ...(Object.keys(unset).length ? { $unset: unset } : {}) }));
    },
  };
}
