// KEFU_LOG_FORMAT: JSON lines for machines, readable lines for a person at a terminal, auto picks by the output.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, logFormat } from '../../src/adapters/observability/logger.ts';
import { loadConfig } from '../../src/config.ts';

function capture(isTTY: boolean) {
  const stream = Object.assign(new PassThrough(), { isTTY });
  let text = '';
  stream.on('data', (d: Buffer) => (text += d.toString()));
  return { stream, text: () => text };
}

describe('log format', () => {
  it('auto is pretty on a terminal and JSON anywhere else', () => {
    expect(logFormat('auto', true)).toBe('pretty');
    expect(logFormat('auto', false)).toBe('json');
    expect(logFormat('json', true)).toBe('json');
    expect(logFormat('pretty', false)).toBe('pretty');
  });

  it('writes one JSON object a line when the output is not a terminal', async () => {
    const out = capture(false);
    const log = createLogger({ level: 'info', format: 'auto', destination: out.stream });
    log.info({ graphql: 'http://127.0.0.1:4000/graphql' }, 'Kefu is listening');
    log.debug('not at info');
    await new Promise((r) => setImmediate(r));
    const lines = out.text().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 30, msg: 'Kefu is listening', graphql: 'http://127.0.0.1:4000/graphql' });
  });

  it('writes readable lines on a terminal: time, level, message, fields, no JSON', async () => {
    const out = capture(true);
    const log = createLogger({ level: 'info', format: 'auto', destination: out.stream });
    log.warn({ port: 5060 }, 'SIP port busy');
    await new Promise((r) => setImmediate(r));
    // eslint-disable-next-line no-control-regex -- colours on a terminal
    const plain = out.text().replace(/\u001b\[[0-9;]*m/g, '');
    expect(plain).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: SIP port busy\n\s+port: 5060\n$/);
    expect(() => JSON.parse(plain)).toThrow();
  });

  it('is a setting, auto by default, and refuses anything else by name', () => {
    expect(loadConfig({}).KEFU_LOG_FORMAT).toBe('auto');
    expect(loadConfig({ KEFU_LOG_FORMAT: 'pretty' }).KEFU_LOG_FORMAT).toBe('pretty');
    expect(() => loadConfig({ KEFU_LOG_FORMAT: 'xml' })).toThrow(/KEFU_LOG_FORMAT: must be auto, json or pretty/);
  });
});
