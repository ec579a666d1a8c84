// Records the database commands a Tessera instance sends, so tests can count them and check the
// data-access rule (every lookup on a request path is a filter of exactly one key, `_id`).
import type { Tessera } from './tessera.ts';

export interface Command {
  name: string;
  collection: string;
  /** Every filter the command carries (find/count filter, each update's q, each delete's q). */
  filters: Record<string, unknown>[];
}

export interface Recorder {
  commands: Command[];
  stop(): void;
}

const CRUD = new Set(['find', 'update', 'delete', 'findAndModify', 'count', 'aggregate', 'insert', 'distinct']);

export function recordCommands(t: Tessera): Recorder {
  const client = t.services.db.connection.getClient();
  const commands: Command[] = [];
  const listener = (event: { commandName: string; command: Record<string, unknown> }) => {
    if (!CRUD.has(event.commandName)) return;
    const c = event.command;
    const filters: Record<string, unknown>[] = [];
    if (c.filter) filters.push(c.filter as Record<string, unknown>);
    if (c.query) filters.push(c.query as Record<string, unknown>);
    for (const u of (c.updates as { q: Record<string, unknown> }[] | undefined) ?? []) filters.push(u.q);
    for (const d of (c.deletes as { q: Record<string, unknown> }[] | undefined) ?? []) filters.push(d.q);
    commands.push({ name: event.commandName, collection: String(c[event.commandName]), filters });
  };
  client.on('commandStarted', listener);
  return { commands, stop: () => client.off('commandStarted', listener) };
}

/** The commands `work` sends (recording stops when it ends, also when it throws). */
export async function commandsDuring(t: Tessera, work: () => Promise<unknown>): Promise<Command[]> {
  const recorder = recordCommands(t);
  try {
    await work();
  } finally {
    recorder.stop();
  }
  return recorder.commands;
}

/**
 * A filter the embedded server answers through an index: exactly `{ _id: <string> }`, or
 * `{ _id: { $in: [<string>, ...] } }` (a list of ids: tools/ferretdb/patches).
 */
export function isExactIdFilter(filter: Record<string, unknown>): boolean {
  const keys = Object.keys(filter);
  if (keys.length !== 1 || keys[0] !== '_id') return false;
  if (typeof filter._id === 'string') return true;
  const list = filter._id as Record<string, unknown> | null;
  return !!list && typeof list === 'object' && Object.keys(list).length === 1 && Array.isArray(list.$in)
    && list.$in.length > 0 && list.$in.every((id) => typeof id === 'string');
}
