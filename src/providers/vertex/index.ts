import { createPrivateKey } from 'node:crypto';
import { z } from 'zod';
import type { VideoRequest } from '../../core/video-request.js';
import type {
  AdapterDefinition,
  AuthContext,
  ChannelCredentials,
  ResultSources,
  UpstreamAccepted,
  UpstreamAdapter,
  UpstreamHttp,
  UpstreamRequest,
  UpstreamResponse,
  UpstreamStatus,
  UpstreamSubmit,
} from '../types.js';
import { UpstreamError } from '../types.js';
import { signJwt } from '../jwt.js';
import { asRecord, num, str } from '../parse.js';
import type { Json } from '../parse.js';
import { VEO_STATES, filteredError, googleHttpError, operationError, refuseVeo, veoBody } from '../veo.js';

/**
 * Veo on Vertex AI (upstreams.md §3C).
 *
 * - auth: a service-account JSON key (`service_account`). An RS256 JWT `{iss: client_email,
 *   scope: cloud-platform, aud: token URL, iat, exp: +1 h}` signed with its private key is
 *   exchanged at the token endpoint (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`)
 *   for an access token, sent as `Authorization: Bearer`; cached per channel until shortly
 *   before it expires, exchanged again after a 401.
 * - submit: `POST /v1/projects/{project}/locations/{location}/publishers/google/models/{model}:predictLongRunning`
 *   with `instances[0]` (prompt, image / lastFrame / referenceImages as base64) and `parameters`
 *   (aspectRatio, resolution, integer durationSeconds, sampleCount 1, generateAudio, seed,
 *   negativePrompt, storageUri when the channel names a bucket).
 * - status: a POST, `…/models/{model}:fetchPredictOperation {operationName}`: `done` absent or
 *   false → running; `error` → failed with its google.rpc status; no videos with
 *   `raiMediaFilteredCount` → failed by moderation, with `raiMediaFilteredReasons`.
 * - results: `videos[0].gcsUri` read through the Cloud Storage JSON API with the same token, or
 *   `videos[0].bytesBase64Encoded` inline.
 * No idempotency, lookup or cancel of a prediction: an unanswered submit is not sent again.
 */
export const vertexOptions = z
  .object({
    /** The Google Cloud project the predictions are billed to. */
    project: z.string().regex(/^[a-z][a-z0-9-]{4,61}[a-z0-9]$/, 'a Google Cloud project id'),
    /** The region the model runs in (Veo 3.1: `us-central1`). */
    location: z.string().regex(/^[a-z0-9-]{2,40}$/, 'a Google Cloud location').default('us-central1'),
    /** OAuth token endpoint (default: the key's `token_uri`, else Google's). */
    token_url: z.string().url().optional(),
    /** Cloud Storage JSON API origin, for `gs://` results. */
    storage_url: z.string().url().default('https://storage.googleapis.com'),
    /** Keep results in this bucket (`gs://bucket/prefix/`) instead of returning them inline. */
    storage_uri: z.string().regex(/^gs:\/\/[a-z0-9][a-z0-9._-]{1,220}(\/.*)?$/, 'a gs://bucket/prefix URI').optional(),
    /** `personGeneration` sent with every request (Vertex: allow_adult by default, dont_allow, allow_all). */
    person_generation: z.enum(['allow_adult', 'dont_allow', 'allow_all']).optional(),
  })
  .strict();

export type VertexOptions = z.infer<typeof vertexOptions>;

const DEFAULT_TOKEN_URL = 'https://oauth2.googleapis.com/token';
const SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
const ASSERTION_LIFETIME_S = 3600;
/** A status or result answer may carry the video inline (base64 in JSON). */
const INLINE_MAX_BYTES = 512 * 1024 * 1024;

export interface ServiceAccount {
  client_email: string;
  private_key: string;
  private_key_id?: string;
  project_id?: string;
  token_uri?: string;
}

