// Each step of one sign-in (the password form, consent, the return to the provider) completes once.
// A step is claimed by inserting a document keyed `<interaction uid>:<step>`; the unique _id makes
// a second claim fail on every server and across processes, so a double-submitted form or a
// replayed resume never yields a second authorization code.
import { Schema } from 'mongoose';
import type { Database } from '../db/database.ts';
import { UserFacingError } from '../http/errors.ts';

/** The answer to a second submission of a step that already completed. */
export const alreadyDone = () => new UserFacingError(409, 'already_done',
  'This sign-in step was already completed (the form was sent twice?). Go back to the application: you may already be signed in.');

interface StepDoc {
  _id: string;
  expiresAt: Date;
}

export type InteractionSteps = ReturnType<typeof createInteractionSteps>;

export function createInteractionSteps(db: Database, lifetimeSeconds: number, clock: () => Date = () => new Date()) {
  const Steps = db.model<StepDoc>('InteractionStep', new Schema<StepDoc>(
    { _id: String, expiresAt: { type: Date, required: true } },
    { collection: 'interaction_steps', versionKey: false },
  ), { expiresField: 'expiresAt' });

  return {
    /** True for the first claim of this step of this interaction, false for every later one. */
    async claim(uid: string, step: 'login' | 'consent' | 'abort' | 'resume'): Promise<boolean> {
      try {
        await Steps.create({ _id: `${uid}:${step}`, expiresAt: new Date(clock().getTime() + lifetimeSeconds * 1000) });
        return true;
      } catch (err) {
        if ((err as { code?: number }).code === 11000) return false;
        throw err;
      }
    },
  };
}
