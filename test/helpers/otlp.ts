import { createServer } from 'node:http';
import type { Server } from 'node:http';

/** One span as received, whatever the encoding: ids in hex. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Record<string, string | number | boolean>;
  links: Array<{ traceId: string; spanId: string }>;
  service: string;
  /** The resource's service.instance.id (which process sent it). */
  instance: string;
}

/**
 * An OTLP/HTTP trace receiver for tests (a fixture, not product code): accepts POST /v1/traces
 * in protobuf (application/x-protobuf) or JSON (application/json), as exporters send them, and
 * keeps every span. The protobuf side is a small wire-format reader of the fields tests look at.
 */
export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  readonly contentTypes = new Set<string>();
  private server!: Server;
  url = '';

  static async start(): Promise<OtlpReceiver> {
    const receiver = new OtlpReceiver();
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const type = String(req.headers['content-type'] ?? '');
        if (req.method !== 'POST' || req.url !== '/v1/traces') {
          res.writeHead(404).end();
          return;
        }
        receiver.contentTypes.add(type);
        try {
          receiver.spans.push(...(type.includes('json') ? fromJson(JSON.parse(body.toString('utf8'))) : fromProtobuf(body)));
        } catch (err) {
          res.writeHead(400, { 'content-type': 'text/plain' }).end(String(err));
          return;
        }
        if (type.includes('json')) res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        else res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const addr = server.address();
    if (!addr || typeof addr === 'string') throw new Error('no address');
    receiver.server = server;
    receiver.url = `http://127.0.0.1:${addr.port}`;
    return receiver;
  }

  inTrace(traceId: string): ReceivedSpan[] {
    return this.spans.filter((s) => s.traceId === traceId);
  }

  async stop(): Promise<void> {
    await new Promise((r) => this.server.close(r));
  }
}

// ---------------------------------------------------------------- JSON (OTLP/HTTP JSON)

type Json = Record<string, unknown>;
const hexId = (v: unknown): string => {
  if (typeof v !== 'string' || v === '') return '';
  return /^[0-9a-f]+$/i.test(v) ? v.toLowerCase() : Buffer.from(v, 'base64').toString('hex');
};
const anyValue = (v: Json | undefined): string | number | boolean =>
  (v?.stringValue as string | undefined) ?? (v?.boolValue as boolean | undefined) ?? Number(v?.intValue ?? v?.doubleValue ?? NaN);

function fromJson(doc: Json): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of (doc.resourceSpans ?? []) as Json[]) {
    const resource = Object.fromEntries((((rs.resource as Json | undefined)?.attributes ?? []) as Json[]).map((a) => [a.key as string, anyValue(a.value as Json)]));
    for (const ss of (rs.scopeSpans ?? []) as Json[]) {
      for (const s of (ss.spans ?? []) as Json[]) {
        out.push({
          traceId: hexId(s.traceId),
          spanId: hexId(s.spanId),
          parentSpanId: hexId(s.parentSpanId),
          name: s.name as string,
          kind: Number(s.kind ?? 0),
          attributes: Object.fromEntries(((s.attributes ?? []) as Json[]).map((a) => [a.key as string, anyValue(a.value as Json)])),
          links: ((s.links ?? []) as Json[]).map((l) => ({ traceId: hexId(l.traceId), spanId: hexId(l.spanId) })),
          service: String(resource['service.name'] ?? ''),
          instance: String(resource['service.instance.id'] ?? ''),
        });
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------- protobuf (opentelemetry.proto.trace.v1)

type Fields = Map<number, Array<number | Buffer>>;

/** Read one protobuf message into its fields (varints as numbers, length-delimited as bytes). */
function fields(buf: Buffer): Fields {
  const out: Fields = new Map();
  let i = 0;
  const varint = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = buf[i++]!;
      result += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return result;
      shift += 7;
    }
  };
  while (i < buf.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    let value: number | Buffer;
    if (wire === 0) value = varint();
    else if (wire === 1) {
      value = buf.subarray(i, i + 8);
      i += 8;
    } else if (wire === 2) {
      const len = varint();
      value = buf.subarray(i, i + len);
      i += len;
    } else if (wire === 5) {
      value = buf.subarray(i, i + 4);
      i += 4;
    } else throw new Error(`unsupported wire type ${wire}`);
    if (!out.has(field)) out.set(field, []);
    out.get(field)!.push(value);
  }
  return out;
}

const bytes = (f: Fields, n: number): Buffer => (f.get(n)?.[0] as Buffer | undefined) ?? Buffer.alloc(0);
const all = (f: Fields, n: number): Buffer[] => (f.get(n) ?? []) as Buffer[];

function attributesOf(list: Buffer[]): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const kv of list) {
    const f = fields(kv);
    const v = fields(bytes(f, 2));
    const key = bytes(f, 1).toString('utf8');
    if (v.has(1)) out[key] = bytes(v, 1).toString('utf8');
    else if (v.has(2)) out[key] = v.get(2)![0] === 1;
    else if (v.has(3)) out[key] = v.get(3)![0] as number;
    else if (v.has(4)) out[key] = (v.get(4)![0] as Buffer).readDoubleLE(0);
  }
  return out;
}

function fromProtobuf(body: Buffer): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of all(fields(body), 1)) {
    const r = fields(rs);
    const resource = attributesOf(all(fields(bytes(r, 1)), 1));
    for (const ss of all(r, 2)) {
      for (const raw of all(fields(ss), 2)) {
        const s = fields(raw);
        out.push({
          traceId: bytes(s, 1).toString('hex'),
          spanId: bytes(s, 2).toString('hex'),
          parentSpanId: bytes(s, 4).toString('hex'),
          name: bytes(s, 5).toString('utf8'),
          kind: (s.get(6)?.[0] as number | undefined) ?? 0,
          attributes: attributesOf(all(s, 9)),
          links: all(s, 13).map((l) => {
            const lf = fields(l);
            return { traceId: bytes(lf, 1).toString('hex'), spanId: bytes(lf, 2).toString('hex') };
          }),
          service: String(resource['service.name'] ?? ''),
          instance: String(resource['service.instance.id'] ?? ''),
        });
      }
    }
  }
  return out;
}
