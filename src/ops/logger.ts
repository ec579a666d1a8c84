// The server's log: pino, one JSON object per line (human-readable in development), secrets redacted
// by configuration, and the id of the request a line was written in (README "Logs").
import { AsyncLocalStorage } from 'node:async_hooks';
import { pino, type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { Config } from '../config/schema.ts';

export type { Logger, DestinationStream };

/**
 * Where a secret could sit in a logged object: credentials, codes, tokens, cookies and bodies by
 * name at the top level and two levels down, and the headers that carry a session or a bearer
 * token. A second line of defence: nothing logs a request's headers, query or body to begin with.
 */
const SECRET_KEYS = [
  'password', 'newPassword', 'currentPassword', 'pin', 'code', 'otp', 'token', 'access_token', 'id_token', 'refresh_token',
  'client_secret', 'clientSecret', 'secret', 'authorization', 'cookie', 'set-cookie', 'body', 'login_hint', 'state', 'nonce', 'code_verifier',
];
export const REDACT_PATHS: readonly string[] = [
  'req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]', 'headers.authorization', 'headers.cookie', 'headers["set-cookie"]',
  ...SECRET_KEYS.flatMap((key) => {
    const k = /^[A-Za-z_$][\w$]*$/.test(key) ? key : `["${key}"]`;
    const dot = k.startsWith('[') ? '' : '.';
    return [k, `*${dot}${k}`, `*.*${dot}${k}`];
  }),
];

const requestIds = new AsyncLocalStorage<string>();

/** Runs `work` (one request) so that every line logged meanwhile carries `id` as reqId. */
export function withRequestId<R>(id: string, work: () => R): R {
  return requestIds.run(id, work);
}

// the error's own code is `errorCode`: a key named `code` is redacted wherever it appears
interface SafeError { type: string; message: string; stack?: string; errorCode?: string | number; cause?: SafeError }

/**
 * An error as the log keeps it: its name, message, stack, code and causes — never the other
 * properties a library may hang on it (a parser's raw request body, a driver's command or
 * duplicate-key values, a mail server's transcript).
 */
export function safeError(err: unknown, depth = 0): SafeError {
  if (!(err instanceof Error)) return { type: typeof err, message: String(err).slice(0, 500) };
  const code = (err as { code?: unknown }).code;
  return {
    type: err.name,
    message: err.message,
    ...(err.stack ? { stack: err.stack } : {}),
    ...((typeof code === 'string' && code.length <= 64) || typeof code === 'number' ? { errorCode: code } : {}),
    ...(err.cause !== undefined && depth < 4 ? { cause: safeError(err.cause, depth + 1) } : {}),
  };
}

/** The output format: LOG_FORMAT, or human-readable in development and JSON lines otherwise. */
export function logFormat(config: Pick<Config, 'env' | 'log'>): 'json' | 'pretty' {
  return config.log.format ?? (config.env === 'development' ? 'pretty' : 'json');
}

/** Development's reading of a line: `GET /token 200 12.3 ms [request id]`, or the message and the request id. */
function oneLine(line: Record<string, unknown>, messageKey: string): string {
  const { method, route, status, ms, reqId } = line;
  const msg = String(line[messageKey] ?? '');
  const request = typeof method === 'string' ? `${method} ${String(route)}${status === undefined ? '' : ` ${String(status)} ${String(ms)} ms`}` : '';
  return [msg === 'request' ? '' : msg, request, typeof reqId === 'string' ? `[${reqId}]` : ''].filter(Boolean).join(' ');
}

/** The server's logger; `destination` (tests) replaces stdout. */
export function createLogger(config: Pick<Config, 'env' | 'log'>, destination?: DestinationStream): Logger {
  const stream = logFormat(config) === 'pretty'
    ? pretty({ destination: destination ?? 1, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,reqId,method,route,status,ms', messageFormat: oneLine })
    : destination ?? pino.destination({ dest: 1, sync: false });
  return pino({
    level: config.log.level,
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
    serializers: { err: safeError },
    mixin() {
      const reqId = requestIds.getStore();
      return reqId ? { reqId } : {};
    },
  }, stream);
}

/**
 * A module's `log(line)` callback on the logger: its "[tessera] …" lines report something that went
 * wrong (a failure as error, the rest as warn); other lines are information.
 */
export function lineLog(logger: Logger): (line: string) => void {
  return (line: string) => {
    const tagged = /^\[tessera\]\s*/.exec(line);
    if (!tagged) return logger.info(line);
    const msg = line.slice(tagged[0].length);
    if (/\bfail(ed|s|ure)?\b|could not|cannot/i.test(msg)) logger.error(msg);
    else logger.warn(msg);
  };
}
