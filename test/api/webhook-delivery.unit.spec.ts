// The pieces of a webhook delivery without a Kefu: addresses refused by default, signatures, backoff, and the
// sender's own check at connect time (a name that resolves to this machine is refused even if the API let it in).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { isPrivateAddress } from '../../src/adapters/webhooks/webhook-address.ts';
import { HttpWebhookSender } from '../../src/adapters/webhooks/webhook-sender.ts';
import { signatureHeader, verifySignature, webhookSecret } from '../../src/adapters/webhooks/webhook-signature.ts';
import { backoffMs } from '../../src/processes/webhooks/webhook-dispatcher.ts';

describe('webhook addresses', () => {
  it.each([
    '127.0.0.1', '127.9.9.9', '10.0.0.1', '172.16.0.1', '172.31.255.255', '192.168.0.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255',
    '::1', '::', 'fe80::1', 'fd12:3456::1', 'ff02::1', '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.0.0.1', '64:ff9b::a00:1', '2001:db8::1',
  ])('refuses %s', (a) => expect(isPrivateAddress(a)).toBe(true));
  it.each(['93.184.215.14', '8.8.8.8', '172.32.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])('allows %s', (a) => expect(isPrivateAddress(a)).toBe(false));
  it('refuses what is not an address', () => expect(isPrivateAddress('localhost')).toBe(true));
});

describe('webhook signatures', () => {
  it('derives a stable secret per webhook and salt', () => {
    const key = Buffer.alloc(32, 7);
    expect(webhookSecret(key, 'i', 'h', 's')).toBe(webhookSecret(key, 'i', 'h', 's'));
    expect(webhookSecret(key, 'i', 'h', 's')).not.toBe(webhookSecret(key, 'i', 'h', 's2'));
    expect(webhookSecret(key, 'i', 'h', 's')).not.toBe(webhookSecret(Buffer.alloc(32, 8), 'i', 'h', 's'));
  });
  it('signs the timestamp and the body', () => {
    const header = signatureHeader('whsec_x', '{"a":1}', 1_800_000_000);
    expect(header).toMatch(/^t=1800000000,v1=[0-9a-f]{64}$/);
    expect(verifySignature('whsec_x', '{"a":1}', header, 1_800_000_010)).toBe(true);
    expect(verifySignature('whsec_x', '{"a":2}', header, 1_800_000_010)).toBe(false);
    expect(verifySignature('whsec_y', '{"a":1}', header, 1_800_000_010)).toBe(false);
    expect(verifySignature('whsec_x', '{"a":1}', header.replace('t=1800000000', 't=1800000001'), 1_800_000_010)).toBe(false);
    // Too old: a replayed request.
    expect(verifySignature('whsec_x', '{"a":1}', header, 1_800_001_000)).toBe(false);
    expect(verifySignature('whsec_x', '{"a":1}', 'garbage', 1_800_000_010)).toBe(false);
  });
});

describe('webhook backoff', () => {
  it('doubles from the minimum up to the maximum, with jitter', () => {
    const mid = () => 0.5;
    expect([1, 2, 3, 4, 10, 100].map((n) => backoffMs(n, 1000, 30_000, mid))).toEqual([1000, 2000, 4000, 8000, 30_000, 30_000]);
    expect(backoffMs(1, 1000, 30_000, () => 0)).toBe(800);
    expect(backoffMs(1, 1000, 30_000, () => 1)).toBe(1200);
  });
});

describe('webhook sender', () => {
  it('refuses at connect time a name or literal that is this machine, unless allowed; never follows a redirect', async () => {
    let hits = 0;
    const server = createServer((_req, res) => {
      hits++;
      res.writeHead(302, { location: 'http://127.0.0.1:1/elsewhere' }).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const request = (url: string) => ({ url, body: '{}', secret: 'whsec_x', deliveryId: 'd', eventId: 'e', kind: 'CONTACT_CREATED' });
    try {
      const strict = new HttpWebhookSender({ allowHttp: true, allowPrivate: false, timeoutMs: 5000 });
      const byName = await strict.send(request(`http://localhost:${port}/hook`));
      expect(byName).toMatchObject({ ok: false, status: null });
      expect(!byName.ok && byName.error).toMatch(/private or reserved/);
      const byLiteral = await strict.send(request(`http://127.0.0.1:${port}/hook`));
      expect(!byLiteral.ok && byLiteral.error).toMatch(/private or reserved/);
      expect(hits).toBe(0);
      const httpsOnly = new HttpWebhookSender({ allowHttp: false, allowPrivate: true, timeoutMs: 5000 });
      expect(await httpsOnly.send(request(`http://127.0.0.1:${port}/hook`))).toMatchObject({ ok: false });
      expect(hits).toBe(0);
      const lax = new HttpWebhookSender({ allowHttp: true, allowPrivate: true, timeoutMs: 5000 });
      const redirected = await lax.send(request(`http://localhost:${port}/hook`));
      expect(redirected).toMatchObject({ ok: false, status: 302 });
      expect(hits).toBe(1);
    } finally {
      server.close();
    }
  });

  it('gives up on an endpoint that does not answer in time, and when aborted', async () => {
    const server = createServer(() => undefined);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const request = { url: `http://127.0.0.1:${port}/hook`, body: '{}', secret: 'whsec_x', deliveryId: 'd', eventId: 'e', kind: 'CONTACT_CREATED' };
    try {
      const sender = new HttpWebhookSender({ allowHttp: true, allowPrivate: true, timeoutMs: 300 });
      const slow = await sender.send(request);
      expect(!slow.ok && slow.error).toMatch(/no answer within 300 ms/);
      const patient = new HttpWebhookSender({ allowHttp: true, allowPrivate: true, timeoutMs: 60_000 });
      const controller = new AbortController();
      const pending = patient.send(request, controller.signal);
      setTimeout(() => controller.abort(), 100);
      const aborted = await pending;
      expect(!aborted.ok && aborted.error).toMatch(/stopping/);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
