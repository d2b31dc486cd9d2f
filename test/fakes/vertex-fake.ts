/**
 * Fake Veo on Vertex AI (test fixture, never product code), three servers:
 *
 * - OAuth token endpoint `POST /token` (its own origin, as oauth2.googleapis.com; no credentials):
 *   `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` and an `assertion` JWT checked as
 *   Google checks it — RS256, signature verified against the public key of the service account
 *   named by `iss`, `aud` = the token URL, `scope` with cloud-platform, `iat` / `exp` (at most an
 *   hour, not expired), `kid` = the key id when given. Answers `{access_token, expires_in,
 *   token_type}`; OAuth errors `{error:"invalid_grant", error_description}`.
 * - API (`Authorization: Bearer <access token>`, 401 UNAUTHENTICATED for an unknown or expired
 *   one, 403 PERMISSION_DENIED for another project):
 *   `POST /v1/projects/{p}/locations/{l}/publishers/google/models/{m}:predictLongRunning` →
 *   `{name: "projects/…/operations/<uuid>"}`;
 *   `POST …/models/{m}:fetchPredictOperation {operationName}` → `{name}` while running (no `done`
 *   key), then `{name, done:true, response:{"@type", raiMediaFilteredCount, videos:[{gcsUri |
 *   bytesBase64Encoded, mimeType}]}}`, `{name, done:true, error:{code, message}}` (google.rpc
 *   numeric code), or a filtered response with `raiMediaFilteredReasons` and no videos;
 *   `GET /v1/projects/{p}/locations/{l}/operations` (probe).
 * - Cloud Storage JSON API (its own origin): `GET /storage/v1/b/{bucket}/o/{object}?alt=media`
 *   with the same bearer token (401 without it), objects deleted at the result TTL (404).
 * Errors in Google's envelope `{"error":{"code","message","status"}}`.
 */
import { createPublicKey, createVerify, randomBytes, randomUUID } from 'node:crypto';
import { FakeUpstreamBase } from './base.js';
import type { CommonFakeOptions } from './base.js';
import type { ErrorFault, NotFoundFault } from './faults.js';
import { GoogleError, googleErrorReply, googleFaultReply, validateVeoBody } from './google.js';
import type { VeoParams } from './google.js';
import { FakeServer, jsonReply, rangeReply } from './http.js';
import type { RecordedRequest, Reply, RouteName } from './http.js';
import { readAll } from './payload.js';
import type { ScriptedJob } from './script.js';
import { isRecord } from './util.js';

export interface VertexFakeOptions extends CommonFakeOptions {
  /** Service accounts whose assertions are accepted: client_email → public key (PEM). */
  serviceAccounts: Record<string, string>;
  project: string;
  location?: string;
  /** Access-token lifetime in seconds (default 3600). */
  tokenTtlS?: number;
  /** Result lifetime after completion, upstream ms (default 7 days). */
  resultTtlMs?: number;
}

export interface VertexJobParams extends VeoParams {
  operation: string;
  bucketObject: string | undefined;
}

const GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const DAY = 86_400_000;

class OAuthError extends Error {
  constructor(
    readonly code: string,
    readonly description: string,
  ) {
    super(description);
  }
}

export class VertexFake extends FakeUpstreamBase {
  protected readonly server: FakeServer;
  readonly storage: FakeServer;
  /** The OAuth token endpoint's own origin (as oauth2.googleapis.com is). */
  readonly oauth: FakeServer;
  readonly params = new Map<string, VertexJobParams>();
  /** Access tokens issued: token → expiry (wall ms). */
  readonly issued = new Map<string, number>();
  /** Assertions received at the token endpoint (valid or not). */
  readonly exchanges: Array<{ ok: boolean; iss: unknown; reason?: string }> = [];
  /** The accepted service accounts (client_email → public key PEM); may be changed at run time. */
  readonly serviceAccounts: Record<string, string>;
  private readonly opts: VertexFakeOptions;
  private readonly byOperation = new Map<string, string>();
  private readonly objects = new Map<string, string>();