/** The service-account key, or a sentence saying what is wrong with it (never its content). */
export function readServiceAccount(text: string | undefined): ServiceAccount | string {
  if (!text) return 'a vertex channel needs service_account (the JSON key of a service account)';
  let j: Json | undefined;
  try {
    j = asRecord(JSON.parse(text));
  } catch {
    return 'service_account is not JSON (give the content of the service-account key file, or service_account_file)';
  }
  if (!j) return 'service_account is not a JSON object';
  if (j.type !== undefined && j.type !== 'service_account') return `service_account is a '${String(j.type)}' credential, not a service-account key`;
  const email = str(j.client_email);
  const key = str(j.private_key);
  if (!email || !key) return 'service_account lacks client_email or private_key';
  try {
    createPrivateKey(key);
  } catch {
    return 'service_account.private_key is not a PEM private key';
  }
  return {
    client_email: email,
    private_key: key,
    ...(str(j.private_key_id) ? { private_key_id: str(j.private_key_id)! } : {}),
    ...(str(j.project_id) ? { project_id: str(j.project_id)! } : {}),
    ...(str(j.token_uri) ? { token_uri: str(j.token_uri)! } : {}),
  };
}


/** Upstream ids carry the model whose `fetchPredictOperation` follows them: the full operation name does. */
function modelOf(operationName: string): string {
  const m = /\/publishers\/google\/models\/([^/]+)\/operations\/[^/]+$/.exec(operationName);
  if (!m) throw new UpstreamError('malformed', 'not a Vertex prediction operation name');
  return m[1]!;
}

class VertexAdapter implements UpstreamAdapter {
  readonly type = 'vertex';
  readonly idempotentSubmit = false;
  readonly supportsRemix = false;
  /** The key last read (auth runs before every request; the key changes only with the channel). */
  private key: { text: string; sa: ServiceAccount | string } | undefined;

  constructor(private readonly o: VertexOptions) {}

  private serviceAccount(c: ChannelCredentials): ServiceAccount {
    const text = c.fields?.service_account ?? '';
    if (this.key?.text !== text) this.key = { text, sa: readServiceAccount(text) };
    const sa = this.key.sa;
    if (typeof sa === 'string') throw new UpstreamError('http', sa, { status: 401, kind: 'auth', upstreamMessage: sa });
    return sa;
  }

  async auth({ credentials: c, tokens, http }: AuthContext): Promise<Record<string, string>> {
    const sa = this.serviceAccount(c);
    const tokenUrl = this.o.token_url ?? sa.token_uri ?? DEFAULT_TOKEN_URL;
    const token = await tokens.get('oauth', async () => {
      const now = Math.floor(Date.now() / 1000);
      const assertion = signJwt(
        { iss: sa.client_email, scope: SCOPE, aud: tokenUrl, iat: now, exp: now + ASSERTION_LIFETIME_S },
        sa.private_key,
        'RS256',
        sa.private_key_id ? { kid: sa.private_key_id } : {},
      );
      const res = await http.send({
        method: 'POST',
        url: tokenUrl,
        trusted: true,
        auth: false,
        urlencoded: { grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion },
        purpose: 'probe',
      });
      const b = asRecord(res.body);
      const access = str(b?.access_token);
      const expiresIn = num(b?.expires_in) ?? 3600;
      if (!access) throw new UpstreamError('malformed', 'the token endpoint answered without an access_token');
      return { token: access, expiresAtMs: Date.now() + expiresIn * 1000 };
    });
    return { ...(c.headers ?? {}), authorization: `Bearer ${token}` };
  }

  refuse(req: VideoRequest, upstreamModel: string): { param: string; message: string } | null {
    return refuseVeo(req, upstreamModel, 'vertex');
  }

  /** `…/v1/projects/{p}/locations/{l}/publishers/google/models/{model}`; the base may end in `/v1`. */
  private modelPath(http: UpstreamHttp, model: string): string {
    return `${this.locationPath(http)}/publishers/google/models/${encodeURIComponent(model)}`;
  }

  private locationPath(http: UpstreamHttp): string {
    const v1 = /\/v1$/.test(http.baseUrl) ? '' : '/v1';
    return `${v1}/projects/${encodeURIComponent(this.o.project)}/locations/${encodeURIComponent(this.o.location)}`;
  }

  private async call(http: UpstreamHttp, req: UpstreamRequest): Promise<UpstreamResponse> {
    try {
      return await http.send(req);
    } catch (err) {
      throw err instanceof UpstreamError ? googleHttpError(err) : err;
    }
  }

