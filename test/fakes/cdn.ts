/**
 * A fake "CDN" origin for result URLs: a separate HTTP server (its own port, hence its own
 * origin) that serves published objects until they expire (403 or 404 after `expiresAt`, in
 * upstream time) and records every request, so tests can prove the adapter does **not** send the
 * upstream API key to the CDN (`leaks()`).
 *
 * Owned and started by the protocol fakes (`fake.cdn`); faults with `route: 'cdn'` on the owning
 * fake's injector apply here (slow, truncated, reset downloads …).
 *
 * @example
 * const fake = await startApimartFake({ apiKey: 'sk-test' });
 * // … gateway downloads the result …
 * expect(fake.cdn.requests.length).toBeGreaterThan(0);
 * expect(fake.cdn.leaks()).toEqual([]);
 */
import type { FakeClock } from './clock.js';
import type { FaultInjector } from './faults.js';
import { FakeServer, rangeReply, textReply } from './http.js';
import type { RecordedRequest, Reply, SendResult } from './http.js';
import type { ByteSource } from './payload.js';

export interface CdnObject {
  path: string;
  jobId: string | undefined;
  /** The bytes (resolved lazily, so per-job payloads cost nothing until downloaded). */
  source: () => ByteSource;
  /** Upstream ms after which the object is gone (undefined: never). */
  expiresAt: () => number | undefined;
  /** Whether the object exists yet (e.g. only once the job completed). */
  available: () => boolean;
  /** Called after every download attempt of this object. */
  onDownload?: (req: RecordedRequest, result: SendResult) => void;
}

export interface FakeCdnOptions {
  clock: FakeClock;
  faults: FaultInjector;
  rng: () => number;
  /** Values that must never reach the CDN (API keys). */
  secrets: () => readonly string[];
  /** Status after expiry: 403 (S3/OSS style "Request has expired", default) or 404. */
  expiredStatus?: 403 | 404;
  /** Answer 400 when an `Authorization` header is present (as S3 presigned URLs do). Default false. */
  rejectAuthorization?: boolean;
  latencyMs?: number | { min: number; max: number };
}

const xmlError = (code: string, message: string): string =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`;

export class FakeCdn {
  readonly server: FakeServer;
  private readonly objects = new Map<string, CdnObject>();

  constructor(private readonly opts: FakeCdnOptions) {
    this.server = new FakeServer({
      name: 'cdn',
      faults: opts.faults,
      rng: opts.rng,
      latencyMs: opts.latencyMs,
      route: (_method, path) => ({ route: 'cdn', jobId: this.objects.get(path)?.jobId }),
      handle: (req) => this.handle(req),
      faultReply: (action) =>
        action.type === 'notFound'
          ? textReply(404, xmlError('NoSuchKey', 'The specified key does not exist.'), 'application/xml')
          : {
              status: action.status,
              body: typeof action.body === 'string' ? action.body : action.body ? JSON.stringify(action.body) : xmlError(action.code ?? 'ServiceUnavailable', action.message ?? 'Please reduce your request rate.'),
              contentType: action.contentType ?? (action.body && typeof action.body !== 'string' ? 'application/json' : 'application/xml'),
              headers: {
                ...(action.retryAfter === undefined ? {} : { 'retry-after': action.retryAfter instanceof Date ? action.retryAfter.toUTCString() : String(action.retryAfter) }),
                ...(action.headers ?? {}),
              },
            },
    });
  }

  get url(): string {
    return this.server.url;
  }

  get requests(): RecordedRequest[] {
    return this.server.requests;
  }

  /** Publishes an object at `path` (must start with `/`); returns its absolute URL. */
  publish(obj: CdnObject): string {
    this.objects.set(obj.path, obj);
    return this.url + obj.path;
  }

  /** Requests to the CDN that carried credentials: any `Authorization` / `api-key` header, or a known secret anywhere in headers or URL. */
  leaks(): RecordedRequest[] {
    const secrets = this.opts.secrets().filter((s) => s.length > 0);
    return this.requests.filter((r) => {
      if (r.headers.authorization !== undefined || r.headers['api-key'] !== undefined || r.headers['x-api-key'] !== undefined) return true;
      const haystack = [r.url, ...r.rawHeaders].join('\n');
      return secrets.some((s) => haystack.includes(s));
    });
  }

  private handle(req: RecordedRequest): Reply {
    const obj = this.objects.get(req.path);
    const reply = this.reply(req, obj);
    const onDownload = obj?.onDownload;
    return onDownload ? { ...reply, onSent: (result) => onDownload(req, result) } : reply;
  }

  private reply(req: RecordedRequest, obj: CdnObject | undefined): Reply {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return textReply(405, xmlError('MethodNotAllowed', 'The specified method is not allowed against this resource.'), 'application/xml');
    }
    if (this.opts.rejectAuthorization && req.headers.authorization !== undefined) {
      return textReply(
        400,
        xmlError('InvalidArgument', 'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified'),
        'application/xml',
      );
    }
    if (!obj || !obj.available()) return textReply(404, xmlError('NoSuchKey', 'The specified key does not exist.'), 'application/xml');
    const exp = obj.expiresAt();
    if (exp !== undefined && this.opts.clock.now() >= exp) {
      return (this.opts.expiredStatus ?? 403) === 403
        ? textReply(403, xmlError('AccessDenied', 'Request has expired'), 'application/xml')
        : textReply(404, xmlError('NoSuchKey', 'The specified key does not exist.'), 'application/xml');
    }
    const src = obj.source();
    return rangeReply(req, src, { 'cache-control': 'public, max-age=86400', etag: `"${src.size.toString(16)}-${obj.jobId ?? 'object'}"` });
  }
}