  constructor(opts: VertexFakeOptions) {
    super({ ...opts, apiKey: [] }, { queuedMs: 1_000, runMs: 5_000 });
    this.opts = opts;
    this.serviceAccounts = opts.serviceAccounts;
    this.server = new FakeServer({
      name: 'vertex',
      faults: this.faults,
      rng: this.streamRng(0x7e7),
      ...(opts.latencyMs === undefined ? {} : { latencyMs: opts.latencyMs }),
      ...(opts.port === undefined ? {} : { port: opts.port }),
      ...(opts.maxRecordedRequests === undefined ? {} : { maxRecordedRequests: opts.maxRecordedRequests }),
      route: (method, path) => this.route(method, path),
      handle: (req) => this.handle(req),
      faultReply: (action, req) => this.faultReply(action, req),
    });
    this.oauth = new FakeServer({
      name: 'oauth',
      faults: this.faults,
      rng: this.streamRng(0x0a7),
      route: (_method, path) => ({ route: path === '/token' ? 'token' : 'unknown' }),
      handle: (req) => (req.route === 'token' ? this.token(req) : jsonReply(404, { error: 'not_found', error_description: 'Not Found' })),
      faultReply: (action) =>
        action.type === 'error' && action.body === undefined
          ? jsonReply(action.status, { error: action.code ?? 'invalid_grant', error_description: action.message ?? 'Invalid grant: account not found' })
          : googleFaultReply(action, 'Not Found'),
    });
    this.storage = new FakeServer({
      name: 'gcs',
      faults: this.faults,
      rng: this.streamRng(0x6c5),
      route: (_method, path) => ({ route: 'content', jobId: this.objects.get(path) }),
      handle: (req) => this.storageGet(req),
      faultReply: (action) => googleFaultReply(action, 'No such object.'),
    });
  }

  /** The API origin (as `https://{location}-aiplatform.googleapis.com`). */
  get baseURL(): string {
    return this.url;
  }

  get tokenURL(): string {
    return `${this.oauth.url}/token`;
  }

  get storageURL(): string {
    return this.storage.url;
  }

  get location(): string {
    return this.opts.location ?? 'us-central1';
  }

  async start(): Promise<this> {
    await this.startServers();
    await this.storage.start();
    await this.oauth.start();
    return this;
  }

  override async close(): Promise<void> {
    await Promise.all([super.close(), this.storage.close(), this.oauth.close()]);
  }

  // ---------------------------------------------------------------- routing

  private route(method: string, path: string): { route: RouteName; jobId?: string } {
    const m = /^\/v1\/projects\/([^/]+)\/locations\/([^/]+)\/publishers\/google\/models\/([^/:]+):(predictLongRunning|fetchPredictOperation)$/.exec(path);
    if (m && method === 'POST') return { route: m[4] === 'predictLongRunning' ? 'submit' : 'status' };
    if (method === 'GET' && /^\/v1\/projects\/[^/]+\/locations\/[^/]+\/operations$/.test(path)) return { route: 'list' };
    return { route: 'unknown' };
  }

  private handle(req: RecordedRequest): Reply {
    try {
      if (req.route === 'unknown') throw new GoogleError(404, `The requested URL ${req.path} was not found on this server.`);
      this.authenticate(req);
      const m = /^\/v1\/projects\/([^/]+)\/locations\/([^/]+)/.exec(req.path)!;
      if (decodeURIComponent(m[1]!) !== this.opts.project) throw new GoogleError(403, `Permission 'aiplatform.endpoints.predict' denied on resource '//aiplatform.googleapis.com/projects/${m[1]}/locations/${m[2]}' (or it may not exist).`);
      if (decodeURIComponent(m[2]!) !== this.location) throw new GoogleError(400, `Location ${m[2]} is not supported for this model.`);
      switch (req.route) {
        case 'submit':
          return this.submit(req);
        case 'status':
          return this.fetch(req);
        default:
          return jsonReply(200, { operations: [] });
      }
    } catch (err) {
      if (err instanceof GoogleError) return googleErrorReply(err);
      throw err;
    }
  }

  private faultReply(action: ErrorFault | NotFoundFault, req: RecordedRequest): Reply {
    return googleFaultReply(action, `Operation ${req.jobId ?? ''} not found.`);
  }

