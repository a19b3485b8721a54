// Start-up as a user meets it: wrong settings stop it with a message; the operator token is printed once.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { okHttp, spawnKefu } from '../support/process.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));

describe('starting Kefu', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('stops with exit code 2 and names the wrong setting', async () => {
    const err = (await run(process.execPath, ['src/main.ts'], { cwd: root, env: { PATH: process.env.PATH ?? '', PORT: 'abc' } }).catch(
      (e: unknown) => e,
    )) as { code: number; stderr: string };
    expect(err.code).toBe(2);
    expect(err.stderr).toMatch(/PORT: /);
  });

  it('generates an operator token on the first start, prints it once, and accepts it after a restart', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kefu-start-'));
    dirs.push(dir);
    const first = await spawnKefu({ KEFU_DATA_DIR: dir });
    const token = /Platform operator token[^\n]*\n\s*\n\s*(kefu-operator-\S+)/.exec(first.output())?.[1];
    expect(token).toBeDefined();
    await first.stop();
    const second = await spawnKefu({ KEFU_DATA_DIR: dir });
    try {
      expect(second.output()).not.toMatch(/Platform operator token/);
      expect(second.output()).not.toContain(token!);
      const r = await okHttp<{ instances: unknown[] }>(second.url, token!, '{ instances { id } }');
      expect(r.instances).toEqual([]);
    } finally {
      await second.stop();
    }
  });

  it('refuses a second process on the same embedded data directory', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kefu-start-'));
    dirs.push(dir);
    const first = await spawnKefu({ KEFU_DATA_DIR: dir, KEFU_OPERATOR_TOKEN: 'operator-token-for-lock-test' });
    try {
      await expect(spawnKefu({ KEFU_DATA_DIR: dir, KEFU_OPERATOR_TOKEN: 'operator-token-for-lock-test' })).rejects.toThrow(/in use by another Kefu process/);
    } finally {
      await first.stop();
    }
  });
});
