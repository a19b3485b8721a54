// npm run projections -- list | status | rebuild <name>... | parked | retry <name> <instanceId>
import { loadConfig } from '../config.ts';
import { positionToString } from '../domain/ports/event-store.ts';
import { openStorage } from '../main.ts';
import { listParkedParts, retryParkedPart } from './parked-parts.ts';
import { rebuildProjection } from './projection-runner.ts';
import { allProjections, projectionNamed } from './registry.ts';

const usage = 'usage: npm run projections -- list | status | rebuild <name>... | parked | retry <name> <instanceId>';

async function main(args: string[]): Promise<number> {
  const [command, name, instanceId] = args;
  if (command === 'list') {
    for (const p of allProjections) console.log(`${p.name}\t${p.tables.join(', ')}`);
    return 0;
  }
  if (command !== 'rebuild' && command !== 'status' && command !== 'parked' && command !== 'retry') {
    console.error(usage);
    return 2;
  }
  if ((command === 'rebuild' && !name) || (command === 'retry' && (!name || instanceId === undefined))) {
    console.error(usage);
    return 2;
  }
  // rebuild takes several names (one start of the storage for all of them, in the order given).
  const names = command === 'rebuild' ? args.slice(1) : name ? [name] : [];
  const unknown = names.find((n) => !projectionNamed(n));
  if (unknown !== undefined) {
    console.error(`No projection named "${unknown}". Projections: ${allProjections.map((p) => p.name).join(', ')}`);
    return 2;
  }
  const projection = name ? projectionNamed(name) : undefined;
  const storage = await openStorage(loadConfig(process.env));
  try {
    if (command === 'status') {
      const rows = await storage.db.selectFrom('kefu_projection_checkpoints').selectAll().execute();
      const head = await storage.store.headPosition();
      console.log(`head\t${head ? `${head.commit}/${head.prepare}` : '(empty)'}`);
      for (const p of allProjections) {
        const row = rows.find((r) => r.name === p.name);
        const parked = row?.parked_instances.length ? `\t${row.parked_instances.length} instance(s) parked (see: parked)` : '';
        console.log(`${p.name}\t${row?.position ?? '(not started)'}${parked}`);
      }
      return 0;
    }
    if (command === 'parked') {
      const parts = await listParkedParts(storage.db);
      if (parts.length === 0) console.log('No parked parts.');
      for (const p of parts) {
        console.log(`${p.projection}\t${p.instanceId}\t${p.eventType} ${p.eventId} at ${positionToString(p.eventPosition)}\tparked ${p.parkedAt.toISOString()}\t${p.error}`);
      }
      return 0;
    }
    if (command === 'retry') {
      // Live views are not told (no bus here); their next change shows the retried rows.
      const outcome = await retryParkedPart({ store: storage.store, db: storage.db, projection: projection!, instanceId: instanceId! });
      if (!outcome) {
        console.error(`No parked part of ${projection!.name} for instance "${instanceId}"`);
        return 1;
      }
      if (!outcome.resumed) {
        console.error(`Still parked: ${outcome.part.eventType} ${outcome.part.eventId} failed again: ${outcome.part.error}`);
        return 1;
      }
      console.log(`Resumed ${projection!.name} for ${instanceId} after applying ${outcome.appliedEvents} held event(s)`);
      return 0;
    }
    for (const each of names.map((n) => projectionNamed(n)!)) {
      const started = Date.now();
      const count = await rebuildProjection({ store: storage.store, db: storage.db, projection: each });
      console.log(`Rebuilt ${each.name} from ${count} events in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      const parked = await listParkedParts(storage.db, { projections: [each.name] });
      for (const p of parked) console.log(`Parked: ${p.instanceId}, at ${p.eventType} ${p.eventId}: ${p.error}`);
    }
    return 0;
  } finally {
    await storage.store.close();
    await storage.db.destroy();
    await storage.sql.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
