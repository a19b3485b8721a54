// A benchmark's Kefu in a child process (its server-child.ts): started with fork, it sends { port } once it
// listens and stops on { type: 'stop' }. Shared by the chat-flow, quick-replies and exports benchmarks.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface ServerChild {
  child: ChildProcess;
  port: number;
}

export function startServerChild(script: URL, env: Record<string, string>, execArgv: string[] = process.execArgv): Promise<ServerChild> {
  const child = fork(fileURLToPath(script), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv, env: { ...process.env, ...env } });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`server child exited with ${code}`)));
    child.once('message', (m) => resolve({ child, port: (m as { port: number }).port }));
  });
}

export async function stopServerChild(s: ServerChild): Promise<void> {
  s.child.removeAllListeners('exit');
  const exited = new Promise((resolve) => s.child.once('exit', resolve));
  s.child.send({ type: 'stop' });
  await exited;
}
