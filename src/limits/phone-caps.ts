// The daily caps on texts and calls (limits/service.ts phoneSend), as the code pages meet them:
// before a text or call is made, one check that either counts it or refuses it with what the
// person reads. Nothing is sent (and no code made) when a cap refuses; the pages then say so and
// offer what else there is (interaction/second-factor.ts, device-step.ts, the phone and device
// pages).
import { ChallengeError } from '../factors/challenges.ts';
import type { Limits, PhoneCap, PhoneSend } from './service.ts';

const WHY: Record<PhoneCap, string> = {
  owner: 'No code was sent: your phone number has had the most text messages and calls we send it in a day.',
  account: 'No code was sent: this account has asked for the most codes to numbers it has not verified that are allowed in a day. Try again tomorrow.',
  ip: 'No code was sent: the most codes to unverified numbers allowed from one network in a day were asked for. Try again tomorrow.',
  number: 'No code was sent: this number has had the most verification texts and calls allowed in a day. Try again tomorrow.',
};

/** Counts one text or call, or throws the ChallengeError ('send_limit') of the cap that refused it. */
export type PhoneSendCheck = (send: PhoneSend) => Promise<void>;

export function phoneSendCheck(limits: Pick<Limits, 'phoneSend'>): PhoneSendCheck {
  return async (send) => {
    const cap = await limits.phoneSend(send);
    if (cap) throw new ChallengeError('send_limit', WHY[cap]);
  };
}