  // ---------------------------------------------------------------- OAuth

  private token(req: RecordedRequest): Reply {
    try {
      if (req.method !== 'POST') throw new OAuthError('invalid_request', 'Method not allowed');
      if (!/^application\/x-www-form-urlencoded/.test(req.contentType ?? '')) throw new OAuthError('invalid_request', 'Content-Type must be application/x-www-form-urlencoded');
      const form = new URLSearchParams(req.rawBody.toString('utf8'));
      if (form.get('grant_type') !== GRANT) throw new OAuthError('unsupported_grant_type', `Invalid grant_type: ${form.get('grant_type') ?? ''}`);
      const assertion = form.get('assertion') ?? '';
      const parts = assertion.split('.');
      if (parts.length !== 3) throw new OAuthError('invalid_grant', 'Invalid JWT: Token must be a short-lived token and in a reasonable timeframe');
      let header: Record<string, unknown>;
      let claims: Record<string, unknown>;
      try {
        header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString()) as Record<string, unknown>;
        claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString()) as Record<string, unknown>;
      } catch {
        throw new OAuthError('invalid_grant', 'Invalid JWT: cannot decode');
      }
      const pem = typeof claims.iss === 'string' ? this.serviceAccounts[claims.iss] : undefined;
      if (!pem) {
        this.exchanges.push({ ok: false, iss: claims.iss, reason: 'unknown account' });
        throw new OAuthError('invalid_grant', 'Invalid grant: account not found');
      }
      if (header.alg !== 'RS256') throw new OAuthError('invalid_grant', 'Invalid JWT Signature.');
      const ok = createVerify('RSA-SHA256').update(`${parts[0]}.${parts[1]}`).verify(createPublicKey(pem), Buffer.from(parts[2]!, 'base64url'));
      if (!ok) {
        this.exchanges.push({ ok: false, iss: claims.iss, reason: 'signature' });
        throw new OAuthError('invalid_grant', 'Invalid JWT Signature.');
      }
      if (claims.aud !== this.tokenURL) throw new OAuthError('invalid_grant', `Invalid JWT: audience ${String(claims.aud)} is not ${this.tokenURL}`);
      if (typeof claims.scope !== 'string' || !claims.scope.split(' ').includes('https://www.googleapis.com/auth/cloud-platform')) throw new OAuthError('invalid_scope', 'Invalid OAuth scope or ID token audience provided.');
      const now = Date.now() / 1000;
      if (typeof claims.iat !== 'number' || typeof claims.exp !== 'number' || claims.exp - claims.iat > 3600 || claims.exp <= now || claims.iat > now + 60) {
        throw new OAuthError('invalid_grant', 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.');
      }
      const token = `ya29.${randomBytes(24).toString('base64url')}`;
      const ttl = this.opts.tokenTtlS ?? 3600;
      this.issued.set(token, Date.now() + ttl * 1000);
      this.exchanges.push({ ok: true, iss: claims.iss });
      return jsonReply(200, { access_token: token, expires_in: ttl, token_type: 'Bearer' });
    } catch (err) {
      if (err instanceof OAuthError) return jsonReply(400, { error: err.code, error_description: err.description });
      throw err;
    }
  }

  private authenticate(req: RecordedRequest): void {
    const token = this.bearer(req);
    const exp = token ? this.issued.get(token) : undefined;
    if (exp === undefined || exp <= Date.now()) {
      throw new GoogleError(401, 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.');
    }
  }

  /** Makes an issued token stop working (revocation, early expiry). */
  revoke(token: string): void {
    this.issued.set(token, 0);
  }

  // ---------------------------------------------------------------- predictions

  private modelOf(path: string): string {
    return decodeURIComponent(/\/models\/([^/:]+):/.exec(path)![1]!);
  }

  private submit(req: RecordedRequest): Reply {
    if (req.bodyKind !== 'json') throw new GoogleError(400, 'Invalid JSON payload received.');
    const model = this.modelOf(req.path);
    const p = validateVeoBody(model, req.json, 'vertex');
    const id = randomUUID();
    const operation = `projects/${this.opts.project}/locations/${this.location}/publishers/google/models/${model}/operations/${id}`;
    this.createJob(req, { id, kind: 'create', model, prompt: p.prompt, body: req.json as Record<string, unknown> }, this.opts.resultTtlMs ?? 7 * DAY);
    let bucketObject: string | undefined;
    if (p.storageUri) {
      const [, bucket, prefix] = /^gs:\/\/([^/]+)\/(.*)$/.exec(p.storageUri)!;
      const object = `${prefix}${id}/sample_0.mp4`;
      bucketObject = `gs://${bucket}/${object}`;
      this.objects.set(`/storage/v1/b/${encodeURIComponent(bucket!)}/o/${encodeURIComponent(object)}`, id);
    }
    this.params.set(id, { ...p, operation, bucketObject });
    this.byOperation.set(operation, id);
    return jsonReply(200, { name: operation });
  }

  private fetch(req: RecordedRequest): Reply {
    const body = req.json;
    if (!isRecord(body) || typeof body.operationName !== 'string') throw new GoogleError(400, 'operationName is required.');
    const id = this.byOperation.get(body.operationName);
    req.jobId = id;
    const job = id ? this.jobs.get(id) : undefined;
    if (!job || this.params.get(job.id)!.model !== this.modelOf(req.path)) throw new GoogleError(404, `Operation ${body.operationName} not found.`);
    if (job.takeNotFound()) throw new GoogleError(404, `Operation ${body.operationName} not found.`);
    job.observe();
    return jsonReply(200, this.renderOperation(job));
  }

  renderOperation(job: ScriptedJob): Record<string, unknown> {
    const p = this.params.get(job.id)!;
    const phase = job.peek().phase;
    const name = p.operation;
    if (phase === 'queued' || phase === 'running') return { name };
    const type = 'type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse';
    const f = job.script.failure;
    switch (phase) {
      case 'succeeded': {
        const video = p.bucketObject ? { gcsUri: p.bucketObject, mimeType: 'video/mp4' } : { bytesBase64Encoded: readAll(this.videoFor(job)).toString('base64'), mimeType: 'video/mp4' };
        return { name, done: true, response: { '@type': type, raiMediaFilteredCount: 0, videos: [video] } };
      }
      case 'moderated':
        return {
          name,
          done: true,
          response: { '@type': type, raiMediaFilteredCount: 1, raiMediaFilteredReasons: [f?.message ?? "Your current safety settings for person/face generation prevented one or more videos from being generated. Support code 17301594."] },
        };
      case 'cancelled':
        return { name, done: true, error: { code: 1, message: 'The operation was cancelled.' } };
      case 'expired':
        return { name, done: true, error: { code: 4, message: 'Deadline exceeded while generating the video.' } };
      default:
        return { name, done: true, error: { code: f?.code && /^\d+$/.test(f.code) ? Number(f.code) : 13, message: f?.message ?? 'Internal error occurred.' } };
    }
  }

  // ---------------------------------------------------------------- Cloud Storage

  private storageGet(req: RecordedRequest): Reply {
    const token = this.bearer(req);
    const exp = token ? this.issued.get(token) : undefined;
    if (exp === undefined || exp <= Date.now()) {
      return jsonReply(401, { error: { code: 401, message: 'Anonymous caller does not have storage.objects.get access to the Google Cloud Storage object.', errors: [{ domain: 'global', reason: 'required' }] } });
    }
    const id = this.objects.get(req.path);
    const job = id ? this.jobs.get(id) : undefined;
    if (!job || req.query.alt !== 'media' || job.peek().phase !== 'succeeded' || job.resultExpired()) {
      return jsonReply(404, { error: { code: 404, message: 'No such object.', errors: [{ domain: 'global', reason: 'notFound' }] } });
    }
    const src = this.videoFor(job);
    return { ...rangeReply(req, src, { etag: `"${src.size.toString(16)}"` }), onSent: (result) => this.recordDownload(job, req, result, 'video') };
  }
}

/** Starts a Vertex fake (API, token endpoint, storage) on 127.0.0.1 random ports. */
export async function startVertexFake(opts: VertexFakeOptions): Promise<VertexFake> {
  return new VertexFake(opts).start();
}
