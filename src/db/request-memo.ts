// One read per thing per request: a request-scoped memo (AsyncLocalStorage) that stores consult
// before reading a document by _id, so the account or client a request needs in five places is
// read once. A write through the same store forgets what it may have changed. Outside a request
// (CLI, background work) nothing is memoised.
import { AsyncLocalStorage } from 'node:async_hooks';

const requests = new AsyncLocalStorage<Map<string, unknown>>();

/** Runs `work` (one request) with its own memo. */
export function withRequestMemo<R>(work: () => R): R {
  return requests.run(new Map(), work);
}

/** The value of `load()` for `key`, read at most once in this request (a failed read is not kept). */
export function memoized<T>(key: string, load: () => PromiseLike<T>): Promise<T> {
  const memo = requests.getStore();
  if (!memo) return Promise.resolve(load());
  let hit = memo.get(key) as Promise<T> | undefined;
  if (!hit) {
    // a mongoose query runs once, when first awaited: keep the promise of its one result
    hit = Promise.resolve(load());
    memo.set(key, hit);
    hit.catch(() => memo.delete(key));
  }
  return hit;
}

/** What this request kept under `key` (keep), without loading anything. */
export function peek(key: string): unknown {
  return requests.getStore()?.get(key);
}

/** Keeps `value` under `key` for the rest of this request (outside a request: nothing is kept). */
export function keep(key: string, value: unknown): void {
  requests.getStore()?.set(key, value);
}

/** Forgets every memoised value whose key starts with `prefix` (after a write). */
export function forget(prefix: string): void {
  const memo = requests.getStore();
  if (!memo) return;
  for (const key of [...memo.keys()]) if (key.startsWith(prefix)) memo.delete(key);
}

/** Every mongoose query that writes: what the hooks on writes watch (this memo's stores, db/read-versions.ts, the test's write faults). */
export const WRITE_OPERATIONS = ['updateOne', 'updateMany', 'findOneAndUpdate', 'findOneAndReplace', 'findOneAndDelete', 'replaceOne', 'deleteOne', 'deleteMany'] as const;
