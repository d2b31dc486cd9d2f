import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, errorMessage } from '../api.js';
import type { Session } from '../session.js';
import { signIn } from '../session.js';

/**
 * Sign in with an API key (playground and gallery), the admin token (operator pages), or both.
 * What is pasted is checked with one cheap call before it is kept (sessionStorage, or
 * localStorage with "remember me").
 */
export function SignIn({ onSignedIn, notice }: { onSignedIn: (s: Session) => void; notice?: string | null }) {
  const [apiKey, setApiKey] = useState('');
  const [adminToken, setAdminToken] = useState('');
  const [remember, setRemember] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<{ message: string; field: string | null } | null>(null);
  const heading = useRef<HTMLHeadingElement>(null);
  const keyInput = useRef<HTMLInputElement>(null);
  const adminInput = useRef<HTMLInputElement>(null);

  useEffect(() => {
    document.title = 'Sign in · vidgate console';
    heading.current?.focus();
  }, []);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await signIn({ apiKey, adminToken, remember }));
    } catch (err) {
      const field = err instanceof ApiError ? err.param : null;
      setError({ message: errorMessage(err), field });
      (field === 'adminToken' ? adminInput : keyInput).current?.focus();
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="signin" id="main">
      <form class="card signin-card" onSubmit={submit} noValidate aria-describedby="signin-intro">
        <div class="brand big">
          <span class="logo" aria-hidden="true" />
          vidgate
        </div>
        <h1 tabIndex={-1} ref={heading}>
          Sign in to the console
        </h1>
        <p id="signin-intro" class="muted">
          Paste an API key to generate and browse videos, the operator's admin token to manage keys, tasks, usage, webhooks and channels —
          or both.
        </p>
        {notice && (
          <p class="note" role="status">
            {notice}
          </p>
        )}
        <div class="field">
          <label for="signin-key">API key</label>
          <input
            id="signin-key"
            ref={keyInput}
            type="password"
            autoComplete="off"
            spellcheck={false}
            placeholder="vg_live_… or vg_test_…"
            value={apiKey}
            onInput={(e) => setApiKey(e.currentTarget.value)}
            aria-invalid={error?.field === 'apiKey' ? true : undefined}
            aria-describedby="signin-key-hint"
          />
          <p class="hint" id="signin-key-hint">
            Created with <code>npx vidgate key create</code> or on the operator's Keys page.
          </p>
        </div>
        <div class="field">
          <label for="signin-admin">Admin token (operators)</label>
          <input
            id="signin-admin"
            ref={adminInput}
            type="password"
            autoComplete="off"
            spellcheck={false}
            placeholder="VIDGATE_ADMIN_TOKEN"
            value={adminToken}
            onInput={(e) => setAdminToken(e.currentTarget.value)}
            aria-invalid={error?.field === 'adminToken' ? true : undefined}
          />
        </div>
        <label class="check">
          <input type="checkbox" checked={remember} onChange={(e) => setRemember(e.currentTarget.checked)} />
          Remember me on this browser
        </label>
        <p class="hint">Without it, you are signed out when this tab closes.</p>
        {error && (
          <p class="note error" role="alert">
            {error.message}
          </p>
        )}
        <button type="submit" class="button primary wide" disabled={busy}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
