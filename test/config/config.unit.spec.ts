import { describe, expect, it } from 'vitest';
import { availableParallelism } from 'node:os';
import { ConfigError, loadConfig, mediaThreads } from '../../src/config.ts';

describe('configuration', () => {
  it('has a default for every setting, for the embedded run', () => {
    expect(loadConfig({})).toMatchObject({ PORT: 4000, HOST: '127.0.0.1', KEFU_DATA_DIR: './data', LOG_LEVEL: 'info' });
    expect(loadConfig({}).DATABASE_URL).toBeUndefined();
    expect(loadConfig({})).toMatchObject({ KEFU_GRAPHQL_MAX_DEPTH: 15, KEFU_GRAPHQL_MAX_ALIASES: 30, KEFU_GRAPHQL_MAX_COST: 50_000, KEFU_GRAPHQL_MAX_MUTATIONS: 10, KEFU_GRAPHQL_MAX_TOKENS: 5000 });
  });

  it('reads the servers from their URLs', () => {
    const c = loadConfig({
      DATABASE_URL: 'postgres://kefu@db:5432/kefu',
      EVENTSTORE_URL: 'esdb://eventstore:2113?tls=false',
      NATS_URL: 'nats://nats:4222',
      PORT: '8080',
    });
    expect(c).toMatchObject({ DATABASE_URL: 'postgres://kefu@db:5432/kefu', NATS_URL: 'nats://nats:4222', PORT: 8080 });
  });

  it.each([
    ['PORT', 'eighty', /PORT: /],
    ['PORT', '70000', /PORT: must be 0 to 65535/],
    ['DATABASE_URL', 'mysql://x', /DATABASE_URL: must be a URL starting with postgres:/],
    ['NATS_URL', 'localhost:4222', /NATS_URL: must be a URL/],
    ['EVENTSTORE_URL', 'http://x', /EVENTSTORE_URL: must be a URL/],
    ['LOG_LEVEL', 'loud', /LOG_LEVEL: must be one of/],
    ['KEFU_OPERATOR_TOKEN', 'short', /KEFU_OPERATOR_TOKEN: must be at least 16 characters/],
    ['KEFU_MEDIA_THREADS', 'many', /KEFU_MEDIA_THREADS: must be 0 to 16 or auto/],
    ['KEFU_WEBHOOK_ALLOW_PRIVATE', 'yes', /KEFU_WEBHOOK_ALLOW_PRIVATE: must be on or off/],
    ['KEFU_WEBHOOK_RETRY_SECONDS', '0', /KEFU_WEBHOOK_RETRY_SECONDS: must be 1 to 604800/],
    ['KEFU_WEBHOOK_TIMEOUT_MS', '10', /KEFU_WEBHOOK_TIMEOUT_MS: must be 100 to 120000/],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'collector:4318', /OTEL_EXPORTER_OTLP_ENDPOINT: must be a URL starting with http:\/\/ or https:\/\//],
    ['OTEL_TRACES_SAMPLER_ARG', '1.5', /OTEL_TRACES_SAMPLER_ARG: must be a number from 0 to 1/],
    ['KEFU_MEDIA_THREADS', '17', /KEFU_MEDIA_THREADS: must be 0 to 16 or auto/],
    ['KEFU_SILENCE_ALERT_SECONDS', '2', /KEFU_SILENCE_ALERT_SECONDS: must be 0 \(off\) or 3 to 3600/],
    ['KEFU_SILENCE_ALERT_SECONDS', '-1', /KEFU_SILENCE_ALERT_SECONDS: must be 0 \(off\) or 3 to 3600/],
    ['KEFU_SILENCE_ALERT_SECONDS', '3601', /KEFU_SILENCE_ALERT_SECONDS: must be 0 \(off\) or 3 to 3600/],
    ['KEFU_GRAPHQL_MAX_DEPTH', '1', /KEFU_GRAPHQL_MAX_DEPTH: must be 2 to 100/],
    ['KEFU_GRAPHQL_MAX_COST', 'lots', /KEFU_GRAPHQL_MAX_COST: /],
    ['KEFU_GRAPHQL_MAX_MUTATIONS', '0', /KEFU_GRAPHQL_MAX_MUTATIONS: must be 1 to 1000/],
  ])('stops on a wrong %s with a message naming it', (key, value, message) => {
    expect(() => loadConfig({ [key]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [key]: value })).toThrow(message);
  });

  it('refuses http and private webhook URLs, and keeps tracing off, unless told otherwise', () => {
    expect(loadConfig({})).toMatchObject({ KEFU_WEBHOOK_ALLOW_HTTP: 'off', KEFU_WEBHOOK_ALLOW_PRIVATE: 'off', KEFU_WEBHOOK_RETRY_SECONDS: 86400, OTEL_TRACES_SAMPLER_ARG: 1 });
    expect(loadConfig({}).OTEL_EXPORTER_OTLP_ENDPOINT).toBeUndefined();
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_TRACES_SAMPLER_ARG: '0.1' })).toMatchObject({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_TRACES_SAMPLER_ARG: 0.1 });
    // The key is a secret: a wrong one is named, never shown.
    expect(() => loadConfig({ KEFU_SECRETS_KEY: 'short-secret-value' })).toThrow(/KEFU_SECRETS_KEY: must be at least 32 characters$/m);
    expect(() => loadConfig({ KEFU_SECRETS_KEY: 'short-secret-value' })).not.toThrow(/short-secret-value/);
  });

  it('takes the media threads as a number or auto (one less than the CPUs, 1 to 4)', () => {
    expect(loadConfig({}).KEFU_MEDIA_THREADS).toBe('auto');
    expect(loadConfig({ KEFU_MEDIA_THREADS: '0' }).KEFU_MEDIA_THREADS).toBe(0);
    expect(loadConfig({ KEFU_MEDIA_THREADS: '3' }).KEFU_MEDIA_THREADS).toBe(3);
    expect(mediaThreads(2)).toBe(2);
    expect(mediaThreads('auto')).toBe(Math.max(1, Math.min(4, availableParallelism() - 1)));
  });

  it('alerts on a call silent for 30 s unless told otherwise; 0 turns the alert off', () => {
    expect(loadConfig({}).KEFU_SILENCE_ALERT_SECONDS).toBe(30);
    expect(loadConfig({ KEFU_SILENCE_ALERT_SECONDS: '0' }).KEFU_SILENCE_ALERT_SECONDS).toBe(0);
    expect(loadConfig({ KEFU_SILENCE_ALERT_SECONDS: '5' }).KEFU_SILENCE_ALERT_SECONDS).toBe(5);
  });

  it('never prints a secret setting back', () => {
    expect(() => loadConfig({ KEFU_OPERATOR_TOKEN: 'short-secret' })).toThrow(/^(?![\s\S]*short-secret)/);
  });

  it('names every wrong setting at once', () => {
    let message = '';
    try {
      loadConfig({ PORT: 'x', LOG_LEVEL: 'y' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/PORT/);
    expect(message).toMatch(/LOG_LEVEL/);
  });
});
