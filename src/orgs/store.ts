// Organisations (minimal): a name, members and organisation admins. An organisation's admins
// receive the new-device notices of every member. An account belongs to at most one organisation
// (its organisationId); the organisation document keeps both lists.
//
// Crash rule: membership is two writes, so it holds only where both agree — the account names the
// organisation AND the organisation lists the account (memberOf). Joining writes the account first,
// leaving the organisation's lists first, so a crash between the two leaves an account that names
// an organisation not listing it: not a member, free to join (again, or elsewhere), and never a
// listed member whose account points elsewhere.
import { randomBytes } from 'node:crypto';
import { Schema } from 'mongoose';
import type { Database } from '../db/database.ts';
import { editDocument } from '../db/edit.ts';
import type { AccountStore } from '../accounts/store.ts';
import { DomainError } from '../domain-error.ts';

export interface Organisation {
  id: string;
  name: string;
  members: string[];
  admins: string[];
  createdAt: Date;
}

interface OrgDoc extends Omit<Organisation, 'id'> {
  _id: string;
  rev?: number;
}

/** Every refusal is invalid_organisation (400 on the wire, as the admin API has always answered). */
export class OrganisationError extends DomainError {
  override name = 'OrganisationError';
  constructor(message: string) {
    super('invalid', 'invalid_organisation', message);
  }
}

export type Organisations = ReturnType<typeof createOrganisations>;

export function createOrganisations(db: Database, accounts: AccountStore, clock: () => Date = () => new Date()) {
  const Orgs = db.model<OrgDoc>('Organisation', new Schema<OrgDoc>({
    _id: String, rev: Number, name: { type: String, required: true },
    members: { type: [String], default: [] }, admins: { type: [String], default: [] }, createdAt: { type: Date, required: true },
  }, { collection: 'organisations', versionKey: false }));

  const view = ({ _id, rev: _rev, ...rest }: OrgDoc): Organisation => ({ id: _id, ...rest });

  async function byId(id: string): Promise<Organisation | undefined> {
    const doc = await Orgs.findById(id).lean<OrgDoc>();
    return doc ? view(doc) : undefined;
  }

  /** By id, or (administration only: a scan) by exact name. */
  async function find(idOrName: string): Promise<Organisation> {
    const found = (await byId(idOrName)) ?? (await Orgs.find({ name: idOrName }).lean<OrgDoc[]>()).map(view)[0];
    if (!found) throw new OrganisationError(`no organisation "${idOrName}"`);
    return found;
  }

  /** The organisation the account belongs to: the one it names, if that one lists it too. */
  async function memberOf(account: { id: string; organisationId?: string }): Promise<Organisation | undefined> {
    const org = account.organisationId ? await byId(account.organisationId) : undefined;
    return org?.members.includes(account.id) ? org : undefined;
  }

  async function join(idOrName: string, email: string, admin: boolean): Promise<Organisation> {
    const org = await find(idOrName);
    const account = await accounts.findByEmail(email);
    if (!account) throw new OrganisationError(`no account with email ${email}`);
    return setMember(org.id, account.id, admin, true);
  }

  /**
   * Makes the account a member (an organisation admin when `admin`, a plain member otherwise: a
   * second call changes the role). `keepAdmin` only adds the admin role, never takes it away.
   */
  async function setMember(organisationId: string, accountId: string, admin: boolean, keepAdmin = false): Promise<Organisation> {
    const account = await accounts.findById(accountId);
    if (!account) throw new OrganisationError('there is no such account');
    if (account.organisationId && account.organisationId !== organisationId && (await memberOf(account))) throw new OrganisationError(`${account.email} already belongs to organisation ${account.organisationId}`);
    if (!(await byId(organisationId))) throw new OrganisationError(`no organisation "${organisationId}"`);
    // the account first (crash rule above)
    if (account.organisationId !== organisationId) await accounts.setOrganisation(account.id, organisationId);
    return editDocument(db, Orgs, organisationId, (doc) => {
      if (!doc) throw new OrganisationError(`no organisation "${organisationId}"`);
      const members = [...new Set([...doc.members, account.id])];
      const admins = admin ? [...new Set([...doc.admins, account.id])] : keepAdmin ? doc.admins : doc.admins.filter((a) => a !== account.id);
      return { set: { members, admins }, result: view({ ...doc, members, admins }) };
    });
  }

  return {
    byId,
    find,
    memberOf,
    /** The organisation the account administers: a member (memberOf) and one of its admins; read afresh each time. */
    async administeredBy(account: { id: string; organisationId?: string }): Promise<Organisation | undefined> {
      const org = await memberOf(account);
      return org?.admins.includes(account.id) ? org : undefined;
    },
    async create(name: string): Promise<Organisation> {
      const clean = name.trim();
      if (!clean || clean.length > 200) throw new OrganisationError('an organisation name has 1 to 200 characters');
      if ((await Orgs.find({ name: clean }).lean<OrgDoc[]>()).length) throw new OrganisationError(`an organisation named "${clean}" already exists`);
      const doc = { _id: `org_${randomBytes(9).toString('base64url')}`, name: clean, members: [], admins: [], createdAt: clock() };
      await Orgs.create(doc);
      return view(doc);
    },
    addMember: (idOrName: string, email: string) => join(idOrName, email, false),
    setMember: (organisationId: string, accountId: string, admin: boolean) => setMember(organisationId, accountId, admin),
    /** The account leaves the organisation (and stops being one of its admins). */
    async removeMember(organisationId: string, accountId: string): Promise<Organisation> {
      const updated = await editDocument(db, Orgs, organisationId, (doc) => {
        if (!doc) throw new OrganisationError(`no organisation "${organisationId}"`);
        if (!doc.members.includes(accountId)) throw new OrganisationError('that account is not a member of this organisation');
        const members = doc.members.filter((m) => m !== accountId);
        const admins = doc.admins.filter((a) => a !== accountId);
        return { set: { members, admins }, result: view({ ...doc, members, admins }) };
      });
      const account = await accounts.findById(accountId);
      if (account?.organisationId === organisationId) await accounts.setOrganisation(accountId, undefined);
      return updated;
    },
    async rename(organisationId: string, name: string): Promise<Organisation> {
      const clean = name.trim();
      if (!clean || clean.length > 200) throw new OrganisationError('an organisation name has 1 to 200 characters');
      // administration only: names are unique, checked by a scan
      const taken = (await Orgs.find({ name: clean }).lean<OrgDoc[]>()).some((o) => o._id !== organisationId);
      if (taken) throw new OrganisationError(`an organisation named "${clean}" already exists`);
      return editDocument(db, Orgs, organisationId, (doc) => {
        if (!doc) throw new OrganisationError(`no organisation "${organisationId}"`);
        return { set: { name: clean }, result: view({ ...doc, name: clean }) };
      });
    },
    /** Organisation admins are members too. */
    addAdmin: (idOrName: string, email: string) => join(idOrName, email, true),
    async list(): Promise<Organisation[]> {
      return (await Orgs.find().sort({ createdAt: 1 }).lean<OrgDoc[]>()).map(view);
    },
    /** The accounts that administer this account's organisation (empty without one). */
    async adminsOf(organisationId: string | undefined): Promise<string[]> {
      return organisationId ? ((await byId(organisationId))?.admins ?? []) : [];
    },
  };
}
