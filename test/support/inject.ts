// An answer of fastify's inject as the fuzz specs read it: the status, the body, and its JSON when it is JSON.
import type { LightMyRequestResponse } from 'fastify';

export function answerOf(res: LightMyRequestResponse): { status: number; json: Record<string, unknown> | null; text: string } {
  let json: Record<string, unknown> | null;
  try {
    json = res.json();
  } catch {
    json = null;
  }
  return { status: res.statusCode, json, text: res.body };
}
