/**
 * Talking to the gateway: every call carries the signed-in key or admin token as a Bearer token,
 * and every failure becomes an ApiError with the gateway's own message (both dialects' envelopes).
 */

/** The gateway's base URL: the console is served at <base>/console/. */
export const apiBase = new URL('..', document.baseURI).href;

export const apiUrl = (path: string): string => new URL(path, apiBase).href;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string | null = null,
    readonly param: string | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface Credentials {
  apiKey?: string | undefined;
  adminToken?: string | undefined;
}

let credentials: Credentials = {};
export const setCredentials = (c: Credentials): void => {
  credentials = c;
};

export interface CallOptions {
  method?: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  /** JSON body. */
  body?: unknown;
  /** Multipart body (the browser sets the boundary). */
  form?: FormData;
  /** Use the admin token instead of the API key. */
  admin?: boolean;
  /** Query parameters; empty values are left out. */
  query?: Record<string, string | number | boolean | undefined | null>;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Use these credentials instead of the signed-in ones (sign-in checks). */
  token?: string;
}

export function withQuery(path: string, query: CallOptions['query']): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  const qs = params.toString();
  return qs ? `${path}${path.includes('?') ? '&' : '?'}${qs}` : path;
}

/** Call the gateway; resolves with the parsed JSON body, rejects with an ApiError. */
export async function api<T>(path: string, o: CallOptions = {}): Promise<T> {
  const token = o.token ?? (o.admin ? credentials.adminToken : credentials.apiKey);
  if (!token) {
    throw new ApiError(0, o.admin ? 'This page needs the admin token: sign in again with it.' : 'This page needs an API key: sign in again with one.');
  }
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'application/json', ...o.headers };
  let body: BodyInit | undefined;
  if (o.form) body = o.form;
  else if (o.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(o.body);
  }
  let res: Response;
  try {
    res = await fetch(apiUrl(withQuery(path, o.query)), { method: o.method ?? 'GET', headers, body, signal: o.signal, cache: 'no-store' });
  } catch (err) {
    if (err instanceof DOMException && err.name === 'AbortError') throw err;
    throw new ApiError(0, 'The gateway could not be reached. Check that it is running and your network connection, then try again.');
  }
  const text = await res.text();
  let json: unknown = undefined;
  if (text) {
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
  }
  if (res.status === 401 && !o.token) {
    // The stored key or token stopped working (revoked, token changed): the app offers to sign in again.
    window.dispatchEvent(new CustomEvent(UNAUTHORIZED, { detail: o.admin ? 'admin' : 'key' }));
  }
  if (!res.ok) {
    const e = (json as { error?: { message?: string; code?: string | null; param?: string | null } } | undefined)?.error;
    const message = e?.message ?? `The gateway answered ${res.status} ${res.statusText || ''}`.trim() + '.';
    throw new ApiError(res.status, message, e?.code ?? null, e?.param ?? null);
  }
  return json as T;
}

/** Fired on window when a signed-in credential is refused; detail: 'key' | 'admin'. */
export const UNAUTHORIZED = 'vidgate:unauthorized';

export const errorMessage = (err: unknown): string =>
  err instanceof Error ? err.message : 'Something went wrong. Try again.';

// ---- shapes the console reads ----

/** A model as GET /v1/models lists it (capabilities in OpenRouter's vocabulary, plus ours). */
export interface Model {
  id: string;
  name: string;
  owned_by: string;
  description: string | null;
  aliases: string[];
  lifecycle: { status: 'active' | 'retired'; retired_on: string | null; replacement: string | null };
  supported_aspect_ratios: string[];
  supported_resolutions: string[];
  supported_sizes: string[];
  /** resolution → aspect ratio → "WxH". */
  sizes_by_resolution: Record<string, Record<string, string>>;
  supported_durations: number[];
  supported_frame_images: string[];
  generate_audio: boolean;
  audio: { mode: 'none' | 'optional' | 'always'; default?: boolean };
  seed: boolean;
  seed_range: { min: number; max: number } | null;
  negative_prompt: boolean;
  references: { images: number; videos: number; audios: number; exclusive_with_frames: boolean };
  modes: string[];
  allowed_passthrough_parameters: string[];
  defaults: { aspect_ratio: string; resolution: string; size: string; duration: number; generate_audio: boolean; mode: string | null };
  pricing: { currency: string; unit: string; rows: { resolution: string | null; generate_audio: boolean | null; mode: string | null; usd_per_second: number }[] };
}

export interface Balance {
  balance: number;
  held: number;
  credit_limit: number;
  available: number;
  currency: string;
  test_key: boolean;
}

export interface Quote {
  model: string;
  size: string | null;
  resolution: string;
  generate_audio: boolean;
  mode: string | null;
  seconds: string;
  price_usd: number;
  price_per_second_usd: number;
  free: boolean;
  reason: 'test_key' | 'sandbox' | 'unpriced' | null;
  available_usd: number | null;
  affordable: boolean;
}

export type Status = 'queued' | 'in_progress' | 'completed' | 'failed' | 'cancelled';

export interface Video {
  id: string;
  status: string;
  progress: number;
  model: string;
  prompt: string | null;
  seconds: string;
  size: string;
  created_at: number;
  completed_at: number | null;
  expires_at: number | null;
  remixed_from_video_id: string | null;
  error: { code: string; message: string } | null;
}

export interface GalleryItem {
  id: string;
  status: Status;
  progress: number;
  model: string;
  prompt: string;
  seconds: string;
  size: string;
  actual_seconds: number | null;
  cost_usd: number;
  price_per_second_usd: number;
  error: { code: string; message: string } | null;
  remixed_from_video_id: string | null;
  created_at: number;
  completed_at: number | null;
  expires_at: number | null;
  thumbnail_url: string | null;
}

export interface Page<T> {
  data: T[];
  first_id: string | null;
  last_id: string | null;
  has_more: boolean;
}

export interface FileLink {
  url: string;
  bytes: number;
  content_type: string;
}

export interface Links {
  id: string;
  expires_at: number;
  duration_seconds: number;
  width: number;
  height: number;
  video: FileLink;
  thumbnail: FileLink;
  spritesheet: FileLink & { width: number; height: number; columns: number; rows: number; frames: number; cell_width: number; cell_height: number };
}

export interface VideoEvent {
  seq: number;
  type: string;
  id: string;
  status: string;
  progress: number;
  error: { code: string; message: string } | null;
  created_at: number;
}
