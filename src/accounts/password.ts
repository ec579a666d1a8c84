// Password hashing with argon2id (OWASP parameters by default, configurable in config/).
import argon2 from 'argon2';

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
  const options = { type: argon2.argon2id as 2, memoryCost: params.memoryCostKiB, timeCost: params.timeCost, parallelism: params.parallelism };
  let dummy: Promise<string> | undefined;
  return {
    hash: (password) => argon2.hash(password, options),
    async verify(hash, password) {
      dummy ??= argon2.hash('tessera-dummy-password', options);
      const target = hash ?? (await dummy);
      const ok = await argon2.verify(target, password).catch(() => false);
      return ok && hash !== undefined;
    },
  };
}
