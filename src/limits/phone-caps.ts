// Toll-fraud cap on the transports: texts and calls to one phone number per day (limits/service.ts
// counts them by an HMAC of the number). At the cap nothing is sent and the caller gets the
// ChallengeError the code pages already show with the other channels.
import { ChallengeError } from '../factors/challenges.ts';
import type { Transports } from '../notify/transports.ts';
import type { Limits } from './service.ts';

export const NUMBER_CAP_MESSAGE = 'No code was sent: this phone number has had the most text messages and calls allowed in a day. '
  + 'Use another method below (such as email), or try again tomorrow.';

export function capPhoneSends(transports: Transports, limits: Pick<Limits, 'numberSend'>): Transports {
  const allowed = async (to: string) => {
    if (!(await limits.numberSend(to))) throw new ChallengeError('send_limit', NUMBER_CAP_MESSAGE);
  };
  return {
    ...transports,
    async sms(to, text) {
      await allowed(to);
      return transports.sms(to, text);
    },
    async voice(to, spoken) {
      await allowed(to);
      return transports.voice(to, spoken);
    },
  };
}
