// npm run projections -- list | status | rebuild <name>
import { loadConfig } from '../config.ts';
import { openStorage } from '../main.ts';
import { rebuildProjection } from './projection-runner.ts';
import { allProjections, projectionNamed } from './registry.ts';

const usage = 'usage: npm run projections -- list | status | rebuild <name>';

async function main(args: string[]): Promise<number> {
  const [command, name] = args;
  if (command === 'list') {
    for (const p of allProjections) console.log(`${p.name}\t${p.tables.join(', ')}`);
    return 0;
  }
  if (command !== 'rebuild' && command !== 'status') {
    console.error(usage);
    return 2;
  }
  if (command === 'rebuild' && !name) {
    console.error(usage);
    return 2;
  }
  const projection = name ? projectionNamed(name) : undefined;
  if (name && !projection) {
    console.error(`No projection named "${name}". Projections: ${allProjections.map((p) => p.name).join(', ')}`);
    return 2;
  }
  const storage = await openStorage(loadConfig(process.env));
  try {
    if (command === 'status') {
      const rows = await storage.db.selectFrom('kefu_projection_checkpoints').selectAll().execute();
      const head = await storage.store.headPosition();
      console.log(`head\t${head ? `${head.commit}/${head.prepare}` : '(empty)'}`);
      for (const p of allProjections) {
        const row = rows.find((r) => r.name === p.name);
        console.log(`${p.name}\t${row?.position ?? '(not started)'}`);
      }
      return 0;
    }
    const started = Date.now();
    const count = await rebuildProjection({ store: storage.store, db: storage.db, projection: projection! });
    console.log(`Rebuilt ${projection!.name} from ${count} events in ${((Date.now() - started) / 1000).toFixed(1)} s`);
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
