// The admin console's door in tests: an administrator with an authenticator app, signed in to
// /admin with password and app code, in Chromium or over HTTP.
import assert from 'node:assert/strict';
import { generate } from 'otplib';
import type { Page as BrowserPage } from 'playwright-core';
import type { Tessera } from './tessera.ts';
import { createUser, UserAgent, type TestUser } from './flow.ts';

/** An administrator and the secret of their authenticator app. */
export type TestAdmin = TestUser & { secret: string };

/** A new account with the admin role and a confirmed authenticator app. */
export async function createAdmin(t: Tessera, overrides: Parameters<typeof createUser>[1] = {}): Promise<TestAdmin> {
  const admin = await createUser(t, overrides);
  await t.services.accounts.setRole(admin.id, 'admin');
  const { secret } = await t.services.totp.begin(admin.id, admin.email);
  assert.ok(await t.services.totp.confirm(admin.id, await generate({ secret })));
  return { ...admin, secret };
}

/** The app's code of the next time step: the code that confirmed the app is not accepted twice. */
const nextCode = (admin: TestAdmin) => generate({ secret: admin.secret, epoch: Math.floor(Date.now() / 1000) + 30 });

/** Opens the console page at `path` in Chromium, signs `admin` in by clicking, and waits to be back on it. */
export async function signInToConsole(page: BrowserPage, t: Tessera, admin: TestAdmin, path = '/admin'): Promise<void> {
  await page.goto(`${t.issuer}${path}`);
  await page.getByLabel('Email').fill(admin.email);
  await page.getByLabel('Password', { exact: true }).fill(admin.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByLabel('Code').fill(await nextCode(admin));
  await page.getByRole('button', { name: 'Verify', exact: true }).click();
  await page.waitForURL(`${t.issuer}${path}`);
}

/** A user agent signed in to the console as `admin`, over HTTP. */
export async function consoleAgent(t: Tessera, admin: TestAdmin): Promise<UserAgent> {
  const agent = new UserAgent();
  let page = await agent.visit(`${t.issuer}/admin`);
  page = await agent.submit(page, /\/login$/, { email: admin.email, password: admin.password });
  page = await agent.submit(page, /\/factor$/, { code: await nextCode(admin) });
  assert.match(page.body, /<h1>Administration<\/h1>/);
  return agent;
}
