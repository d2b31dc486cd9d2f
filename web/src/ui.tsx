import type { ComponentChildren, InputHTMLAttributes, SelectHTMLAttributes } from 'preact';
import { useEffect, useId, useRef, useState } from 'preact/hooks';
import { ApiError, errorMessage } from './api.js';
import { STATUS_LABEL } from './format.js';

// ---- async data ----

export interface AsyncState<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload(): void;
}

/** Run an async load when deps change (aborting the previous one); keeps the last data while reloading. */
export function useAsync<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[]): AsyncState<T> {
  const [state, setState] = useState<{ data: T | undefined; error: unknown; loading: boolean }>({ data: undefined, error: undefined, loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const ac = new AbortController();
    setState((s) => ({ ...s, loading: true, error: undefined }));
    load(ac.signal).then(
      (data) => {
        if (!ac.signal.aborted) setState({ data, error: undefined, loading: false });
      },
      (error: unknown) => {
        if (!ac.signal.aborted) setState((s) => ({ ...s, error, loading: false }));
      },
    );
    return () => ac.abort();
  }, [...deps, tick]);
  return { ...state, reload: () => setTick((t) => t + 1) };
}

// ---- announcements for screen readers ----

type Listener = (text: string) => void;
const listeners = new Set<Listener>();

/** Say something in the page's polite live region (status changes, completed actions). */
export function announce(text: string): void {
  for (const l of listeners) l(text);
}

export function LiveRegion() {
  const [text, setText] = useState('');
  useEffect(() => {
    const l: Listener = (t) => {
      // Clear first so that the same message twice is announced twice.
      setText('');
      setTimeout(() => setText(t), 50);
    };
    listeners.add(l);
    return () => {
      listeners.delete(l);
    };
  }, []);
  return (
    <div class="sr-only" aria-live="polite" aria-atomic="true" data-testid="live-region">
      {text}
    </div>
  );
}

// ---- page frame ----

