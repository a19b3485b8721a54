// The PGlite worker thread (createPgliteClient's default): the PGlite instance and its data directory live here,
// so its WASM execution and its synchronous file writes block this thread and not Kefu's event loop. Loaded by
// Node itself (not bundled): it imports only PGlite, Node's own modules and pglite-bom.ts.
//
// Protocol (sql-client.ts's PgliteWorkerConnection is the other side): the main thread posts
// { id, op: 'query' | 'exec' | 'listen' | 'close', ... } and gets { id, ok: true, ... } or { id, ok: false, error }
// back; NOTIFYs come as { op: 'notify', channel, payload }. Requests run one at a time in the order they come
// (the main thread's queue already serializes statements and transactions; this keeps it so regardless).
import { parentPort, workerData } from 'node:worker_threads';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { withBomKeepingTextDecoder } from './pglite-bom.ts';

export type PgliteRequest =
  | { id: number; op: 'query'; text: string; params: unknown[] | undefined }
  | { id: number; op: 'exec'; text: string }
  | { id: number; op: 'listen'; channel: string }
  | { id: number; op: 'close' };

export interface WorkerError {
  name: string;
  message: string;
  stack: string | undefined;
  /** The error's own fields that survive a structured clone (PostgreSQL's code, detail, constraint, ...). */
  fields: Record<string, unknown>;
}

export type PgliteReply =
  | { id: number; ok: true; rows?: unknown[]; rowCount?: number }
  | { id: number; ok: false; error: WorkerError }
  | { op: 'notify'; channel: string; payload: string };

/** An error as plain data: structuredClone keeps an Error's message and stack but drops its own fields. */
export function errorData(err: unknown): WorkerError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err), stack: undefined, fields: {} };
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(err)) {
    if (key === 'queryOptions' || key === 'name' || key === 'message' || key === 'stack') continue;
    try {
      fields[key] = structuredClone(value);
    } catch {
      // Not cloneable (a function): left out.
    }
  }
  return { name: err.name, message: err.message, stack: err.stack, fields };
}

if (parentPort && (workerData as { kefuPglite?: boolean } | undefined)?.kefuPglite) {
  const port = parentPort;
  const { dataDir } = workerData as { dataDir: string | null };
  const opening = withBomKeepingTextDecoder(() => PGlite.create(dataDir ? path.join(dataDir, 'pg') : undefined));
  // A failed start is answered to each request (the first is the client's BOM check), not thrown here.
  opening.catch(() => undefined);
  const listening = new Set<string>();
  let queue: Promise<unknown> = Promise.resolve();
  const handle = async (m: PgliteRequest): Promise<PgliteReply> => {
    try {
      const db = await opening;
      switch (m.op) {
        case 'query': {
          const r = await db.query(m.text, m.params);
          return { id: m.id, ok: true, rows: r.rows, rowCount: r.affectedRows ?? r.rows.length };
        }
        case 'exec':
          await db.exec(m.text);
          return { id: m.id, ok: true };
        case 'listen':
          if (!listening.has(m.channel)) {
            listening.add(m.channel);
            await db.listen(m.channel, (payload) => port.postMessage({ op: 'notify', channel: m.channel, payload } satisfies PgliteReply));
          }
          return { id: m.id, ok: true };
        case 'close':
          await db.close();
          return { id: m.id, ok: true };
      }
    } catch (err) {
      return { id: m.id, ok: false, error: errorData(err) };
    }
  };
  port.on('message', (m: PgliteRequest) => {
    queue = queue.then(async () => {
      const reply = await handle(m);
      try {
        port.postMessage(reply);
      } catch (err) {
        // A row value that cannot be cloned: the caller gets the reason rather than no answer.
        port.postMessage({ id: m.id, ok: false, error: errorData(err) } satisfies PgliteReply);
      }
    });
  });
}
