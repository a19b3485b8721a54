// A person starting Kefu in a terminal reads plain lines (pino-pretty); the same start piped gets JSON (spawnKefu).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { until } from '../support/until.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('Kefu started in a terminal', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('logs readable lines, not JSON', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kefu-tty-'));
    dirs.push(dir);
    // util-linux script(1) gives the child a pseudo-terminal, as a person's shell would.
    const child = spawn('script', ['-qfec', `${JSON.stringify(process.execPath)} src/main.ts`, '/dev/null'], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: '0', KEFU_SIP: 'off', KEFU_DATA_DIR: dir, KEFU_OPERATOR_TOKEN: 'terminal-operator-token-1234' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      await until(async () => out, (o) => /Kefu is listening[^]*bus/.test(o), 90_000);
      // eslint-disable-next-line no-control-regex -- colours on a terminal
      const plain = out.replace(/\u001b\[[0-9;]*m/g, '');
      expect(plain).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: Kefu is listening\r?$/m);
      expect(plain).toMatch(/^\s+graphql: "http:\/\/127\.0\.0\.1:\d+\/graphql"\r?$/m);
      expect(plain).not.toMatch(/"level":30/);
    } finally {
      // The group of the script(1) this test started: script and the Kefu under it.
      if (child.pid) process.kill(-child.pid, 'SIGTERM');
      await exited;
    }
  });
});
