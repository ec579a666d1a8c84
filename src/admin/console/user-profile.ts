// The account page's forms for the standard claims (OIDC Core §5.1: the profile and address scopes)
// and for an already verified phone number. Each claim is judged on its own, so its problem stands
// beside its field and nothing is saved while any is wrong. Setting a phone number marks it verified
// without a code, and may make it the number text and voice codes go to: it is confirmed with
// re-authentication, audited (admin.user.phone_set) and emailed to the person by the service.
import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { profileProblems, type Address, type Profile } from '../../accounts/profile.ts';
import { displayNumber, parseNumber, MAX_NUMBER_INPUT } from '../../phones/numbers.ts';
import { AdminError, type AdminService, type AdminUser, type AdminUserDetails, type UserChange } from '../types.ts';
import { actorOf } from './area.ts';
import { FormReader, done, idParam, sentence } from './forms.ts';
import type { Confirmation, confirmations } from './pages.ts';

type Claim = Exclude<keyof Profile, 'address'>;

interface Field {
  /** The form field: the name, a profile key, or `address-<key>`. */
  name: string;
  label: string;
  /** The claim an application receives. */
  claim: string;
  hint?: string;
  max: number;
  type?: 'url';
}

/** In the order of OIDC Core §5.1. */
const CLAIMS: (Field & { key: Claim | 'name' })[] = [
  { key: 'name', name: 'name', label: 'Name', claim: 'name', max: 200 },
  { key: 'givenName', name: 'givenName', label: 'Given name', claim: 'given_name', max: 100 },
  { key: 'familyName', name: 'familyName', label: 'Family name', claim: 'family_name', max: 100 },
  { key: 'middleName', name: 'middleName', label: 'Middle name', claim: 'middle_name', max: 100 },
  { key: 'nickname', name: 'nickname', label: 'Nickname', claim: 'nickname', max: 100 },
  { key: 'preferredUsername', name: 'preferredUsername', label: 'Preferred username', claim: 'preferred_username', hint: 'No spaces.', max: 64 },
  { key: 'profileUrl', name: 'profileUrl', label: 'Profile page', claim: 'profile', hint: 'An http or https address.', max: 2048, type: 'url' },
  { key: 'picture', name: 'picture', label: 'Picture', claim: 'picture', hint: 'An https address of an image.', max: 2048, type: 'url' },
  { key: 'website', name: 'website', label: 'Website', claim: 'website', hint: 'An http or https address.', max: 2048, type: 'url' },
  { key: 'gender', name: 'gender', label: 'Gender', claim: 'gender', hint: 'female, male, or another value.', max: 50 },
  { key: 'birthdate', name: 'birthdate', label: 'Birthdate', claim: 'birthdate', hint: 'YYYY-MM-DD; 0000-MM-DD without the year; or only YYYY.', max: 10 },
  { key: 'zoneinfo', name: 'zoneinfo', label: 'Time zone', claim: 'zoneinfo', hint: 'Such as Europe/Paris.', max: 64 },
  { key: 'locale', name: 'locale', label: 'Language', claim: 'locale', hint: 'A language tag such as en-GB.', max: 35 },
];

const ADDRESS: (Field & { key: keyof Address })[] = (
  [['streetAddress', 'Street address', 'street_address'], ['locality', 'Town or city', 'locality'], ['region', 'Region', 'region'],
    ['postalCode', 'Postal code', 'postal_code'], ['country', 'Country', 'country']] as const
).map(([key, label, claim]) => ({ key, name: `address-${key}`, label, claim: `address.${claim}`, max: 200 }));

/** The profile form as the page shows it: the values (saved or typed) and a problem per field. */
export interface ProfileForm {
  values: Record<string, string>;
  problems: Record<string, string>;
}

/** The phone form: the typed number, the primary box, and why it was refused. */
export interface PhoneForm {
  value: string;
  primary: boolean;
  problem?: string;
}

export interface PageForms {
  profile?: ProfileForm;
  phone?: PhoneForm;
}

/** The form's fields, for the page. */
export const PROFILE_FIELDS = { claims: CLAIMS, address: ADDRESS };

/** The saved claims as form values. */
export function profileForm(details: AdminUserDetails): ProfileForm {
  const values: Record<string, string> = { name: details.name };
  for (const f of CLAIMS) if (f.key !== 'name') values[f.name] = details.profile[f.key] ?? '';
  for (const f of ADDRESS) values[f.name] = details.profile.address?.[f.key] ?? '';
  return { values, problems: {} };
}

