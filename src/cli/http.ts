/** The small HTTP client the remote CLI commands share (generate, webhook …). */

export class GatewayError extends Error {}

export interface Remote {
  /** Gateway base URL without a trailing slash or /v1. */
  base: string;
  apiKey: string;
}

/** VIDGATE_URL (or --url) and VIDGATE_API_KEY. */
export function remote(url?: string): Remote {
  const base = (url ?? process.env.VIDGATE_URL ?? 'http://localhost:8080').replace(/\/+$/, '').replace(/\/v1$/, '');
  const apiKey = process.env.VIDGATE_API_KEY;
  if (!apiKey) throw new GatewayError('set VIDGATE_API_KEY to an API key (create one with: npx vidgate key create --name me)');
  return { base, apiKey };
}

/** A request with the key's Bearer auth; a non-2xx answer becomes a GatewayError with the gateway's message. */
export async function call(url: string, apiKey: string, init: RequestInit = {}): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, headers: { authorization: `Bearer ${apiKey}`, ...(init.headers ?? {}) } });
  } catch (err) {
    throw new GatewayError(`cannot reach the gateway at ${new URL(url).origin}: ${(err as Error).message}. Is it running? (VIDGATE_URL)`);
  }
  if (!res.ok) {
    const body = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
    throw new GatewayError(`${res.status} ${body?.error?.message ?? res.statusText}`);
  }
  return res;
}

/** A JSON API call: `body` is sent as JSON; the answer is parsed. */
export async function callJson<T>(r: Remote, method: string, path: string, body?: unknown): Promise<T> {
  const res = await call(`${r.base}${path}`, r.apiKey, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  return (await res.json()) as T;
}
