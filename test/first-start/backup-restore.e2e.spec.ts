// npm run backup / npm run restore (src/adapters/storage/backup-cli.ts) for the embedded database: a Kefu with
// agents and a chat is backed up, restored into a fresh directory, and a Kefu there has the same agents and
// chat records. Both refuse a directory a running Kefu uses; restore refuses to overwrite a database.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { okHttp, seedOverHttp, spawnKefu, type KefuProcess } from '../support/process.ts';
import { until } from '../support/until.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const operatorToken = 'backup-restore-operator-token';
const origin = 'https://shop.example';

/** The CLI as `npm run backup -- <file>` runs it. */
async function cli(command: 'backup' | 'restore', dataDir: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(process.execPath, ['src/adapters/storage/backup-cli.ts', command, ...args], { cwd: root, env: { PATH: process.env.PATH ?? '', KEFU_DATA_DIR: dataDir } }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

const AGENTS = '{ agents(first: 50) { edges { node { id name login role presence } } } }';
const CHATS = '{ chatRecords(first: 50) { edges { node { contactId source pageUrl createdAt customer { name } } } } }';

describe('backup and restore of the embedded database', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });
  const tempDir = (name: string) => {
    const dir = mkdtempSync(path.join(tmpdir(), `kefu-${name}-`));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  };
  const started = async (dir: string): Promise<KefuProcess> => {
    const k = await spawnKefu({ KEFU_DATA_DIR: dir, KEFU_OPERATOR_TOKEN: operatorToken });
    cleanups.push(() => k.stop());
    return k;
  };

  it('restores into a fresh directory the same agents and chat records, and refuses directories in use', async () => {
    const source = tempDir('backup-source');
    const target = tempDir('backup-target');
    const files = tempDir('backup-files');
    const file = path.join(files, 'kefu.backup');

    const first = await started(source);
    const seed = await seedOverHttp(first.url, operatorToken);
    await okHttp(first.url, seed.adminKey, 'mutation { createAgent(input: { name: "Bob", login: "bob", password: "password-123", role: SUPERVISOR }) { id } }');
    const group = await okHttp<{ createSkillGroup: { id: string } }>(first.url, seed.adminKey, 'mutation { createSkillGroup(input: { name: "Web", channel: ONLINE }) { id } }');
    const channel = await okHttp<{ createWebChannel: { webChannel: { publicKey: string } } }>(first.url, seed.adminKey, 'mutation($input: CreateWebChannelInput!) { createWebChannel(input: $input) { webChannel { publicKey } } }', {
      input: { name: 'Shop', allowedOrigins: [origin], skillGroupId: group.createSkillGroup.id },
    });
    const customerGql = async <T,>(token: string | null, query: string, variables: Record<string, unknown>) => {
      const res = await fetch(`${first.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', origin, ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify({ query, variables }) });
      const body = (await res.json()) as { data: T; errors?: unknown };
      expect(body.errors).toBeUndefined();
      return body.data;
    };
    const session = await customerGql<{ startCustomerSession: { token: string } }>(null, 'mutation($input: StartCustomerSessionInput!) { startCustomerSession(input: $input) { token } }', { input: { channelKey: channel.createWebChannel.webChannel.publicKey, name: 'Carol' } });
    await customerGql(session.startCustomerSession.token, 'mutation($input: StartChatInput!) { startChat(input: $input) { contactId } }', {
      input: { clientChatId: randomUUID(), visitor: { pageUrl: 'https://shop.example/cart' }, firstMessage: { clientMessageId: randomUUID(), text: 'Hello' } },
    });
    const chats = await until(() => okHttp<{ chatRecords: { edges: unknown[] } }>(first.url, seed.adminKey, CHATS), (r) => r.chatRecords.edges.length === 1, 60_000);
    const agents = await okHttp<{ agents: { edges: unknown[] } }>(first.url, seed.adminKey, AGENTS);
    expect(agents.agents.edges).toHaveLength(2);

    // Running: the backup is refused (the embedded database serves one process).
    const busy = await cli('backup', source, file);
    expect(busy.code).toBe(1);
    expect(busy.stderr).toMatch(/a Kefu \(pid \d+\) is using .*: stop it to back it up/);
    expect(existsSync(file)).toBe(false);
    await first.stop();

    const backedUp = await cli('backup', source, file);
    expect(backedUp.code, backedUp.stderr).toBe(0);
    expect(backedUp.stdout).toMatch(/backed up the embedded database .* bytes\)/);
    // An existing file is not overwritten without --force.
    expect((await cli('backup', source, file)).stderr).toMatch(/exists: choose another file or add --force/);

    const restored = await cli('restore', target, file);
    expect(restored.code, restored.stderr).toBe(0);
    // Not over a database without --force.
    const again = await cli('restore', target, file);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already holds a database/);

    const second = await started(target);
    expect(await okHttp(second.url, seed.adminKey, AGENTS)).toEqual(agents);
    expect(await okHttp(second.url, seed.adminKey, CHATS)).toEqual(chats);
    // And a restore into the directory of a running Kefu is refused, even with --force.
    const inUse = await cli('restore', target, file, '--force');
    expect(inUse.code).toBe(1);
    expect(inUse.stderr).toMatch(/is using .*: stop it to restore into it/);
    await second.stop();
  });

  it('refuses what is not a backup, and wrong usage, with one line', async () => {
    const dir = tempDir('backup-bad');
    const junk = path.join(dir, 'junk.backup');
    writeFileSync(junk, 'not a tarball at all');
    const bad = await cli('restore', path.join(dir, 'data'), junk);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/is not a backup Kefu can read/);
    expect(bad.stderr).not.toMatch(/^\s+at /m);
    expect(existsSync(path.join(dir, 'data', 'pg'))).toBe(false);
    expect((await cli('restore', dir, path.join(dir, 'missing.backup'))).stderr).toMatch(/no backup file/);
    expect((await cli('backup', path.join(dir, 'empty'), path.join(dir, 'x.backup'))).stderr).toMatch(/no embedded database/);
    const usage = await run(process.execPath, ['src/adapters/storage/backup-cli.ts', 'backup'], { cwd: root }).catch((e: { code: number; stderr: string }) => e);
    expect((usage as { code: number }).code).toBe(2);
  });
});
