// A whole Kefu for the quick-reply bench, in a process of its own so that the client's timing is not the
// server's event loop: DATABASE_URL (PostgreSQL), listening on 127.0.0.1 on a free port; sends { port }.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.ts';
import { benchKefuSettings } from '../lib/config.ts';
import { startKefu } from '../../src/main.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'kefu-bench-quick-replies-'));
const kefu = await startKefu(
  loadConfig(benchKefuSettings(dir)),
  { logger: pino({ level: 'silent' }), listen: true },
);
process.send!({ type: 'ready', port: (kefu.app.server.address() as { port: number }).port });
process.on('message', (m) => {
  if ((m as { type?: string }).type !== 'stop') return;
  void kefu.close().finally(() => {
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  });
});
