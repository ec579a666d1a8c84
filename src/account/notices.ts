// The email every change in the account security center sends: what changed, when, from where.
// Sent in the background; a failure is logged and never undoes the change.
import type { Context } from 'koa';
import type { AccountView } from '../accounts/store.ts';
import type { ChangeSaid, CodeMessages } from '../notify/messages.ts';
import type { Transports } from '../notify/transports.ts';
import { clientInfo, describeLocation } from '../devices/client-info.ts';

export function securityNotices(deps: { messages: CodeMessages; transports: Transports; clock: () => Date; log: (line: string) => void }) {
  return (ctx: Context, account: AccountView, change: string, said?: ChangeSaid): void => {
    const info = clientInfo(ctx.ip, ctx.get('user-agent'));
    const seen = { at: deps.clock(), ...(info.ip ? { ip: info.ip } : {}), where: describeLocation(info.location), browser: info.browser, os: info.os };
    void deps.messages.in(account.profile).securityChange(account.email, change, seen, said)
      .then((email) => deps.transports.email(email))
      .catch((err: Error) => deps.log(`[tessera] could not send a security notice to account ${account.id}: ${err.message}`));
  };
}
