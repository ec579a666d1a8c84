// "Profile" in the security center (/account/security/profile): the name and the standard profile
// fields relying parties receive as claims (given and family name, preferred username, language,
// time zone). Each field is checked on its own so its error stands beside it; nothing is saved
// while any is wrong. A change asks for recent authentication like every change, and is audited.
// The same page changes and verifies the email address (email-routes.ts).
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { AccountStore, AccountView } from '../accounts/store.ts';
import { profileProblems, type Profile } from '../accounts/profile.ts';
import { field, type AccountArea } from './area.ts';
import { emailRoutes, type EmailBlock, type EmailRouteDeps } from './email-routes.ts';

/** The form's fields: its name, the label, and where the value lives. */
const FIELDS = [
  { name: 'name', label: 'Name', hint: 'As applications greet you.' },
  { name: 'givenName', label: 'Given name', hint: '' },
  { name: 'familyName', label: 'Family name', hint: '' },
  { name: 'preferredUsername', label: 'Preferred username', hint: 'No spaces.' },
  { name: 'locale', label: 'Language', hint: 'A language tag such as en-GB or fr-CH.' },
  { name: 'zoneinfo', label: 'Time zone', hint: 'Such as Europe/Paris. The times on these pages follow it.' },
] as const;
type FieldName = (typeof FIELDS)[number]['name'];

const valuesOf = (account: AccountView): Record<FieldName, string> => ({
  name: account.name, givenName: account.profile.givenName ?? '', familyName: account.profile.familyName ?? '',
  preferredUsername: account.profile.preferredUsername ?? '', locale: account.profile.locale ?? '', zoneinfo: account.profile.zoneinfo ?? '',
});

/** Why one typed value cannot be saved, in a sentence, or undefined (an empty value clears the field). */
function problemOf(name: FieldName, value: string): string | undefined {
  if (value === '') return name === 'name' ? 'Enter a name.' : undefined;
  if (name === 'name') return value.length > 200 || /[\u0000-\u001f]/.test(value) ? 'A name has at most 200 printable characters.' : undefined;
  const [problem] = profileProblems({ [name]: value } as Profile);
  if (!problem) return undefined;
  // the page's own words for the claim names the store's messages start with
  const worded = problem.replace(/^locale\b/, 'language').replace(/^zoneinfo\b/, 'time zone');
  return `${worded[0]!.toUpperCase()}${worded.slice(1)}.`;
}

export function profileRoutes(deps: Omit<EmailRouteDeps, 'accounts'> & { accounts: Pick<AccountStore, 'updateProfile'> & EmailRouteDeps['accounts'] }) {
  return (router: Router, area: AccountArea): void => {
    const page = async (ctx: Context, account: AccountView, values: Record<FieldName, string>, problems: Partial<Record<FieldName | 'password', string>> = {}, notice?: string, email: EmailBlock = {}) =>
      ctx.render('account/profile', {
        title: 'Profile', account, fields: FIELDS, values, problems, notice, reauthNeeded: await area.reauthNeeded(ctx), csrf: ctx.state._csrf,
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
      const values = Object.fromEntries(FIELDS.map((f) => [f.name, field(ctx, f.name, 400).trim()])) as Record<FieldName, string>;
      const problems: Partial<Record<FieldName | 'password', string>> = {};
      for (const f of FIELDS) {
        const problem = problemOf(f.name, values[f.name]);
        if (problem) problems[f.name] = problem;
      }
      if (!(await area.passwordConfirmed(ctx, account))) problems.password = 'Your current password is not right, or is needed: type it to save.';
      if (Object.keys(problems).length) {
        ctx.status = 400;
        await page(ctx, account, values, problems);
        return;
      }
      const { name, ...profile } = values;
      const saved = await deps.accounts.updateProfile(account.email, { name, ...profile });
      area.audit(ctx, saved, 'account.profile_changed', 'The profile was changed.');
      await page(ctx, saved, valuesOf(saved), {}, 'Your profile was saved. Applications see it the next time they ask.');
    });
  };
}
