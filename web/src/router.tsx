import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';

/** Client routes live under the console's base path (/console/…); the server answers every one with the page. */
const basePath = new URL(document.baseURI).pathname;

/** The current route relative to the console, without leading slash: '', 'gallery', 'videos/video_…'. */
export function currentRoute(): string {
  const p = window.location.pathname;
  return p.startsWith(basePath) ? decodeURIComponent(p.slice(basePath.length)).replace(/\/+$/, '') : '';
}

export const routeHref = (route: string): string => basePath + route;

const CHANGE = 'vidgate:navigate';

export function navigate(route: string, opts: { replace?: boolean } = {}): void {
  const url = routeHref(route);
  if (opts.replace) window.history.replaceState(null, '', url);
  else window.history.pushState(null, '', url);
  window.dispatchEvent(new Event(CHANGE));
}

/** The current route, and a counter that changes on every navigation (even to the same route with another query). */
export function useRoute(): { path: string; visit: number } {
  const [route, setRoute] = useState(() => ({ path: currentRoute(), visit: 0 }));
  useEffect(() => {
    const update = () => setRoute((r) => ({ path: currentRoute(), visit: r.visit + 1 }));
    window.addEventListener('popstate', update);
    window.addEventListener(CHANGE, update);
    return () => {
      window.removeEventListener('popstate', update);
      window.removeEventListener(CHANGE, update);
    };
  }, []);
  return route;
}

/** The query string of the current location as an object (filters survive reloads and links). */
export function currentQuery(): URLSearchParams {
  return new URLSearchParams(window.location.search);
}

export function setQuery(values: Record<string, string | undefined>): void {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(values)) if (v) params.set(k, v);
  const qs = params.toString();
  window.history.replaceState(null, '', `${window.location.pathname}${qs ? `?${qs}` : ''}`);
}

interface AnchorProps {
  to: string;
  children: ComponentChildren;
  class?: string;
  'aria-current'?: 'page' | undefined;
  'aria-label'?: string;
}

/** An ordinary link (middle-click and copy work) that navigates in place on a plain click. */
export function Link({ to, children, ...rest }: AnchorProps) {
  return (
    <a
      {...rest}
      href={routeHref(to)}
      onClick={(e) => {
        if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        navigate(to);
      }}
    >
      {children}
    </a>
  );
}
