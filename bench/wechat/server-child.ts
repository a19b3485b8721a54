// The Kefu under test of bench/wechat.ts: a whole Kefu on PostgreSQL (DATABASE_URL), listening on a port it
// reports over IPC; stopped by a 'stop' message. Chat rate limits are off (every bench customer is 127.0.0.1).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.ts';
import { startKefu } from '../../src/main.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'kefu-bench-wechat-'));
const env: Record<string, string> = {
  KEFU_OPERATOR_TOKEN: process.env.BENCH_OPERATOR_TOKEN ?? 'bench-wechat-operator-token',
  LOG_LEVEL: 'silent',
  PORT: '0',
  HOST: '127.0.0.1',
  KEFU_SIP: 'off',
  KEFU_AV: 'off',
  KEFU_DATA_DIR: dir,
  KEFU_CHAT_LIMIT_SESSION: '0',
  KEFU_CHAT_LIMIT_CHAT: '0',
  KEFU_CHAT_LIMIT_MESSAGE: '0',
  KEFU_CHAT_LIMIT_CHAT_PER_ADDRESS: '0',
  KEFU_CHAT_LIMIT_MESSAGE_PER_ADDRESS: '0',
  DATABASE_URL: process.env.DATABASE_URL ?? '',
  // Passed on when set: KEFU_WECHAT_ANSWER_WAIT_MS=4000 answers WeChat once the push's effect is made (as before the intake).
  ...(process.env.KEFU_WECHAT_ANSWER_WAIT_MS ? { KEFU_WECHAT_ANSWER_WAIT_MS: process.env.KEFU_WECHAT_ANSWER_WAIT_MS } : {}),
};
const kefu = await startKefu(loadConfig(env), { logger: pino({ level: 'silent' }), listen: true });
let cpuAtStart = process.cpuUsage();
process.send!({ type: 'ready', port: (kefu.app.server.address() as { port: number }).port });
process.on('message', (raw) => {
  const m = raw as { type: string };
  void (async () => {
    if (m.type === 'cpu-start') {
      cpuAtStart = process.cpuUsage();
      process.send!({ type: 'cpu-started' });
    } else if (m.type === 'cpu-stop') {
      const cpu = process.cpuUsage(cpuAtStart);
      process.send!({ type: 'cpu', cpuMs: (cpu.user + cpu.system) / 1000 });
    } else {
      await kefu.close();
      rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    }
  })();
});
