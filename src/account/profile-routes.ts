// "Profile" in the security center (/account/security/profile): the name and the standard profile
// fields relying parties receive as claims (OIDC Core §5.1: given, family and middle name,
// nickname, preferred username, profile page, website, gender, birthdate, language, time zone). Each field is checked on its own so its error stands beside it; nothing is saved
// while any is wrong. A change asks for recent authentication like every change, and is audited.
// The same page changes and verifies the email address (email-routes.ts).
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { AccountStore, AccountView } from '../accounts/store.ts';
import { profileProblems, type Profile } from '../accounts/profile.ts';
import { field, tr, type AccountArea } from './area.ts';
import type { Translate } from '../i18n/index.ts';
import { emailRoutes, type EmailBlock, type EmailRouteDeps } from './email-routes.ts';

/** The form's fields: its name, the label, and where the value lives. */
const FIELDS = [
  { name: 'name', label: 'Name', hint: 'As applications greet you.', max: 200, autocomplete: 'name' },
  { name: 'givenName', label: 'Given name', hint: '', max: 100, autocomplete: 'given-name' },
  { name: 'middleName', label: 'Middle name', hint: '', max: 100, autocomplete: 'additional-name' },
  { name: 'familyName', label: 'Family name', hint: '', max: 100, autocomplete: 'family-name' },
  { name: 'nickname', label: 'Nickname', hint: '', max: 100, autocomplete: 'nickname' },
  { name: 'preferredUsername', label: 'Preferred username', hint: 'No spaces.', max: 64, autocomplete: 'username' },
  { name: 'profileUrl', label: 'Profile page', hint: 'The address of a page about you.', max: 2048, autocomplete: 'off' },
  { name: 'website', label: 'Website', hint: 'Your web page or blog.', max: 2048, autocomplete: 'url' },
  { name: 'gender', label: 'Gender', hint: '', max: 50, autocomplete: 'sex' },
  { name: 'birthdate', label: 'Birthdate', hint: 'YYYY-MM-DD; 0000-MM-DD to leave the year out.', max: 10, autocomplete: 'off' },
  { name: 'locale', label: 'Language', hint: 'A language tag such as en-GB or fr-CH.', max: 35, autocomplete: 'off' },
  { name: 'zoneinfo', label: 'Time zone', hint: 'Such as Europe/Paris. The times on these pages follow it.', max: 64, autocomplete: 'off' },
] as const;
type FieldName = (typeof FIELDS)[number]['name'];
/** The fields that are web addresses (typed as such on phones). */
const ADDRESSES: ReadonlySet<FieldName> = new Set(['profileUrl', 'website']);

const valuesOf = (account: AccountView): Record<FieldName, string> => ({
  ...Object.fromEntries(FIELDS.map((f) => [f.name, f.name === 'name' ? '' : account.profile[f.name] ?? ''])) as Record<FieldName, string>,
  name: account.name,
});

/** The form's labels and hints in the page's language. */
const fieldsIn = (t: Translate) => FIELDS.map((f) => ({
  name: f.name, label: LABELS[f.name](t), hint: f.hint ? HINTS[f.name]!(t) : '', max: f.max, autocomplete: f.autocomplete, url: ADDRESSES.has(f.name),
}));
const LABELS: Record<FieldName, (t: Translate) => string> = {
  name: (t) => t('account:profile.fields.name'), givenName: (t) => t('account:profile.fields.givenName'), familyName: (t) => t('account:profile.fields.familyName'),
  middleName: (t) => t('account:profile.fields.middleName'), nickname: (t) => t('account:profile.fields.nickname'),
  preferredUsername: (t) => t('account:profile.fields.preferredUsername'), locale: (t) => t('account:profile.fields.locale'), zoneinfo: (t) => t('account:profile.fields.zoneinfo'),
  profileUrl: (t) => t('account:profile.fields.profileUrl'), website: (t) => t('account:profile.fields.website'),
  gender: (t) => t('account:profile.fields.gender'), birthdate: (t) => t('account:profile.fields.birthdate'),
};
const HINTS: Partial<Record<FieldName, (t: Translate) => string>> = {
  name: (t) => t('account:profile.fields.nameHint'), preferredUsername: (t) => t('account:profile.fields.preferredUsernameHint'),
  locale: (t) => t('account:profile.fields.localeHint'), zoneinfo: (t) => t('account:profile.fields.zoneinfoHint'),
  profileUrl: (t) => t('account:profile.fields.profileUrlHint'), website: (t) => t('account:profile.fields.websiteHint'),
  birthdate: (t) => t('account:profile.fields.birthdateHint'),
};