/** A page: its heading takes focus when it opens (screen readers hear where they are), and names the tab. */
export function Page({ title, actions, children }: { title: string; actions?: ComponentChildren; children: ComponentChildren }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${title} · vidgate console`;
    heading.current?.focus({ preventScroll: false });
  }, [title]);
  return (
    <section class="page" aria-labelledby="page-title">
      <div class="page-head">
        <h1 id="page-title" tabIndex={-1} ref={heading}>
          {title}
        </h1>
        {actions && <div class="page-actions">{actions}</div>}
      </div>
      {children}
    </section>
  );
}

// ---- states ----

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <p class="state loading" role="status">
      <span class="spinner" aria-hidden="true" />
      {label}
    </p>
  );
}

export function ErrorNote({ error, retry, title }: { error: unknown; retry?: () => void; title?: string }) {
  const status = error instanceof ApiError && error.status ? ` (HTTP ${error.status})` : '';
  return (
    <div class="note error" role="alert">
      <p>
        <strong>{title ?? 'Something went wrong'}</strong>
        {status}: {errorMessage(error)}
      </p>
      {retry && (
        <button type="button" class="button small" onClick={retry}>
          Try again
        </button>
      )}
    </div>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <div class="state empty">{children}</div>;
}

export function StatusBadge({ status }: { status: string }) {
  return <span class={`badge badge-${status}`}>{STATUS_LABEL[status] ?? status}</span>;
}

// ---- form pieces ----

type InputProps = InputHTMLAttributes<HTMLInputElement> & { label: string; hint?: ComponentChildren; error?: string | null };

/** Label, hint and error around one control, tied to it with aria-describedby. */
function Field(props: { label: string; hint?: ComponentChildren; error?: string | null; id: string | undefined; cls: unknown; control: (id: string, describedBy: string | undefined) => ComponentChildren }) {
  const auto = useId();
  const fid = props.id ?? `f${auto}`;
  const described = [props.hint ? `${fid}-hint` : '', props.error ? `${fid}-error` : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div class={`field ${(props.cls as string | undefined) ?? ''}`}>
      <label for={fid}>{props.label}</label>
      {props.control(fid, described)}
      {props.hint && (
        <p class="hint" id={`${fid}-hint`}>
          {props.hint}
        </p>
      )}
      {props.error && (
        <p class="field-error" id={`${fid}-error`}>
          {props.error}
        </p>
      )}
    </div>
  );
}

/** A labelled input with an optional hint and error. */
export function TextField({ label, hint, error, id, class: cls, ...rest }: InputProps) {
  return (
    <Field label={label} hint={hint} error={error} id={id as string | undefined} cls={cls}
      control={(fid, described) => <input id={fid} aria-describedby={described} aria-invalid={error ? true : undefined} {...rest} />} />
  );
}

type SelectProps = SelectHTMLAttributes<HTMLSelectElement> & {
  label: string;
  options: Array<{ value: string; label: string }>;
  hint?: ComponentChildren;
  error?: string | null;
};

export function SelectField({ label, options, hint, error, id, class: cls, ...rest }: SelectProps) {
  return (
    <Field label={label} hint={hint} error={error} id={id as string | undefined} cls={cls}
      control={(fid, described) => (
        <select id={fid} aria-describedby={described} aria-invalid={error ? true : undefined} {...rest}>
          {options.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </select>
      )} />
  );
}

/**
 * Run user actions one at a time: which one is running (busy) and the error of the last one.
 * `busy` is the label passed to run(), so several buttons can share one action state.
 */
export function useAction() {
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const run = async (what: string, fn: () => Promise<void>) => {
    setBusy(what);
    setError(null);
    try {
      await fn();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(null);
    }
  };
  return { busy, error, run };
}

// ---- dialog ----

/**
 * A modal dialog on the native <dialog> element: focus moves into it, Escape closes it, the
 * rest of the page is inert, and focus returns to what opened it.
 */
export function Dialog({ title, open, onClose, children, wide }: { title: string; open: boolean; onClose: () => void; children: ComponentChildren; wide?: boolean }) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = `d${useId()}`;
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) {
      const opener = document.activeElement as HTMLElement | null;
      d.showModal();
      const first = d.querySelector<HTMLElement>('[autofocus], input, select, textarea, button:not(.dialog-close)');
      first?.focus();
      return () => opener?.focus();
    }
    if (!open && d.open) d.close();
    return undefined;
  }, [open]);
  return (
    <dialog
      ref={ref}
      class={wide ? 'wide' : ''}
      aria-labelledby={titleId}
      onClose={() => open && onClose()}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
    >
      {open && (
        <div class="dialog-body">
          <div class="dialog-head">
            <h2 id={titleId}>{title}</h2>
            <button type="button" class="dialog-close icon-button" aria-label="Close" onClick={onClose}>
              ×
            </button>
          </div>
          {children}
        </div>
      )}
    </dialog>
  );
}

// ---- small things ----

export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      class="button small"
      onClick={async () => {
        try {
          await navigator.clipboard.writeText(text);
          setDone(true);
          announce('Copied to the clipboard.');
          setTimeout(() => setDone(false), 2000);
        } catch {
          announce('Copying failed: select the text and copy it yourself.');
        }
      }}
    >
      {done ? 'Copied' : label}
    </button>
  );
}

/** A description list of label → value pairs. */
export function Facts({ items }: { items: Array<[string, ComponentChildren]> }) {
  return (
    <dl class="facts">
      {items.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}

/** Newest-first cursor paging: remembers the cursors of the pages before, so "Newer" goes back. */
export function usePager(resetKey: string) {
  const [stack, setStack] = useState<Array<string | undefined>>([undefined]);
  useEffect(() => setStack([undefined]), [resetKey]);
  const after = stack[stack.length - 1];
  return {
    after,
    page: stack.length,
    older: (lastId: string) => setStack((s) => [...s, lastId]),
    newer: () => setStack((s) => (s.length > 1 ? s.slice(0, -1) : s)),
  };
}

export function Pager({ page, hasMore, lastId, onOlder, onNewer, label }: { page: number; hasMore: boolean; lastId: string | null; onOlder: (id: string) => void; onNewer: () => void; label: string }) {
  if (page === 1 && !hasMore) return null;
  return (
    <nav class="pager" aria-label={`${label} pages`}>
      <button type="button" class="button" disabled={page === 1} onClick={onNewer}>
        ← Newer
      </button>
      <span>Page {page}</span>
      <button type="button" class="button" disabled={!hasMore || !lastId} onClick={() => lastId && onOlder(lastId)}>
        Older →
      </button>
    </nav>
  );
}
