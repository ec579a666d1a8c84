// Password hashing with argon2id (OWASP parameters by default, configurable in config/), through
// @node-rs/argon2: measured ~2.8x faster than node-argon2 on our machines for the same parameters
// (README, Tests and benchmark), with the same PHC strings, so hashes from either verify with the other.
import { hash as argon2Hash, verify as argon2Verify, type Algorithm, type Options } from '@node-rs/argon2';

// Algorithm is a const enum, which erasable TypeScript cannot read at run time: Argon2id is 2
const ARGON2ID = 2 as Algorithm.Argon2id;

export interface PasswordParams {
  memoryCostKiB: number;
  timeCost: number;
  parallelism: number;
}

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** Always spends one full verification, even for unknown users, so timing does not reveal them. */
  verify(hash: string | undefined, password: string): Promise<boolean>;
}

export function createPasswordHasher(params: PasswordParams): PasswordHasher {
  const options: Options = { algorithm: ARGON2ID, memoryCost: params.memoryCostKiB, timeCost: params.timeCost, parallelism: params.parallelism };
  let dummy: Promise<string> | undefined;
  return {
    hash: (password) => argon2Hash(password, options),
    async verify(hash, password) {
      dummy ??= argon2Hash('tessera-dummy-password', options);
      const target = hash ?? (await dummy);
      const ok = await argon2Verify(target, password).catch(() => false);
      return ok && hash !== undefined;
    },
  };
}
