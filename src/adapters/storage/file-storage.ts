// Files Kefu keeps beside its databases (prompt audio; later recordings and attachments), under one root
// folder passed in by the composition root. Writes go to a temporary file first and are renamed into
// place, so a reader never sees half a file.
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

const segment = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export class FileStorage {
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  /** The absolute path of a file; each segment is a plain name (no separators, no `..`). */
  pathOf(segments: readonly string[]): string {
    for (const s of segments) {
      if (!segment.test(s) || s.includes('..')) throw new Error(`Not a storage name: ${JSON.stringify(s)}`);
    }
    return path.join(this.root, ...segments);
  }

  async write(segments: readonly string[], bytes: Uint8Array): Promise<void> {
    const target = this.pathOf(segments);
    await mkdir(path.dirname(target), { recursive: true });
    const temp = `${target}.${randomUUID()}.part`;
    try {
      await writeFile(temp, bytes);
      await rename(temp, target);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
  }

  /** The file's bytes, or null when there is none. */
  async read(segments: readonly string[]): Promise<Uint8Array | null> {
    try {
      return new Uint8Array(await readFile(this.pathOf(segments)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async remove(segments: readonly string[]): Promise<void> {
    await rm(this.pathOf(segments), { force: true });
  }
}

/** Where an instance's prompt recording is kept: `audio/<instanceId>/<audioId>.wav`. */
export const audioFileKey = (instanceId: string, audioId: string) => ['audio', instanceId, `${audioId}.wav`] as const;
