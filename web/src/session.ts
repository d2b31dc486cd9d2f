import type { Balance } from './api.js';
import { ApiError, api, setCredentials } from './api.js';

/** Who is signed in: an API key (user pages), the admin token (operator pages), or both. */
export interface Session {
  apiKey?: string | undefined;
  adminToken?: string | undefined;
  /** Kept in localStorage (survives closing the browser) instead of sessionStorage. */
  remember: boolean;
  /** Shown in the header: the key's prefix and whether it is a test key. */
  keyPrefix?: string | undefined;
  testKey?: boolean | undefined;
}

const STORAGE_KEY = 'vidgate.console.session';

function storage(remember: boolean): Storage | null {
  try {
    return remember ? window.localStorage : window.sessionStorage;
  } catch {
    return null; // storage disabled: the session lives as long as the page
  }
}

export function loadSession(): Session | null {
  for (const remember of [false, true]) {
    const raw = storage(remember)?.getItem(STORAGE_KEY);
    if (!raw) continue;
    try {
      const s = JSON.parse(raw) as Session;
      if (s.apiKey || s.adminToken) {
        setCredentials(s);
        return { ...s, remember };
      }
    } catch {
      storage(remember)?.removeItem(STORAGE_KEY);
    }
  }
  return null;
}

export function saveSession(s: Session): void {
  storage(!s.remember)?.removeItem(STORAGE_KEY);
  storage(s.remember)?.setItem(STORAGE_KEY, JSON.stringify(s));
  setCredentials(s);
}

export function clearSession(): void {
  storage(false)?.removeItem(STORAGE_KEY);
  storage(true)?.removeItem(STORAGE_KEY);
  setCredentials({});
}

/**
 * Check what was pasted with one cheap call each: GET /v1/balance for a key, GET
 * /admin/v1/prices for the admin token. Rejects with a message naming which one failed.
 */
export async function signIn(input: { apiKey: string; adminToken: string; remember: boolean }): Promise<Session> {
  const apiKey = input.apiKey.trim() || undefined;
  const adminToken = input.adminToken.trim() || undefined;
  if (!apiKey && !adminToken) throw new ApiError(0, 'Paste an API key or the admin token.', null, 'apiKey');
  const session: Session = { apiKey, adminToken, remember: input.remember };
  if (apiKey) {
    try {
      const b = await api<{ data: Balance }>('v1/balance', { token: apiKey });
      session.testKey = b.data.test_key;
      session.keyPrefix = apiKey.slice(0, 12);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) throw new ApiError(401, 'This API key was not accepted: it is wrong or has been revoked.', null, 'apiKey');
      throw new ApiError(err instanceof ApiError ? err.status : 0, `Checking the API key failed: ${(err as Error).message}`, null, 'apiKey');
    }
  }
  if (adminToken) {
    try {
      await api('admin/v1/prices', { token: adminToken });
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) throw new ApiError(401, 'This admin token was not accepted: it does not match VIDGATE_ADMIN_TOKEN.', null, 'adminToken');
      if (err instanceof ApiError && err.status === 403) throw new ApiError(403, `${err.message}`, null, 'adminToken');
      throw new ApiError(err instanceof ApiError ? err.status : 0, `Checking the admin token failed: ${(err as Error).message}`, null, 'adminToken');
    }
  }
  saveSession(session);
  return session;
}
