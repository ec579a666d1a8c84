// Writes that ride along with another one. A document written because another document of the same
// collection is about to be written in this request (a new session's record, written with the
// session) waits for that write and goes in the same command (an ordered bulk write). Whatever no
// such write took by the end of the request is written on its own then, so a rider is never lost,
// only never sent twice. Outside a request nothing waits: the caller writes at once.
import { keep, peek } from './request-memo.ts';

export interface Rider {
  /** The bulk-write statement that carries it (on the collection of the write it waits for). */
  statement: Record<string, unknown>;
  /** The same write on its own, when no write took it. */
  alone(): Promise<unknown>;
}

const RIDERS = 'ride-along';

function waiting(): Map<string, Rider[]> | undefined {
  return peek(RIDERS) as Map<string, Rider[]> | undefined;
}

/**
 * Queues `rider` for the next write registered under `key` in this request. False outside a
 * request (nothing is queued: write it now).
 */
export function rideWith(key: string, rider: Rider): boolean {
  let map = waiting();
  if (!map) {
    map = new Map();
    keep(RIDERS, map);
    // outside a request keep() keeps nothing
    if (peek(RIDERS) !== map) return false;
  }
  map.set(key, [...(map.get(key) ?? []), rider]);
  return true;
}

/** The riders waiting for the write under `key`: taken now (the caller sends their statements before its own). */
export function ridersOf(key: string): Rider[] {
  const map = waiting();
  const riders = map?.get(key) ?? [];
  map?.delete(key);
  return riders;
}

/** The end of the request: every rider no write took goes on its own, in the order queued. */
export async function flushRiders(): Promise<void> {
  const map = waiting();
  if (!map?.size) return;
  const left = [...map.values()].flat();
  map.clear();
  for (const rider of left) await rider.alone();
}
