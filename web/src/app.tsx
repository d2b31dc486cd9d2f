import { useEffect, useState } from 'preact/hooks';
import { Gallery } from './pages/gallery.js';
import { Channels } from './pages/admin/channels.js';
import { Keys } from './pages/admin/keys.js';
import { TaskDetail, Tasks } from './pages/admin/tasks.js';
import { UsagePage } from './pages/admin/usage.js';
import { Webhooks } from './pages/admin/webhooks.js';
import { Playground } from './pages/playground.js';
import { SignIn } from './pages/signin.js';
import { VideoDetail } from './pages/video.js';
import type { Session } from './session.js';
import { clearSession, loadSession } from './session.js';
import { Link, navigate, useRoute } from './router.js';
import { announce, LiveRegion, Page } from './ui.js';
import { UNAUTHORIZED } from './api.js';

interface NavItem {
  to: string;
  label: string;
  needs: 'key' | 'admin';
}

const NAV: NavItem[] = [
  { to: 'playground', label: 'Playground', needs: 'key' },
  { to: 'gallery', label: 'Gallery', needs: 'key' },
  { to: 'admin/keys', label: 'Keys', needs: 'admin' },
  { to: 'admin/tasks', label: 'Tasks', needs: 'admin' },
  { to: 'admin/usage', label: 'Usage', needs: 'admin' },
  { to: 'admin/webhooks', label: 'Webhooks', needs: 'admin' },
  { to: 'admin/channels', label: 'Channels', needs: 'admin' },
];

function Needs({ what }: { what: 'key' | 'admin' }) {
  return (
    <Page title={what === 'key' ? 'An API key is needed' : 'The admin token is needed'}>
      <p>
        {what === 'key'
          ? 'This page makes and shows videos of an API key. Sign out and sign in again with a key (you can keep the admin token too).'
          : "This page is for the gateway's operator. Sign out and sign in again with the admin token (VIDGATE_ADMIN_TOKEN)."}
      </p>
    </Page>
  );
}

function route(path: string, session: Session) {
  const [first, second, third] = path.split('/');
  const has = (what: 'key' | 'admin') => (what === 'key' ? !!session.apiKey : !!session.adminToken);
  const guard = (what: 'key' | 'admin', page: () => preact.JSX.Element) => (has(what) ? page() : <Needs what={what} />);
  switch (first) {
    case 'playground':
      return guard('key', () => <Playground />);
    case 'gallery':
      return guard('key', () => <Gallery />);
    case 'videos':
      return second ? guard('key', () => <VideoDetail id={second} />) : null;
    case 'admin':
      switch (second) {
        case 'keys':
          return guard('admin', () => <Keys />);
        case 'tasks':
          return guard('admin', () => (third ? <TaskDetail id={third} /> : <Tasks />));
        case 'usage':
          return guard('admin', () => <UsagePage />);
        case 'webhooks':
          return guard('admin', () => <Webhooks />);
        case 'channels':
          return guard('admin', () => <Channels />);
      }
      return null;
  }
  return null;
}

export function App() {
  const [session, setSession] = useState<Session | null>(loadSession);
  const [notice, setNotice] = useState<string | null>(null);
  const [menuOpen, setMenuOpen] = useState(false);
  const { path, visit } = useRoute();
  const [refused, setRefused] = useState<'key' | 'admin' | null>(null);
  useEffect(() => {
    const on = (e: Event) => setRefused((e as CustomEvent<'key' | 'admin'>).detail);
    window.addEventListener(UNAUTHORIZED, on);
    return () => window.removeEventListener(UNAUTHORIZED, on);
  }, []);

  // The start page: the playground with a key, else the operator's tasks.
  useEffect(() => {
    if (session && path === '') navigate(session.apiKey ? 'playground' : 'admin/tasks', { replace: true });
  }, [session, path]);
  useEffect(() => setMenuOpen(false), [path]);

  if (!session) {
    return (
      <>
        <SignIn
          notice={notice}
          onSignedIn={(s) => {
            setSession(s);
            setNotice(null);
            announce('Signed in.');
            if (path === '') navigate(s.apiKey ? 'playground' : 'admin/tasks', { replace: true });
          }}
        />
        <LiveRegion />
      </>
    );
  }

  const signOut = () => {
    setRefused(null);
    clearSession();
    setSession(null);
    setNotice('You are signed out. The key and token were removed from this browser.');
    navigate('', { replace: true });
  };
  const items = NAV.filter((n) => (n.needs === 'key' ? session.apiKey : session.adminToken));
  const page = path === '' ? null : route(path, session);

  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <Link to="" class="brand" aria-label="vidgate console home">
          <span class="logo" aria-hidden="true" />
          vidgate
        </Link>
        <button type="button" class="icon-button menu-button" aria-expanded={menuOpen} aria-controls="nav" onClick={() => setMenuOpen(!menuOpen)}>
          <span aria-hidden="true">☰</span>
          <span class="sr-only">Menu</span>
        </button>
        <nav id="nav" class={menuOpen ? 'open' : ''} aria-label="Console">
          <ul>
            {items.map((n) => {
              const active = path === n.to || path.startsWith(`${n.to}/`) || (n.to === 'gallery' && path.startsWith('videos/'));
              return (
                <li key={n.to}>
                  <Link to={n.to} aria-current={active ? 'page' : undefined} class={n.needs === 'admin' ? 'admin-link' : ''}>
                    {n.label}
                  </Link>
                </li>
              );
            })}
          </ul>
          <div class="who">
            {session.apiKey && (
              <span class="muted small" title="Signed in with this API key">
                <code>{session.keyPrefix}…</code>
                {session.testKey && <span class="badge badge-test">test</span>}
              </span>
            )}
            {session.adminToken && <span class="badge badge-admin">operator</span>}
            <button type="button" class="button small" onClick={signOut}>
              Sign out
            </button>
          </div>
        </nav>
      </header>
      {refused && (
        <div class="banner" role="alert">
          <p>
            {refused === 'key' ? 'The gateway no longer accepts your API key (it may have been revoked).' : 'The gateway no longer accepts the admin token.'}{' '}
            Sign in again to continue.
          </p>
          <button type="button" class="button small" onClick={signOut}>
            Sign in again
          </button>
        </div>
      )}
      <main id="main" tabIndex={-1} key={visit}>
        {page ?? (path === '' ? null : (
          <Page title="Page not found">
            <p>
              There is no console page at this address. <Link to="">Go to the start page.</Link>
            </p>
          </Page>
        ))}
      </main>
      <LiveRegion />
    </>
  );
}
