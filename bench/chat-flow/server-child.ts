// A whole Kefu for the chat flow bench, in a process of its own so that the client's timing is not the
// server's event loop: DATABASE_URL (PostgreSQL), listening on 127.0.0.1 on a free port; sends { port }.
// The chat rate limits are off: the bench's customers all come from 127.0.0.1.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.ts';
import { benchKefuSettings, chatLimitsOff } from '../lib/config.ts';
import { startKefu } from '../../src/main.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'kefu-bench-chat-flow-'));
const kefu = await startKefu(
  loadConfig(
    benchKefuSettings(dir, {
      ...chatLimitsOff,
      ...(process.env.KEFU_PG_POOL_MAX ? { KEFU_PG_POOL_MAX: process.env.KEFU_PG_POOL_MAX } : {}),
    }),
  ),
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
