// The AV call specs' shared set-up: the stand-in browsers (werift) send real VP8 and Opus encoded by
// Debian's ffmpeg and ffprobe reads the recordings, so both must be installed (a missing one fails the spec);
// Kefu's AV settings for calls on this machine's loopback.
import { execFileSync } from 'node:child_process';

/** Fails when ffmpeg or ffprobe is not installed. */
export function requireFfmpeg(): void {
  for (const tool of ['ffmpeg', 'ffprobe']) {
    try {
      execFileSync(tool, ['-version'], { stdio: 'ignore' });
    } catch {
      throw new Error(`${tool} is not installed (Debian package ffmpeg); the AV call tests need it`);
    }
  }
}

/**
 * Kefu's environment for AV calls between loopback peers: media on 127.0.0.1, an 8 s grace period for a
 * vanished browser, 90 s to connect on a loaded machine, candidates from 127.0.0.0/8; `more` adds or overrides.
 */
export function avTestEnv(more: Record<string, string> = {}): Record<string, string> {
  // KEFU_AV_MEDIA_THREADS from the environment: the same specs with the calls' media on the main thread (0) or workers.
  const threads: Record<string, string> = process.env.KEFU_AV_MEDIA_THREADS ? { KEFU_AV_MEDIA_THREADS: process.env.KEFU_AV_MEDIA_THREADS } : {};
  return { KEFU_AV_PUBLIC_ADDRESS: '127.0.0.1', KEFU_AV_BIND: '127.0.0.1', KEFU_AV_GRACE_MS: '8000', KEFU_AV_CONNECT_TIMEOUT_MS: '90000', KEFU_AV_ALLOWED_CANDIDATES: '127.0.0.0/8', ...threads, ...more };
}
