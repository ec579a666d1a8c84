// The second factors Tessera offers, in the order the sign-in page lists them. Adding a factor is
// adding its module here; the flow asks the registry, never a factor by name.
import type { SecondFactor } from '../policy/sign-in.ts';
import type { Availability, FactorAccount, SecondFactorModule } from './types.ts';

export interface FactorOption {
  id: SecondFactor;
  label: string;
  availability: Availability;
}

export type FactorRegistry = ReturnType<typeof createFactorRegistry>;

export function createFactorRegistry(modules: SecondFactorModule[]) {
  const byId = new Map(modules.map((m) => [m.id, m]));
  return {
    get: (id: string): SecondFactorModule | undefined => byId.get(id as SecondFactor),
    /** Every factor with whether this account can use it now (and why not). */
    async options(account: FactorAccount): Promise<FactorOption[]> {
      return Promise.all(modules.map(async (m) => ({ id: m.id, label: m.label, availability: await m.availability(account) })));
    },
    async available(account: FactorAccount): Promise<SecondFactor[]> {
      return (await this.options(account)).filter((o) => o.availability.available).map((o) => o.id);
    },
  };
}
