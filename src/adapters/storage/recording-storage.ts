// Where call recordings live on disk: `<recordingsDir>/<instanceId>/<recordingId>.wav`. Both ids must be
// UUIDs, so a path built from request input can never leave the recordings directory.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class InvalidRecordingIdError extends Error {
  override readonly name = 'InvalidRecordingIdError';
}

function checkId(what: string, id: string): string {
  if (!uuid.test(id)) throw new InvalidRecordingIdError(`${what} must be a UUID`);
  return id.toLowerCase();
}

/** The directory of one instance's recordings. */
export function recordingInstanceDir(recordingsDir: string, instanceId: string): string {
  return path.join(path.resolve(recordingsDir), checkId('instanceId', instanceId));
}

/** The WAV file of a recording. Throws InvalidRecordingIdError unless both ids are UUIDs. */
export function recordingPath(recordingsDir: string, instanceId: string, recordingId: string): string {
  return path.join(recordingInstanceDir(recordingsDir, instanceId), `${checkId('recordingId', recordingId)}.wav`);
}

/** The WebM file of an AV call participant's recording (issue 14). */
export function avRecordingPath(recordingsDir: string, instanceId: string, recordingId: string): string {
  return path.join(recordingInstanceDir(recordingsDir, instanceId), `${checkId('recordingId', recordingId)}.webm`);
}

/** Creates the instance's recordings directory if needed (before a recorder writes into it); returns it. */
export async function ensureRecordingDir(recordingsDir: string, instanceId: string): Promise<string> {
  const dir = recordingInstanceDir(recordingsDir, instanceId);
  await mkdir(dir, { recursive: true });
  return dir;
}