/** Why one typed value cannot be kept ('' clears a claim), as the store judges it. */
function problemOf(f: Field & { key: string }, value: string): string | undefined {
  if (value.length > f.max) return `${f.label} is too long (at most ${f.max} characters).`;
  if (value === '' || f.key === 'name') return /[\u0000-\u001f]/.test(value) ? `${f.label} cannot contain control characters.` : undefined;
  const [problem] = profileProblems(f.name.startsWith('address-') ? { address: { [f.key]: value } } : { [f.key]: value });
  return problem ? sentence(problem) : undefined;
}

type UserPage = (ctx: Context, user: AdminUser, message?: { errors?: string[] } & PageForms) => Promise<void>;

export function userProfileRoutes(router: Router, gate: Middleware[], admin: AdminService, confirm: ReturnType<typeof confirmations>, userPage: UserPage): void {
  router.post('/users/:id/profile', ...gate, async (ctx) => {
    const user = await admin.users.get(idParam(ctx, 'id', 'account'));
    const f = new FormReader(ctx);
    const values: Record<string, string> = {};
    const problems: Record<string, string> = {};
    for (const field of [...CLAIMS, ...ADDRESS]) {
      values[field.name] = f.text(field.name, field.label, 4096);
      const problem = problemOf(field, values[field.name]!);
      if (problem) problems[field.name] = problem;
    }
    const form = { values, problems };
    if (f.problems.length || Object.keys(problems).length) {
      ctx.status = 400;
      return userPage(ctx, user, { profile: form, errors: [...f.problems, 'Nothing was saved: correct the fields marked below.'] });
    }
    const profile: Profile = Object.fromEntries(CLAIMS.filter((c) => c.key !== 'name').map((c) => [c.key, values[c.name]]));
    profile.address = Object.fromEntries(ADDRESS.map((a) => [a.key, values[a.name]]));
    const change: UserChange = { name: values.name!, profile };
    try {
      await admin.users.update(actorOf(ctx), user.id, change);
    } catch (err) {
      if (!(err instanceof AdminError) || err.kind === 'not_found') throw err;
      ctx.status = 400;
      return userPage(ctx, user, { profile: form, errors: [`${sentence(err.message)} Nothing was saved.`] });
    }
    ctx.redirect(done(`/admin/users/${encodeURIComponent(user.id)}`, 'profile-saved', 'profile'));
  });

  const phoneConfirmation = (user: AdminUser, number: string, primary: boolean): Confirmation => ({
    title: `Set a verified phone number for ${user.email}`,
    question: `${displayNumber(number)} is marked verified without a code being sent to it: do this only when you know the number is the person's. `
      + (primary ? 'It becomes their primary number: text and voice sign-in codes go to it, and applications allowed their phone number receive it. ' : 'It becomes their primary number only if they have none. ')
      + 'They are emailed about it.',
    details: [['Account', user.email], ['Number', displayNumber(number)], ['Primary number', primary ? 'yes' : 'only if the account has none']],
    action: `/admin/users/${encodeURIComponent(user.id)}/phone`, button: 'Set the verified number', cancel: `/admin/users/${encodeURIComponent(user.id)}#phones`,
    hidden: { number, primary: primary ? 'on' : '', confirmed: 'yes' },
  });

  router.post('/users/:id/phone', ...gate, async (ctx) => {
    const user = await admin.users.get(idParam(ctx, 'id', 'account'));
    const f = new FormReader(ctx);
    const typed = f.text('number', 'Phone number', MAX_NUMBER_INPUT);
    const primary = f.checked('primary');
    const parsed = parseNumber(typed);
    const refuse = (problem: string) => {
      ctx.status = 400;
      return userPage(ctx, user, { phone: { value: typed, primary, problem: `${problem} Nothing was changed.` } });
    };
    if (f.problems.length) return refuse(f.problems[0]!);
    if ('problem' in parsed) return refuse(parsed.problem);
    const confirmation = phoneConfirmation(user, parsed.number, primary);
    if (!f.checked('confirmed')) return confirm.confirmPage(ctx, confirmation);
    if (!(await confirm.reauthenticated(ctx, confirmation))) return;
    try {
      await admin.users.setPhone(actorOf(ctx), user.id, { number: parsed.number, primary });
    } catch (err) {
      if (!(err instanceof AdminError) || err.kind === 'not_found') throw err;
      return refuse(sentence(err.message));
    }
    ctx.redirect(done(`/admin/users/${encodeURIComponent(user.id)}`, 'phone-set', 'phones'));
  });
}
