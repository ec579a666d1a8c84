// The account store: the only module that touches the accounts collection. Everything else calls
// these functions and receives plain AccountView objects (never the mongoose document or hash).
import { randomUUID } from 'node:crypto';
import { Schema } from 'mongoose';
import type { Database } from '../db/database.ts';
import type { PasswordHasher } from './password.ts';
import { passwordProblems } from '../policy/password.ts';

export type Role = 'user' | 'admin';

export interface AccountView {
  id: string;
  email: string;
  emailVerified: boolean;
  name: string;
  role: Role;
  disabled: boolean;
  organisationId?: string;
  createdAt: Date;
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
  createdAt: Date;
  updatedAt: Date;
}

export class AccountError extends Error {
  override name = 'AccountError';
  readonly code: 'email_taken' | 'invalid_email' | 'weak_password' | 'not_found';
  constructor(code: AccountError['code'], message: string) {
    super(message);
    this.code = code;
  }
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

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
    createdAt: doc.createdAt,
  };
}

export interface NewAccount {
  email: string;
  password: string;
  name?: string;
  role?: Role;
  emailVerified?: boolean;
}

export type AccountStore = ReturnType<typeof createAccountStore>;

export function createAccountStore(db: Database, hasher: PasswordHasher) {
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
    },
    { collection: 'accounts', versionKey: false, timestamps: true },
  );
  const Accounts = db.model<AccountDoc>('Account', schema);

  return {
    async create(input: NewAccount): Promise<AccountView> {
      const email = input.email.trim();
      if (!EMAIL.test(email)) throw new AccountError('invalid_email', `"${input.email}" is not an email address`);
      const problems = passwordProblems(input.password);
      if (problems.length) throw new AccountError('weak_password', `the password needs ${problems.join(', ')}`);
      const passwordHash = await hasher.hash(input.password);
      try {
        const doc = await Accounts.create({
          _id: randomUUID(),
          email,
          emailNormalized: normalizeEmail(email),
          emailVerified: input.emailVerified ?? false,
          name: input.name ?? '',
          passwordHash,
          role: input.role ?? 'user',
        });
        return view(doc.toObject());
      } catch (err) {
        if ((err as { code?: number }).code === 11000) throw new AccountError('email_taken', `an account with email ${email} already exists`);
        throw err;
      }
    },

    async findById(id: string): Promise<AccountView | undefined> {
      const doc = await Accounts.findById(id).lean<AccountDoc>();
      return doc ? view(doc) : undefined;
    },

    async findByEmail(email: string): Promise<AccountView | undefined> {
      const doc = await Accounts.findOne({ emailNormalized: normalizeEmail(email) }).lean<AccountDoc>();
      return doc ? view(doc) : undefined;
    },

    /**
     * The sign-in check. Unknown email, wrong password and a disabled account all return undefined
     * after the same amount of work, so the caller cannot tell them apart.
     */
    async authenticate(email: string, password: string): Promise<AccountView | undefined> {
      const doc = await Accounts.findOne({ emailNormalized: normalizeEmail(email) }).lean<AccountDoc>();
      const ok = await hasher.verify(doc?.passwordHash, password);
      if (!ok || !doc || doc.disabled) return undefined;
      return view(doc);
    },

    async list(): Promise<AccountView[]> {
      const docs = await Accounts.find().sort({ createdAt: 1 }).lean<AccountDoc[]>();
      return docs.map(view);
    },

    async setDisabled(email: string, disabled: boolean): Promise<AccountView> {
      const doc = await Accounts.findOneAndUpdate(
        { emailNormalized: normalizeEmail(email) },
        { $set: { disabled } },
        { returnDocument: 'after' },
      ).lean<AccountDoc>();
      if (!doc) throw new AccountError('not_found', `no account with email ${email}`);
      return view(doc);
    },
  };
}
