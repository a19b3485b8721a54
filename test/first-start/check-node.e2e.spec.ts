// `npm start` / `npm test` on an old Node (package.json "prestart"/"pretest" run scripts/check-node.cjs): one
// clear line naming the version needed and how to get it, no stack trace. Run with the machine's Node 20.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const oldNode = '/usr/bin/node';

describe('the Node.js version check', () => {
  it('stops an old Node with one line that says which version and how to get it', async () => {
    // CI installs a Node 20 there on purpose (the system's); without it this test cannot check anything.
    expect(existsSync(oldNode), `${oldNode} (an old Node.js) is needed for this test`).toBe(true);
    const version = (await run(oldNode, ['--version'])).stdout.trim();
    expect(Number(/^v(\d+)/.exec(version)?.[1])).toBeLessThan(22);
    const err = (await run(oldNode, ['scripts/check-node.cjs'], { cwd: root }).catch((e: unknown) => e)) as { code: number; stdout: string; stderr: string };
    expect(err.code).toBe(1);
    expect(err.stdout).toBe('');
    const lines = err.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('Kefu needs Node.js 22.18.0 or newer');
    expect(lines[0]).toContain(`this is Node.js ${version.slice(1)}`);
    expect(lines[0]).toMatch(/nvm install 24/);
    expect(lines[0]).toMatch(/npm install -g --prefix \/opt\/node24 node@24/);
    expect(err.stderr).not.toMatch(/^\s+at /m);
  });

  it('lets the Node that runs the tests through silently', async () => {
    const ok = await run(process.execPath, ['scripts/check-node.cjs'], { cwd: root });
    expect(ok.stdout).toBe('');
    expect(ok.stderr).toBe('');
  });

  it('is what would otherwise fail: the old Node cannot even parse Kefu', async () => {
    const err = (await run(oldNode, ['src/main.ts'], { cwd: root, env: { PATH: '' } }).catch((e: unknown) => e)) as { code: number; stderr: string };
    expect(err.code).not.toBe(0);
  });
});
