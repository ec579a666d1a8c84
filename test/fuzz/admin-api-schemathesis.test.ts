// schemathesis (PyPI, installed by tools/fuzz/install.sh into .venv-fuzz/) fuzzes the admin JSON API
// of a real Tessera from its own OpenAPI document (/admin/api/v1/openapi.json) with a granted machine
// client's admin token: examples, coverage and fuzzing phases, a fixed seed and a bounded number of
// cases per operation, a 100 s budget. Every check but positive_data_acceptance runs (no 5xx; status
// codes, content types, headers and bodies match the document; invalid input refused, 413 allowed by
// tools/fuzz/schemathesis.toml); the run must exit 0. Without the
// virtualenv the test is skipped with the reason printed; .ci/run installs it so CI always runs it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { createUser } from '../support/flow.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SCHEMATHESIS = path.join(ROOT, '.venv-fuzz/bin/schemathesis');
/** Cases per operation and phase; the whole run stays under MAX_SECONDS on a 2-core machine. */
const MAX_EXAMPLES = Number(process.env.FUZZ_MAX_EXAMPLES ?? 25);
const MAX_SECONDS = 100;
const SEED = 20260112;

function run(command: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => { output += d; });
    child.stderr.on('data', (d) => { output += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), (MAX_SECONDS + 30) * 1000);
    child.on('error', reject);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, output }); });
  });
}

describe('admin JSON API fuzzed by schemathesis from its OpenAPI document', function () {
  this.timeout((MAX_SECONDS + 60) * 1000);
  let t: Tessera;
  let token: string;

  before(async function () {
    if (!existsSync(SCHEMATHESIS)) {
      console.log(`    skipped: ${path.relative(ROOT, SCHEMATHESIS)} is missing; run \`npm run fuzz:install\` (CI does).`);
      this.skip();
    }
    t = await startTessera();
    // something to find: a user with a device, an organisation, a relying party
    const user = await createUser(t, { email: 'fuzz-target@example.com' });
    await t.services.devices.ensure(user.id, 'fuzz-browser', { browser: 'Firefox 128', os: 'Linux', ip: '203.0.113.9' });
    await t.services.organisations.create('Fuzz Org');
    await t.services.clients.create({ clientId: 'fuzz-rp', redirectUris: ['https://rp.example/cb'] });
    const bot = await t.services.clients.create({ clientId: 'fuzz-bot', redirectUris: [], grants: ['client_credentials'] });
    await t.services.clients.grantAdminApi('fuzz-bot');
    const res = await fetch(`${t.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`fuzz-bot:${bot.clientSecret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'admin' }),
    });
    const body = await res.json() as { access_token?: string };
    assert.equal(res.status, 200, JSON.stringify(body));
    token = body.access_token!;
  });

  after(async () => {
    await t?.close();
  });

  /** One schemathesis run over the operations `filter` selects; returns its exit code, output and case count. */
  async function schemathesis(filter: string[], seconds: number) {
    const { code, output } = await run(SCHEMATHESIS, [
      '--config-file', path.join(ROOT, 'tools/fuzz/schemathesis.toml'),
      'run', `${t.issuer}/admin/api/v1/openapi.json`,
      '--url', `${t.issuer}/admin/api/v1`,
      '--header', `Authorization: Bearer ${token}`,
      // every check but "schema-valid data is accepted": business rules the schema cannot say (the password
      // policy, unique names, cursors only the server hands out, audit types Tessera writes) answer 400/409 to it
      '--checks', 'all', '--exclude-checks', 'positive_data_acceptance',
      '--phases', process.env.FUZZ_PHASES ?? 'examples,coverage,fuzzing',
      '--max-examples', String(MAX_EXAMPLES),
      '--max-time', String(seconds),
      '--seed', String(SEED),
      '--generation-database', 'none',
      '--workers', '1',
      '--request-timeout', '10',
      '--no-color',
      ...filter,
    ], { NO_COLOR: '1' });
    const cases = Number(/(\d+) generated/.exec(output)?.[1] ?? 0);
    return { code, output, cases, failures: failuresOf(output) };
  }

  it('answers every generated request without a 5xx and as its document says', async () => {
    const started = Date.now();
    // the bot's own client is listed by GET /clients, so schemathesis would delete it and every later case
    // would be a 401: DELETE /clients/{clientId} runs in a second pass, last
    const main = await schemathesis(['--exclude-operation-id', 'deleteClient'], MAX_SECONDS - 10);
    const last = await schemathesis(['--include-operation-id', 'deleteClient'], 10);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.log(`    schemathesis: ${main.cases + last.cases} cases over 32 operations in ${seconds} s (exit ${main.code}, ${last.code})`);
    assert.equal(main.code, 0, `schemathesis found problems:\n${main.failures}`);
    assert.equal(last.code, 0, `schemathesis found problems in DELETE /clients/{clientId}:\n${last.failures}`);
    assert.ok(main.cases > 300, `only ${main.cases} cases ran:\n${main.output.slice(-5000)}`);
  });
});

/** The FAILURES and ERRORS sections of the report (long lines clipped), or the tail of the output. */
function failuresOf(output: string): string {
  const start = output.search(/={5,} (FAILURES|ERRORS) ={5,}/);
  const text = start >= 0 ? output.slice(start) : output.slice(-10_000);
  return text.split('\n').map((line) => (line.length > 400 ? `${line.slice(0, 400)}…` : line)).join('\n').slice(0, 30_000);
}
