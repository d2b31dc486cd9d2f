/** "$0.40", "$0.0125", "$12.00": two decimals, more only when needed. */
export function usd(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  const abs = Math.abs(value);
  const micros = Math.round(abs * 1e6);
  const text = micros % 10_000 === 0 ? abs.toFixed(2) : abs.toFixed(6).replace(/0+$/, '');
  return `${value < 0 ? '−' : ''}$${text}`;
}

const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });

/** A unix-seconds timestamp in the browser's locale. */
export const when = (unix: number | null | undefined): string => (unix ? dateFmt.format(new Date(unix * 1000)) : '—');
export const clock = (unix: number): string => timeFmt.format(new Date(unix * 1000));

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export const seconds = (s: number | string): string => `${Number(s) % 1 === 0 ? Number(s) : Number(s).toFixed(1)} s`;

export const STATUS_LABEL: Record<string, string> = {
  queued: 'Queued',
  pending: 'Queued',
  in_progress: 'Rendering',
  completed: 'Completed',
  failed: 'Failed',
  cancelled: 'Cancelled',
  delivered: 'Delivered',
};

export function orientation(size: string): string {
  const [w, h] = size.split('x').map(Number);
  if (!w || !h) return size;
  return `${size} (${w > h ? 'landscape' : w < h ? 'portrait' : 'square'})`;
}

/** A random Idempotency-Key, so a double click or a retried request never creates two videos. */
export function idempotencyKey(): string {
  // getRandomValues works on plain http too (randomUUID needs a secure context).
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `console-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}
