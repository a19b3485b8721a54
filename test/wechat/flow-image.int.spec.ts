// A chat flow's image fetched for WeChat (flow-image.ts) against a local https server: no server-side request
// forgery (this machine's addresses refused unless allowed, by literal address and by name), https only
// (redirects too), at most the size limit (with or without a Content-Length), only JPEG/PNG/GIF, a bounded
// number of redirects, and which failures are worth trying again.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchFlowImage, FlowImageError } from '../../src/adapters/wechat/flow-image.ts';
import { taggedPng } from '../support/chat-images.ts';

describe('fetchFlowImage', () => {
  let server: Server;
  let base: string;
  let certDir: string;
  const png = taggedPng(20, 10);
  const open = { allowPrivate: true, maxBytes: 1_000_000 };

  beforeAll(async () => {
    certDir = mkdtempSync(path.join(tmpdir(), 'kefu-flow-image-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', path.join(certDir, 'key.pem'), '-out', path.join(certDir, 'cert.pem')], { stdio: 'ignore' });
    const cert = readFileSync(path.join(certDir, 'cert.pem'), 'utf8');
    tls.setDefaultCACertificates([...tls.getCACertificates('default'), cert]);
    server = createServer({ key: readFileSync(path.join(certDir, 'key.pem')), cert }, (req, res) => {
      switch (req.url) {
        case '/logo.png':
          res.setHeader('content-type', 'image/png');
          return res.end(png);
        case '/moved':
          res.statusCode = 302;
          res.setHeader('location', '/logo.png');
          return res.end();
        case '/to-http':
          res.statusCode = 301;
          res.setHeader('location', `http://127.0.0.1:${(server.address() as AddressInfo).port}/logo.png`);
          return res.end();
        case '/loop':
          res.statusCode = 302;
          res.setHeader('location', '/loop');
          return res.end();
        case '/chunked':
          // No Content-Length: the body is counted as it comes.
          res.write(png);
          res.write(Buffer.alloc(5000));
          return res.end();
        case '/text':
          res.setHeader('content-type', 'image/png');
          return res.end('not an image at all');
        case '/busy':
          res.statusCode = 503;
          return res.end();
        default:
          res.statusCode = 404;
          return res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    if (certDir) rmSync(certDir, { recursive: true, force: true });
  });

  const failure = (url: string, policy = open) =>
    fetchFlowImage(url, policy).then(
      () => {
        throw new Error(`${url} was fetched`);
      },
      (err: unknown) => err as FlowImageError,
    );

  it('fetches a PNG, also through a redirect', async () => {
    expect(await fetchFlowImage(`${base}/logo.png`, open)).toEqual({ bytes: png, contentType: 'image/png', name: 'flow-image.png' });
    expect((await fetchFlowImage(`${base}/moved`, open)).bytes).toEqual(png);
  });

  it('refuses this machine unless allowed: by literal address and by name', async () => {
    const closed = { allowPrivate: false, maxBytes: 1_000_000 };
    const literal = await failure(`${base}/logo.png`, closed);
    expect(literal).toBeInstanceOf(FlowImageError);
    expect(literal.message).toMatch(/private or reserved address/);
    expect(literal.transient).toBe(false);
    const named = await failure(`https://localhost:${(server.address() as AddressInfo).port}/logo.png`, closed);
    expect(named.message).toMatch(/private or reserved address/);
    expect(named.transient).toBe(false);
  });

  it('refuses http (also after a redirect), too many redirects, too large, and what is no image', async () => {
    expect((await failure(`${base}/to-http`)).message).toMatch(/is not an https URL/);
    expect((await failure(`${base}/loop`)).message).toMatch(/redirects more than 3 times/);
    expect((await failure(`${base}/logo.png`, { allowPrivate: true, maxBytes: png.length - 1 })).message).toMatch(/larger than/);
    expect((await failure(`${base}/chunked`, { allowPrivate: true, maxBytes: png.length + 100 })).message).toMatch(/larger than/);
    expect((await failure(`${base}/text`)).message).toMatch(/is not a JPEG, PNG or GIF/);
  });

  it('says which failures are worth another try: a 404 is not, a 503 and an unreachable server are', async () => {
    const gone = await failure(`${base}/gone.png`);
    expect([gone.message, gone.transient]).toEqual([`the flow's image ${base}/gone.png answered HTTP 404`, false]);
    expect((await failure(`${base}/busy`)).transient).toBe(true);
    const unreachable = await failure('https://127.0.0.1:1/logo.png');
    expect(unreachable.transient).toBe(true);
    expect(unreachable.message).toMatch(/could not be fetched/);
  });
});