/**
 * Why one typed value cannot be saved, in a sentence of the page's language, or undefined (an
 * empty value clears the field). The store judges (accounts/profile.ts, one field at a time here),
 * the page words it for the field it concerns.
 */
function problemOf(t: Translate, name: FieldName, value: string): string | undefined {
  if (value === '') return name === 'name' ? t('account:profile.problems.enterName') : undefined;
  if (name === 'name') return value.length > 200 || /[\u0000-\u001f]/.test(value) ? t('account:profile.problems.nameLength') : undefined;
  const [problem] = profileProblems({ [name]: value } as Profile);
  if (!problem) return undefined;
  switch (name) {
    case 'givenName': return t('account:profile.problems.givenName');
    case 'familyName': return t('account:profile.problems.familyName');
    case 'middleName': return t('account:profile.problems.middleName');
    case 'nickname': return t('account:profile.problems.nickname');
    case 'gender': return t('account:profile.problems.gender');
    case 'profileUrl': return t('account:profile.problems.profileUrl');
    case 'website': return t('account:profile.problems.website');
    case 'birthdate': return /real date/.test(problem) ? t('account:profile.problems.birthdateDay', { value }) : t('account:profile.problems.birthdate', { value });
    case 'preferredUsername': return t('account:profile.problems.preferredUsername');
    case 'locale': return t('account:profile.problems.locale', { value });
    case 'zoneinfo': return t('account:profile.problems.zoneinfo', { value });
    default: return undefined;
  }
}

export function profileRoutes(deps: Omit<EmailRouteDeps, 'accounts'> & { accounts: Pick<AccountStore, 'updateProfile'> & EmailRouteDeps['accounts'] }) {
  return (router: Router, area: AccountArea): void => {
    const page = async (ctx: Context, account: AccountView, values: Record<FieldName, string>, problems: Partial<Record<FieldName | 'password', string>> = {}, notice?: string, email: EmailBlock = {}) =>
      ctx.render('account/profile', {
        title: tr(ctx)('account:nav.profile'), account, fields: fieldsIn(tr(ctx)), values, problems, notice, reauthNeeded: await area.reauthNeeded(ctx), csrf: ctx.state._csrf,
        email: { value: email.value ?? '', problems: email.problems ?? {}, verifyProblem: email.verifyProblem },
      });
    emailRoutes(deps, (ctx, account, email, notice) => page(ctx, account, valuesOf(account), {}, notice, email))(router, area);

    router.get('/security/profile', async (ctx) => {
      const account = await area.requireAccount(ctx);
      if (!account) return;
      await page(ctx, account, valuesOf(account));
    });

    router.post('/security/profile', async (ctx) => {
      const account = await area.requireAccount(ctx);
      if (!account) return;
      // read long enough for every field's limit, so an over-long value is refused beside its field (not dropped)
      const values = Object.fromEntries(FIELDS.map((f) => [f.name, field(ctx, f.name, 4096).trim()])) as Record<FieldName, string>;
      const problems: Partial<Record<FieldName | 'password', string>> = {};
      for (const f of FIELDS) {
        const problem = problemOf(tr(ctx), f.name, values[f.name]);
        if (problem) problems[f.name] = problem;
      }
      if (!(await area.passwordConfirmed(ctx, account))) problems.password = tr(ctx)('account:profile.passwordNeeded');
      if (Object.keys(problems).length) {
        ctx.status = 400;
        await page(ctx, account, values, problems);
        return;
      }
      const { name, ...profile } = values;
      const saved = await deps.accounts.updateProfile(account.email, { name, ...profile });
      area.audit(ctx, saved, 'account.profile_changed', 'The profile was changed.');
      await page(ctx, saved, valuesOf(saved), {}, tr(ctx)('account:profile.saved'));
    });
  };
}
