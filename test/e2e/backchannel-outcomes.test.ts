// A back-channel logout that cannot be delivered is no longer dropped silently: with a real relying
// party (openid-client) signing out through RP-initiated logout, a delivery to an unreachable
// back-channel endpoint is one log line naming the client and the reason, in the request's log
// (its request id), never the logout token; tessera_backchannel_logouts_total counts every
// delivery by outcome (sent, failed), Tessera's own session endings (an admin disabling the
// account) included.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import * as oidc from 'openid-client';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, backchannelListener, createUser, signIn, signInAndGetTokens, POST_LOGOUT_URI, type TestUser } from '../support/flow.ts';
import { COMMAND_LINE } from '../../src/admin/types.ts';

interface Line { level: number; msg: string; reqId?: string }
const ERROR = 50;

/** A log destination that keeps the lines Tessera writes. */
function capture(): Writable & { lines: () => Line[] } {
  const chunks: string[] = [];
  const stream = new Writable({ write(chunk: Buffer | string, _encoding, done) { chunks.push(chunk.toString()); done(); } });
  return Object.assign(stream, { lines: () => chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line) });
}

/** A back-channel logout URI nothing listens on (a port that was open a moment ago). */
async function unreachableUri(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}/backchannel`;
}

describe('back-channel logout deliveries: logged when they fail, counted by outcome', function () {
  this.timeout(120_000);
  const log = capture();
  let t: Tessera;
  let user: TestUser;
  const failures: unknown[] = [];

  before(async () => {
    t = await startTessera({ logDestination: log, log: (err) => { failures.push(err); console.error('    [tessera 500]', err); } });
    user = await createUser(t);
  });
  after(() => t?.close());
  afterEach(() => assert.deepEqual(failures.splice(0), [], 'never a 500'));

  /** The counter's value for one outcome. */
  async function deliveries(outcome: 'sent' | 'failed'): Promise<number> {
    const metric = t.services.metrics.registry.getSingleMetric('tessera_backchannel_logouts_total');
    assert.ok(metric, 'the counter exists');
    return (await metric.get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
  }
  const failedLines = (from: number) => log.lines().slice(from).filter((l) => /back-channel logout/.test(l.msg));

  /** Signs in to a relying party with this back-channel logout URI, then signs out through RP-initiated logout, sending `requestId` with the confirmation. */
  async function signInAndOut(backchannelLogoutUri: string, requestId: string) {
    const rp = await RelyingParty.register(t, { backchannelLogoutUri, skipConsent: true });
    const { agent, tokens } = await signInAndGetTokens(rp, user);
    const confirm = await agent.visit(oidc.buildEndSessionUrl(rp.config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: POST_LOGOUT_URI }).href, POST_LOGOUT_URI);
    agent.headers['x-request-id'] = requestId;
    const done = await agent.submit(confirm, /session\/end\/confirm/, { logout: 'yes' }, POST_LOGOUT_URI);
    assert.ok(done.url.startsWith(POST_LOGOUT_URI), 'the person is signed out and back at the relying party');
    return { rp, tokens };
  }

  it('logs one line naming the client and the reason when the relying party is unreachable, and counts it as failed', async () => {
    const [sent, failed, from] = [await deliveries('sent'), await deliveries('failed'), log.lines().length];
    const { rp, tokens } = await signInAndOut(await unreachableUri(), 'bc-unreachable-1');

    const lines = failedLines(from);
    assert.equal(lines.length, 1, JSON.stringify(lines));
    const [line] = lines;
    assert.equal(line!.level, ERROR);
    assert.equal(line!.reqId, 'bc-unreachable-1', 'the line carries the request id of the sign-out');
    assert.ok(line!.msg.includes(`client ${rp.clientId} failed`), line!.msg);
    assert.match(line!.msg, /ECONNREFUSED/, 'the reason');
    const written = JSON.stringify(log.lines().slice(from));
    assert.ok(!written.includes(tokens.id_token!), 'no ID token in the log');
    assert.doesNotMatch(written, /logout_token|eyJ[\w-]+\.eyJ/, 'no logout token (no JWT at all) in the log');

    assert.equal(await deliveries('failed'), failed + 1);
    assert.equal(await deliveries('sent'), sent);
  });

  it('counts a delivered logout token as sent, and logs nothing about it', async () => {
    const listener = await backchannelListener();
    try {
      const [sent, failed, from] = [await deliveries('sent'), await deliveries('failed'), log.lines().length];
      await signInAndOut(listener.uri, 'bc-sent-1');
      assert.equal(listener.received.length, 1);
      assert.equal(await deliveries('sent'), sent + 1);
      assert.equal(await deliveries('failed'), failed);
      assert.deepEqual(failedLines(from), []);
    } finally {
      listener.close();
    }
  });

  it('logs and counts the deliveries of a session Tessera ends itself (an admin disables the account) the same way', async () => {
    const person = await createUser(t);
    const down = await RelyingParty.register(t, { backchannelLogoutUri: await unreachableUri(), skipConsent: true });
    const listener = await backchannelListener();
    try {
      const up = await RelyingParty.register(t, { backchannelLogoutUri: listener.uri, skipConsent: true });
      const { agent } = await signInAndGetTokens(down, person);
      const auth = await up.authorize();
      await up.tokens(await signIn(agent, auth.url, person), auth);
      const [sent, failed, from] = [await deliveries('sent'), await deliveries('failed'), log.lines().length];

      const { ended } = await t.services.admin.users.perform(COMMAND_LINE, person.id, 'disable');
      assert.equal(ended?.backchannelFailures.length, 1);
      assert.match(ended!.backchannelFailures[0]!, new RegExp(`^${down.clientId}: .*ECONNREFUSED`), 'the CLI\'s answer names the client and the reason');
      assert.equal(listener.received.length, 1);
      assert.equal(await deliveries('sent'), sent + 1);
      assert.equal(await deliveries('failed'), failed + 1);
      const lines = failedLines(from);
      assert.equal(lines.length, 1, JSON.stringify(lines));
      assert.ok(lines[0]!.msg.includes(`client ${down.clientId} failed`), lines[0]!.msg);
    } finally {
      listener.close();
    }
  });
});
