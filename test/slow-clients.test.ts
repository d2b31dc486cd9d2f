/**
 * Slow clients cannot hold connections: a body that trickles in is cut off with a 408 once the
 * request timeout has passed, and a multipart request announcing more than the route takes is
 * refused at once with a 413 (as JSON bodies are), without reading it.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from './helpers/gateway.js';
import { startGateway } from './helpers/gateway.js';

let gw: TestGateway;
const TIMEOUT_MS = 2000;

beforeAll(async () => {
  gw = await startGateway({ http: { requestTimeoutMs: TIMEOUT_MS, headersTimeoutMs: TIMEOUT_MS } });
});
afterAll(async () => gw?.close());

/** Open a raw connection, send `head`, then trickle `body` one byte every `everyMs`; resolve with what the server answered and when. */
function trickle(head: string, body: string, everyMs: number): Promise<{ text: string; ms: number; closed: boolean }> {
  const url = new URL(gw.url);
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = connect(Number(url.port), url.hostname);
    let text = '';
    let i = 0;
    let timer: NodeJS.Timeout | undefined;
    socket.on('connect', () => {
      socket.write(head);
      timer = setInterval(() => {
        if (i < body.length && !socket.destroyed) socket.write(body[i++]!);
      }, everyMs);
    });
    socket.on('data', (d) => (text += d.toString()));
    const done = () => {
      clearInterval(timer);
      resolve({ text, ms: Date.now() - started, closed: true });
    };
    socket.on('close', done);
    socket.on('error', () => undefined);
    setTimeout(() => {
      clearInterval(timer);
      socket.destroy();
    }, 30_000);
  });
}

describe('slow clients', () => {
  it('a JSON body trickling in is cut off with a 408 in the error envelope after the request timeout', async () => {
    const body = JSON.stringify({ prompt: 'a very slow client '.repeat(20) });
    const head = `POST /v1/videos HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${gw.key}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
    const r = await trickle(head, body, 200);
    expect(r.text).toMatch(/^HTTP\/1\.1 408 /);
    expect(r.text).toContain('"code":"request_timeout"');
    expect(r.ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 100);
    expect(r.ms).toBeLessThan(TIMEOUT_MS + 4000);
  });

  it('a multipart body trickling in is cut off too', async () => {
    const b = 'slowboundary';
    const body = `--${b}\r\nContent-Disposition: form-data; name="prompt"\r\n\r\n${'slow '.repeat(200)}\r\n--${b}--\r\n`;
    const head = `POST /v1/videos HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${gw.key}\r\nContent-Type: multipart/form-data; boundary=${b}\r\nContent-Length: ${body.length}\r\n\r\n`;
    const r = await trickle(head, body, 200);
    expect(r.text).toMatch(/^HTTP\/1\.1 408 /);
    expect(r.ms).toBeLessThan(TIMEOUT_MS + 4000);
  });

  it('headers trickling in are cut off', async () => {
    const r = await trickle('', `GET /v1/videos HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${gw.key}\r\nX-Slow: ${'s'.repeat(100)}\r\n\r\n`, 100);
    expect(r.text).toMatch(/^HTTP\/1\.1 408 /);
    expect(r.ms).toBeLessThan(TIMEOUT_MS + 4000);
  });

  it('a multipart request announcing a huge Content-Length is refused at once with a 413, as a JSON one is', async () => {
    for (const type of ['multipart/form-data; boundary=zzz', 'application/json']) {
      const head = `POST /v1/videos HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${gw.key}\r\nContent-Type: ${type}\r\nContent-Length: 10000000000\r\n\r\n`;
      const r = await trickle(head, '--zzz\r\n', 1000);
      expect(r.text, type).toMatch(/^HTTP\/1\.1 413 /);
      expect(r.text).toContain('"code":"request_too_large"');
      expect(r.ms, type).toBeLessThan(1500);
    }
  });
});
