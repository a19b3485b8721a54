// Headless Chromium for the browser specs, and the customer's site they open the widget on: one launch (the
// same flags everywhere; a missing Chromium fails the spec, it never skips) and one page server of another
// origin than Kefu's.
import { existsSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env.KEFU_TEST_CHROMIUM ?? '/usr/bin/chromium';

/** Fails (under CI and off it) when Chromium is not installed; `need` says which tests need it. */
export function requireChromium(need = 'the browser tests need it'): void {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium is not installed at ${CHROMIUM} (Debian package chromium, or set KEFU_TEST_CHROMIUM); ${need}`);
}

/** Headless Chromium; `media`: a fake camera and microphone, granted without asking. */
export async function launchChromium(options: { media?: boolean; need?: string } = {}): Promise<Browser> {
  requireChromium(options.need);
  const media = options.media ? ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream'] : [];
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', ...media, '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

export interface SiteServer {
  /** http://127.0.0.1:port, the site's origin. */
  origin: string;
  /** The pages the site serves, by ?key= (a web channel's public key in the widget specs). */
  pages: Map<string, string>;
  close(): Promise<void>;
}

/**
 * The customer's site: GET /?key=K serves pages.get(K) (404 when there is none), passed through `render`
 * with the request's query where a spec varies a page per request.
 */
export async function startSiteServer(render: (html: string, query: URLSearchParams) => string = (html) => html): Promise<SiteServer> {
  const pages = new Map<string, string>();
  const server = createHttpServer((req, res) => {
    const query = new URL(req.url ?? '/', 'http://x').searchParams;
    const html = pages.get(query.get('key') ?? '');
    if (!html) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(render(html, query));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    origin: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    pages,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** A plain shop page with the widget's script tag for channel `key`; `attributes`: more data-* on the tag. */
export function widgetPage(kefuUrl: string, key: string, attributes = ''): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Shop</title></head><body><script src="${kefuUrl}/widget.js" data-channel-key="${key}"${attributes} async></script></body></html>`;
}