  async submit(job: UpstreamSubmit, http: UpstreamHttp): Promise<UpstreamAccepted> {
    const { instances, parameters } = await veoBody(job.request, job.model, 'vertex', this.o.person_generation ? { personGeneration: this.o.person_generation } : {});
    if (this.o.storage_uri) parameters.storageUri = this.o.storage_uri.endsWith('/') ? this.o.storage_uri : `${this.o.storage_uri}/`;
    const res = await this.call(http, { method: 'POST', path: `${this.modelPath(http, job.model)}:predictLongRunning`, json: { instances, parameters }, purpose: 'submit' });
    const name = str(asRecord(res.body)?.name);
    if (!name || !/\/operations\/[^/]+$/.test(name)) throw new UpstreamError('malformed', 'the answer carries no operation name');
    return { upstreamId: name, status: { ...VEO_STATES.running, raw: 'submitted' } };
  }

  private async operation(upstreamId: string, http: UpstreamHttp): Promise<Json> {
    const model = modelOf(upstreamId);
    const res = await this.call(http, {
      method: 'POST',
      path: `${this.modelPath(http, model)}:fetchPredictOperation`,
      json: { operationName: upstreamId },
      maxBytes: INLINE_MAX_BYTES,
      purpose: 'status',
    });
    const op = asRecord(res.body);
    if (!op) throw new UpstreamError('malformed', 'the operation is not a JSON object');
    return op;
  }

  async status(upstreamId: string, http: UpstreamHttp): Promise<UpstreamStatus> {
    return parseVertexOperation(await this.operation(upstreamId, http));
  }

  async results(upstreamId: string, last: UpstreamStatus, http: UpstreamHttp): Promise<ResultSources> {
    if (last.resultUrl?.startsWith('gs://')) return { video: { url: this.storageUrl(last.resultUrl), credentials: true } };
    // Inline bytes are not kept in the task's status: ask for the operation again.
    const video = firstVideo(await this.operation(upstreamId, http));
    const data = str(video?.bytesBase64Encoded);
    if (data) return { video: { data: Buffer.from(data, 'base64') } };
    const gcs = str(video?.gcsUri);
    if (gcs) return { video: { url: this.storageUrl(gcs), credentials: true } };
    throw new UpstreamError('malformed', 'the finished operation carries no video');
  }

  /** `gs://bucket/object` → the Cloud Storage JSON API media URL. */
  private storageUrl(gs: string): string {
    const m = /^gs:\/\/([^/]+)\/(.+)$/.exec(gs);
    if (!m) throw new UpstreamError('malformed', 'not a gs:// object URI');
    return `${this.o.storage_url.replace(/\/+$/, '')}/storage/v1/b/${encodeURIComponent(m[1]!)}/o/${encodeURIComponent(m[2]!)}?alt=media`;
  }

  /** Lists the location's operations: the token exchange and the project's permissions in one cheap read. */
  async probe(http: UpstreamHttp): Promise<void> {
    await this.call(http, { method: 'GET', path: `${this.locationPath(http)}/operations`, query: { pageSize: '1' }, purpose: 'probe' });
  }
}

function firstVideo(op: Json): Json | undefined {
  const response = asRecord(op.response);
  const videos = Array.isArray(response?.videos) ? response.videos : [];
  return videos.map(asRecord).find((v) => v && (str(v.gcsUri) || str(v.bytesBase64Encoded)));
}

/** A `fetchPredictOperation` answer, normalised. Never keeps the inline bytes. */
export function parseVertexOperation(op: Json): UpstreamStatus {
  if (op.done !== true) return { ...VEO_STATES.running };
  const error = asRecord(op.error);
  if (error) return { ...VEO_STATES.failed, error: operationError(error) };
  const response = asRecord(op.response) ?? {};
  const video = firstVideo(op);
  if (!video) return { ...VEO_STATES.filtered, error: filteredError(response) };
  const out: UpstreamStatus = { ...VEO_STATES.succeeded, completedAtMs: Date.now() };
  const gcs = str(video.gcsUri);
  if (gcs) out.resultUrl = gcs;
  return out;
}

export const vertex: AdapterDefinition<VertexOptions> = {
  type: 'vertex',
  description: 'Veo on Vertex AI: predictLongRunning / fetchPredictOperation, service-account OAuth',
  options: vertexOptions,
  credentials: [{ name: 'service_account', description: 'the service-account JSON key (its content; service_account_file in the config file)' }],
  checkCredentials(c: ChannelCredentials): string | null {
    const sa = readServiceAccount(c.fields?.service_account);
    return typeof sa === 'string' ? sa : null;
  },
  create: (options) => new VertexAdapter(options),
};
