// Back-channel logout deliveries, whoever sends them: the provider's end-session endpoint, or
// Tessera ending a session itself (account-sessions.ts). Each outcome is one of the provider's
// events (backchannel.success, backchannel.error); here every failed delivery becomes one log line
// naming the client and the reason (never the logout token), and ops/metrics.ts counts both.

const MAX_REASON = 300;

/** Why a delivery failed: the error's message and its causes' ("fetch failed: connect ECONNREFUSED …"), shortened. */
export function deliveryFailure(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    parts.push(e instanceof Error ? e.message || (typeof code === 'string' ? code : e.name) : String(e));
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.filter(Boolean).join(': ').slice(0, MAX_REASON) || 'unknown error';
}

type BackchannelError = (ctx: unknown, err: unknown, client: { clientId?: string } | undefined) => void;

/** Logs every failed delivery in the request it happened in (pino adds that request's id to the line). */
export function logBackchannelFailures(provider: { on(event: 'backchannel.error', listener: BackchannelError): unknown }, log: (line: string) => void): void {
  provider.on('backchannel.error', (_ctx, err, client) => {
    log(`[tessera] back-channel logout to client ${client?.clientId ?? '(unknown)'} failed: ${deliveryFailure(err)}`);
  });
}
