import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** One request a webhook receiver got. */
export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** Date.now() when the whole body had arrived. */
  at: number;
  /** The receiver's answer (status code, or 'hang' / 'reset'). */
  answer: number | 'hang' | 'reset';
}

/** What to do with the n-th request (0-based): a status code, hang until the client gives up, or reset the connection. */
export type Behaviour = (n: number, req: { path: string; headers: IncomingHttpHeaders; body: string }) => number | 'hang' | 'reset';

/**
 * A local webhook receiver for tests (a fixture, not product code): records every request, answers
 * as `behaviour` says, and can be stopped (connection refused) and restarted on the same port.
 */
export class Receiver {
  readonly received: Received[] = [];
  behaviour: Behaviour = () => 200;
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private readonly hanging = new Set<ServerResponse>();
  port = 0;

  static async start(behaviour?: Behaviour): Promise<Receiver> {
    const r = new Receiver();
    if (behaviour) r.behaviour = behaviour;
    await r.listen(0);
    return r;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async listen(port: number): Promise<void> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const info = { path: req.url ?? '/', headers: req.headers, body };
        const answer = this.behaviour(this.received.length, info);
        this.received.push({ ...info, at: Date.now(), answer });
        if (answer === 'hang') {
          this.hanging.add(res);
          res.on('close', () => this.hanging.delete(res));
          return;
        }
        if (answer === 'reset') {
          req.socket.destroy();
          return;
        }
        res.writeHead(answer, { 'content-type': 'text/plain' }).end(answer >= 200 && answer < 300 ? 'ok' : `receiver says ${answer}`);
      });
    });
    server.keepAliveTimeout = 2000;
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    const addr = server.address();
    if (!addr || typeof addr === 'string') throw new Error('no address');
    this.port = addr.port;
    this.server = server;
  }

  /** Stop listening and drop every connection: senders get "connection refused". */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Listen again on the same port. */
  async restart(): Promise<void> {
    await this.listen(this.port);
  }

  /** Requests whose answer was a 2xx. */
  get accepted(): Received[] {
    return this.received.filter((r) => typeof r.answer === 'number' && r.answer >= 200 && r.answer < 300);
  }

  /** Poll until `check` holds (generous deadline; never a timed assertion). */
  async waitFor(check: (r: Receiver) => boolean, timeoutMs = 30_000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check(this)) {
      if (Date.now() > deadline) throw new Error(`receiver: ${what} not reached after ${timeoutMs} ms (got ${this.received.length} requests)`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

/** Poll an async condition until it holds. */
export async function until<T>(fn: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 30_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`${what} not reached after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
