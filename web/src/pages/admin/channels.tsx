import { useState } from 'preact/hooks';
import { ApiError, api } from '../../api.js';
import { clock, usd, when } from '../../format.js';
import { Link } from '../../router.js';
import { announce, Dialog, Empty, ErrorNote, Loading, Page, SelectField, TextField, useAction, useAsync } from '../../ui.js';

type Tier = '720p' | '1024p' | '1080p';

interface ChannelModel {
  model: string;
  upstream_model: string;
  usd_per_second: Partial<Record<Tier, number>> | null;
}

export interface Channel {
  id: string;
  name: string;
  type: string;
  base_url: string;
  api_key_set: boolean;
  header_names: string[];
  models: ChannelModel[];
  priority: number;
  weight: number;
  concurrency: number | null;
  rpm: number | null;
  max_jobs: number | null;
  markup: number | null;
  deadline_minutes: number | null;
  enabled: boolean;
  options: Record<string, unknown>;
  source: 'config' | 'api';
  read_only: boolean;
  state: 'active' | 'out_of_rotation' | 'disabled' | 'removed';
  unfinished_tasks: Record<string, number>;
  updated_at: number | null;
}

interface Health {
  enabled: boolean;
  breaker: { state: string; consecutive_failures: number; opened_count: number; retry_at: number | null; last_failure: { at: number; reason: string } | null };
  limits: { in_flight: number; concurrency: number | null; rpm: number | null; tokens: number | null; paused_until: number | null };
  active_jobs: number;
  max_jobs: number | null;
  counters: Record<string, number>;
  last_error: { at: number; message: string } | null;
  observed_durations: Array<{ model: string; seconds: number; samples: number; mean_seconds: number; deviation_seconds: number }>;
}

interface TestJob {
  id: string;
  status: string;
  error: { code: string; message: string } | null;
}

interface TestResult {
  ok: boolean;
  latency_ms: number;
  message: string;
  breaker: string;
}

interface FailedTask {
  id: string;
  model: string;
  error: { code: string; message: string } | null;
  completed_at: number | null;
}

/** The adapter types the gateway ships (docs/providers.md). */
const TYPES = ['openai-compatible', 'apimart'];
const STATE_LABEL: Record<Channel['state'], string> = { active: 'Active', out_of_rotation: 'Out of rotation', disabled: 'Disabled', removed: 'Removed' };
const STATE_BADGE: Record<Channel['state'], string> = { active: 'completed', out_of_rotation: 'failed', disabled: 'queued', removed: 'cancelled' };
const msTime = (ms: number) => when(Math.floor(ms / 1000));

/** Upstream channels: add, edit, enable or disable, test, health and recent errors, remove. */
export function Channels() {
  const list = useAsync((signal) => api<{ data: Channel[]; sandbox_fallback: string }>('admin/v1/channels', { admin: true, signal }), []);
  const models = useAsync(
    (signal) => api<{ data: Array<{ model: string }> }>('admin/v1/prices', { admin: true, signal }).then((r) => [...new Set(r.data.map((p) => p.model))]),
    [],
  );
  const [editing, setEditing] = useState<Channel | 'new' | null>(null);
  const [removing, setRemoving] = useState<Channel | null>(null);
  const channels = list.data?.data.filter((c) => c.state !== 'removed') ?? [];

  return (
    <Page
      title="Channels"
      actions={
        <button type="button" class="button primary" onClick={() => setEditing('new')}>
          Add channel
        </button>
      }
    >
      <p class="muted lead">
        Upstream provider accounts that serve the models. New tasks go to the highest priority enabled channel of their model (by weight
        within a priority) and fail over to the next.
        {list.data && (
          <>
            {' '}
            Models no channel serves: <strong>{list.data.sandbox_fallback === 'always' ? 'the sandbox' : list.data.sandbox_fallback === 'never' ? 'refused' : channels.length === 0 ? 'the sandbox (no channel yet)' : 'refused'}</strong>{' '}
            (<code>sandboxFallback: {list.data.sandbox_fallback}</code>).
          </>
        )}
      </p>
      {list.loading && !list.data && <Loading label="Loading channels…" />}
      {list.error !== undefined && <ErrorNote error={list.error} retry={list.reload} title="The channels could not be loaded" />}
      {list.data && channels.length === 0 && (
        <Empty>
          <p>No upstream channels. Add one with its base URL and API key to serve real videos.</p>
        </Empty>
      )}
      {channels.length > 0 && (
        <ul class="channels" data-testid="channels">
          {channels.map((c) => (
            <ChannelCard key={c.id} c={c} onEdit={() => setEditing(c)} onRemove={() => setRemoving(c)} onChanged={list.reload} />
          ))}
        </ul>
      )}

      <Dialog title={editing === 'new' ? 'Add a channel' : `Edit ${editing ? editing.name : ''}`} open={editing !== null} onClose={() => setEditing(null)} wide>
        {editing !== null && (
          <ChannelForm
            channel={editing === 'new' ? null : editing}
            catalogue={models.data ?? []}
            onSaved={(c) => {
              setEditing(null);
              announce(editing === 'new' ? `Channel ${c.id} added.` : `Channel ${c.id} saved.`);
              list.reload();
            }}
            onCancel={() => setEditing(null)}
          />
        )}
      </Dialog>
      {removing && (
        <Dialog title={`Remove ${removing.name}?`} open onClose={() => setRemoving(null)}>
          <RemoveForm
            c={removing}
            onDone={() => {
              announce(`Channel ${removing.id} removed.`);
              setRemoving(null);
              list.reload();
            }}
            onCancel={() => setRemoving(null)}
          />
        </Dialog>
      )}
    </Page>
  );
}

function ChannelCard({ c, onEdit, onRemove, onChanged }: { c: Channel; onEdit: () => void; onRemove: () => void; onChanged: () => void }) {
  const { busy, error, run } = useAction();
  const [test, setTest] = useState<TestResult | null>(null);
  const [job, setJob] = useState<TestJob | null>(null);
  const [showHealth, setShowHealth] = useState(false);
  const unfinished = Object.entries(c.unfinished_tasks).filter(([, n]) => n > 0);

  const toggle = () =>
    run('toggle', async () => {
      await api(`admin/v1/channels/${encodeURIComponent(c.id)}`, { method: 'PATCH', admin: true, body: { enabled: !c.enabled } });
      announce(`Channel ${c.id} ${c.enabled ? 'disabled' : 'enabled'}.`);
      onChanged();
    });
  const probe = () =>
    run('test', async () => {
      setTest(null);
      const r = await api<TestResult>(`admin/v1/channels/${encodeURIComponent(c.id)}/test`, { method: 'POST', admin: true });
      setTest(r);
      announce(r.ok ? `Channel ${c.id}: ${r.message}.` : `Channel ${c.id} test failed: ${r.message}.`);
      onChanged();
    });

  /** A real job sent to this channel only, followed until it ends. */
  const sendJob = () =>
    run('job', async () => {
      const started = await api<{ video_id: string; status: string }>(`admin/v1/channels/${encodeURIComponent(c.id)}/test_job`, { method: 'POST', admin: true, body: {} });
      let current: TestJob = { id: started.video_id, status: started.status, error: null };
      setJob(current);
      announce(`Test job ${current.id} sent to ${c.id}.`);
      while (current.status === 'queued' || current.status === 'in_progress') {
        await new Promise((r) => setTimeout(r, 1500));
        const t = await api<{ status: string; error: { code: string; message: string } | null }>(`admin/v1/tasks/${current.id}`, { admin: true });
        current = { id: current.id, status: t.status, error: t.error };
        setJob(current);
      }
      announce(current.status === 'completed' ? `Test job on ${c.id} completed.` : `Test job on ${c.id} ${current.status}.`);
      onChanged();
    });

  return (
    <li class="card channel" data-channel-id={c.id} aria-labelledby={`ch-${c.id}`}>
      <div class="channel-head">
        <h2 id={`ch-${c.id}`} class="h3">
          {c.name} <span class="muted small">({c.id})</span>
        </h2>
        <span class={`badge badge-${STATE_BADGE[c.state]}`} data-testid="channel-state">
          {STATE_LABEL[c.state]}
        </span>
        <span class="badge">{c.type}</span>
        {c.read_only && <span class="badge">config file</span>}
      </div>
      <dl class="channel-facts">
        <div>
          <dt>Base URL</dt>
          <dd class="break">{c.base_url}</dd>
        </div>
        <div>
          <dt>Models</dt>
          <dd>
            {c.models.map((m) => (
              <span key={m.model} class="chip">
                {m.model}
                {m.upstream_model !== m.model && <> → {m.upstream_model}</>}
                {m.usd_per_second && Object.keys(m.usd_per_second).length > 0 && (
                  <> ({Object.entries(m.usd_per_second).map(([t, p]) => `${t} ${usd(p)}/s`).join(', ')})</>
                )}
              </span>
            ))}
          </dd>
        </div>
        <div>
          <dt>Routing</dt>
          <dd data-testid="channel-routing">
            priority {c.priority}, weight {c.weight}
            {c.markup !== null && `, markup ×${c.markup}`}
          </dd>
        </div>
        <div>
          <dt>Limits</dt>
          <dd>
            {[c.concurrency !== null && `${c.concurrency} in flight`, c.rpm !== null && `${c.rpm} req/min`, c.max_jobs !== null && `${c.max_jobs} jobs`, c.deadline_minutes !== null && `deadline ${c.deadline_minutes} min`]
              .filter(Boolean)
              .join(', ') || 'none'}
          </dd>
        </div>
        <div>
          <dt>Credentials</dt>
          <dd>
            {c.api_key_set ? 'API key set' : 'no API key'}
            {c.header_names.length > 0 && `; headers ${c.header_names.join(', ')}`}
          </dd>
        </div>
        <div>
          <dt>Unfinished</dt>
          <dd>{unfinished.length ? unfinished.map(([stage, n]) => `${n} ${stage}`).join(', ') : 'none'}</dd>
        </div>
      </dl>
      {c.read_only && <p class="hint">Defined in the config file: edit the file and restart to change it.</p>}
      <div class="row">
        <button type="button" class="button small" onClick={() => void probe()} disabled={busy !== null} aria-label={`Test ${c.id}`}>
          {busy === 'test' ? 'Testing…' : 'Test'}
        </button>
        <button type="button" class="button small" onClick={() => void sendJob()} disabled={busy !== null || !c.enabled} aria-label={`Send a test job to ${c.id}`}>
          {busy === 'job' ? 'Test job running…' : 'Send test job'}
        </button>
        <button type="button" class="button small" aria-expanded={showHealth} onClick={() => setShowHealth(!showHealth)} aria-label={`Health of ${c.id}`}>
          Health
        </button>
        <Link class="button small" to={`admin/tasks?channel=${encodeURIComponent(c.id)}`} aria-label={`Tasks of ${c.id}`}>
          Tasks
        </Link>
        {!c.read_only && (
          <>
            <button type="button" class="button small" onClick={onEdit} aria-label={`Edit ${c.id}`}>
              Edit
            </button>
            <button type="button" class="button small" onClick={() => void toggle()} disabled={busy !== null} aria-label={`${c.enabled ? 'Disable' : 'Enable'} ${c.id}`}>
              {c.enabled ? 'Disable' : 'Enable'}
            </button>
            <button type="button" class="button small danger" onClick={onRemove} aria-label={`Remove ${c.id}`}>
              Remove
            </button>
          </>
        )}
      </div>
      {test && (
        <p class={`note ${test.ok ? '' : 'error'}`} role={test.ok ? 'status' : 'alert'} data-testid="channel-test">
          {test.ok ? 'Test passed' : 'Test failed'}: {test.message} ({test.latency_ms} ms; breaker {test.breaker.replace('_', ' ')}).
        </p>
      )}
      {job && (
        <p class={`note ${job.error ? 'error' : ''}`} role="status" data-testid="channel-job">
          Test job <Link to={`admin/tasks/${job.id}`}>{job.id}</Link>: {job.status}
          {job.error && (
            <>
              {' '}
              (<code>{job.error.code}</code> {job.error.message})
            </>
          )}
        </p>
      )}
      {error !== null && <ErrorNote error={error} title="That did not work" />}
      {showHealth && <HealthPanel id={c.id} />}
    </li>
  );
}

function HealthPanel({ id }: { id: string }) {
  const health = useAsync((signal) => api<Health>(`admin/v1/channels/${encodeURIComponent(id)}/health`, { admin: true, signal }), [id]);
  const failed = useAsync(
    (signal) => api<{ data: FailedTask[] }>('admin/v1/tasks', { admin: true, query: { channel: id, status: 'failed', limit: 5 }, signal }),
    [id],
  );
  if (health.loading && !health.data) return <Loading label="Loading health…" />;
  if (health.error !== undefined || !health.data) return <ErrorNote error={health.error} retry={health.reload} title="Health unavailable" />;
  const h = health.data;
  return (
    <section class="health" aria-label={`Health of ${id}`} data-testid="channel-health">
      <div class="row between">
        <h3>Health</h3>
        <button type="button" class="button small" onClick={() => { health.reload(); failed.reload(); }}>
          Refresh
        </button>
      </div>
      <dl class="channel-facts">
        <div>
          <dt>Breaker</dt>
          <dd>
            <strong>{h.breaker.state.replace('_', ' ')}</strong>, {h.breaker.consecutive_failures} failures in a row, opened {h.breaker.opened_count} times
            {h.breaker.retry_at !== null && `; retried ${msTime(h.breaker.retry_at)}`}
            {h.breaker.last_failure && (
              <>
                <br />
                last failure {msTime(h.breaker.last_failure.at)}: {h.breaker.last_failure.reason}
              </>
            )}
          </dd>
        </div>
        <div>
          <dt>Now</dt>
          <dd>
            {h.active_jobs} active jobs{h.max_jobs !== null && ` of ${h.max_jobs}`}, {h.limits.in_flight} requests in flight
            {h.limits.paused_until !== null && `, paused until ${msTime(h.limits.paused_until)}`}
          </dd>
        </div>
        <div>
          <dt>Counters</dt>
          <dd>
            {h.counters.submits ?? 0} submits ({h.counters.submit_failures ?? 0} failed), {h.counters.checks ?? 0} checks ({h.counters.check_failures ?? 0} failed),{' '}
            {h.counters.downloads ?? 0} downloads ({h.counters.download_failures ?? 0} failed) since the gateway started
          </dd>
        </div>
        <div>
          <dt>Last error</dt>
          <dd data-testid="channel-last-error">{h.last_error ? `${msTime(h.last_error.at)}: ${h.last_error.message}` : 'none'}</dd>
        </div>
        {h.observed_durations.length > 0 && (
          <div>
            <dt>Render times</dt>
            <dd>
              {h.observed_durations.map((d) => (
                <span key={`${d.model}-${d.seconds}`} class="chip">
                  {d.model} {d.seconds} s: {d.mean_seconds} s ± {d.deviation_seconds} ({d.samples})
                </span>
              ))}
            </dd>
          </div>
        )}
      </dl>
      <h3>Recent failed tasks</h3>
      {failed.data && failed.data.data.length === 0 && <p class="muted">None.</p>}
      {failed.data && failed.data.data.length > 0 && (
        <ul class="plain" data-testid="channel-failures">
          {failed.data.data.map((t) => (
            <li key={t.id}>
              {t.completed_at ? clock(t.completed_at) : ''} <Link to={`admin/tasks/${t.id}`}>{t.id}</Link> ({t.model}): <code>{t.error?.code}</code> {t.error?.message}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

interface ModelRow {
  on: boolean;
  upstream: string;
  prices: Partial<Record<Tier, number>> | null;
}

const numOrNull = (s: string): number | null => (s.trim() === '' ? null : Number(s));

function ChannelForm({ channel, catalogue, onSaved, onCancel }: { channel: Channel | null; catalogue: string[]; onSaved: (c: Channel) => void; onCancel: () => void }) {
  const editing = channel !== null;
  const [id, setId] = useState(channel?.id ?? '');
  const [type, setType] = useState(channel?.type ?? TYPES[0]!);
  const [name, setName] = useState(channel?.name ?? '');
  const [baseUrl, setBaseUrl] = useState(channel?.base_url ?? '');
  const [apiKey, setApiKey] = useState('');
  const [removeKey, setRemoveKey] = useState(false);
  const [headers, setHeaders] = useState('');
  const all = [...new Set([...catalogue, ...(channel?.models.map((m) => m.model) ?? [])])];
  const [models, setModels] = useState<Record<string, ModelRow>>(() =>
    Object.fromEntries(
      all.map((m) => {
        const current = channel?.models.find((x) => x.model === m);
        return [m, { on: !!current, upstream: current && current.upstream_model !== m ? current.upstream_model : '', prices: current?.usd_per_second ?? null }];
      }),
    ),
  );
  const [priority, setPriority] = useState(String(channel?.priority ?? 0));
  const [weight, setWeight] = useState(String(channel?.weight ?? 1));
  const [concurrency, setConcurrency] = useState(channel?.concurrency?.toString() ?? '');
  const [rpm, setRpm] = useState(channel?.rpm?.toString() ?? '');
  const [maxJobs, setMaxJobs] = useState(channel?.max_jobs?.toString() ?? '');
  const [markup, setMarkup] = useState(channel?.markup?.toString() ?? '');
  const [deadline, setDeadline] = useState(channel?.deadline_minutes?.toString() ?? '');
  const [enabled, setEnabled] = useState(channel?.enabled ?? true);
  const [options, setOptions] = useState(channel && Object.keys(channel.options).length ? JSON.stringify(channel.options, null, 2) : '');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const param = error instanceof ApiError ? error.param ?? '' : '';
  const errorFor = (p: string) => (param === p || param.startsWith(`${p}.`) ? (error as ApiError).message : null);

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    let parsedOptions: Record<string, unknown> | undefined;
    if (options.trim()) {
      try {
        const value = JSON.parse(options) as unknown;
        if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not an object');
        parsedOptions = value as Record<string, unknown>;
      } catch {
        setError(new ApiError(400, 'Adapter options must be a JSON object, e.g. {"body": "multipart"}.', null, 'options'));
        return;
      }
    }
    let parsedHeaders: Record<string, string> | undefined;
    if (headers.trim()) {
      parsedHeaders = {};
      for (const line of headers.split('\n').filter((l) => l.trim())) {
        const at = line.indexOf(':');
        if (at < 1) {
          setError(new ApiError(400, `Each header line is "Name: value"; this one is not: ${line.trim()}`, null, 'headers'));
          return;
        }
        parsedHeaders[line.slice(0, at).trim()] = line.slice(at + 1).trim();
      }
    }
    const chosen = Object.entries(models)
      .filter(([, r]) => r.on)
      .map(([model, r]) => (r.upstream.trim() || r.prices ? { model, ...(r.upstream.trim() ? { upstream_model: r.upstream.trim() } : {}), ...(r.prices ? { usd_per_second: r.prices } : {}) } : model));
    const body: Record<string, unknown> = {
      ...(name.trim() ? { name: name.trim() } : {}),
      base_url: baseUrl.trim(),
      models: chosen,
      priority: Number(priority),
      weight: Number(weight),
      concurrency: numOrNull(concurrency),
      rpm: numOrNull(rpm),
      max_jobs: numOrNull(maxJobs),
      markup: numOrNull(markup),
      deadline_minutes: numOrNull(deadline),
      enabled,
    };
    if (parsedOptions) body.options = parsedOptions;
    else if (editing) body.options = {};
    if (parsedHeaders) body.headers = parsedHeaders;
    if (apiKey.trim()) body.api_key = apiKey.trim();
    else if (editing && removeKey) body.api_key = null;
    setBusy(true);
    try {
      const saved = editing
        ? await api<Channel>(`admin/v1/channels/${encodeURIComponent(channel.id)}`, { method: 'PATCH', admin: true, body })
        : await api<Channel>('admin/v1/channels', { method: 'POST', admin: true, body: { id: id.trim(), type, ...body } });
      onSaved(saved);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form onSubmit={submit} noValidate aria-label={editing ? `Edit channel ${channel.id}` : 'New channel'}>
      {!editing && (
        <div class="grid2">
          <TextField label="Id" value={id} required autoFocus placeholder="apigo-main" onInput={(e) => setId(e.currentTarget.value)} hint="Lower-case letters, digits, . _ -; never changes." error={errorFor('id')} />
          <SelectField label="Type" value={type} options={TYPES.map((t) => ({ value: t, label: t }))} onChange={(e) => setType(e.currentTarget.value)} error={errorFor('type')} />
        </div>
      )}
      <div class="grid2">
        <TextField label="Name" value={name} placeholder={editing ? channel.id : 'defaults to the id'} onInput={(e) => setName(e.currentTarget.value)} error={errorFor('name')} />
        <TextField
          label="Base URL"
          type="url"
          value={baseUrl}
          required
          placeholder={type === 'apimart' ? 'https://api.apimart.ai' : 'https://api.openai.com/v1'}
          onInput={(e) => setBaseUrl(e.currentTarget.value)}
          error={errorFor('base_url')}
        />
      </div>
      <div class="grid2">
        <TextField
          label={editing ? 'New API key (optional)' : 'API key'}
          type="password"
          autoComplete="off"
          value={apiKey}
          onInput={(e) => setApiKey(e.currentTarget.value)}
          hint={editing ? (channel.api_key_set ? 'A key is set; leave empty to keep it.' : 'No key is set.') : 'Stored sealed; never shown again.'}
          error={errorFor('api_key')}
        />
        <div class="field">
          <label for="ch-headers">Extra headers (optional)</label>
          <textarea id="ch-headers" rows={2} value={headers} placeholder="OpenAI-Organization: org-…" onInput={(e) => setHeaders(e.currentTarget.value)} aria-describedby="ch-headers-hint" />
          <p class="hint" id="ch-headers-hint">
            One "Name: value" per line, kept secret like the key.{editing && channel.header_names.length > 0 && ` Set now: ${channel.header_names.join(', ')}; leave empty to keep them.`}
          </p>
          {errorFor('headers') && <p class="field-error">{errorFor('headers')}</p>}
        </div>
      </div>
      {editing && channel.api_key_set && (
        <label class="check">
          <input type="checkbox" checked={removeKey} onChange={(e) => setRemoveKey(e.currentTarget.checked)} /> Remove the API key
        </label>
      )}
      <fieldset class="field">
        <legend>Models it serves</legend>
        <div class="model-grid">
          {all.map((m) => {
            const row = models[m]!;
            return (
              <div key={m} class="model-row">
                <label class="check">
                  <input type="checkbox" checked={row.on} onChange={(e) => setModels({ ...models, [m]: { ...row, on: e.currentTarget.checked } })} />
                  {m}
                </label>
                {row.on && (
                  <input
                    type="text"
                    aria-label={`Upstream name of ${m}`}
                    placeholder="same name upstream"
                    value={row.upstream}
                    onInput={(e) => setModels({ ...models, [m]: { ...row, upstream: e.currentTarget.value } })}
                  />
                )}
              </div>
            );
          })}
        </div>
        {errorFor('models') && <p class="field-error">{errorFor('models')}</p>}
      </fieldset>
      <div class="grid3">
        <TextField label="Priority" type="number" step="1" value={priority} onInput={(e) => setPriority(e.currentTarget.value)} hint="Higher goes first." error={errorFor('priority')} />
        <TextField label="Weight" type="number" min="1" step="1" value={weight} onInput={(e) => setWeight(e.currentTarget.value)} hint="Share within its priority." error={errorFor('weight')} />
        <TextField label="Markup" type="number" min="0" step="0.01" value={markup} placeholder="none" onInput={(e) => setMarkup(e.currentTarget.value)} hint="× the list price, e.g. 1.2." error={errorFor('markup')} />
        <TextField label="Requests in flight" type="number" min="1" step="1" value={concurrency} placeholder="unlimited" onInput={(e) => setConcurrency(e.currentTarget.value)} error={errorFor('concurrency')} />
        <TextField label="Requests per minute" type="number" min="1" step="1" value={rpm} placeholder="unlimited" onInput={(e) => setRpm(e.currentTarget.value)} error={errorFor('rpm')} />
        <TextField label="Unfinished jobs at once" type="number" min="1" step="1" value={maxJobs} placeholder="unlimited" onInput={(e) => setMaxJobs(e.currentTarget.value)} error={errorFor('max_jobs')} />
        <TextField label="Deadline (minutes)" type="number" min="1" step="1" value={deadline} placeholder="gateway default" onInput={(e) => setDeadline(e.currentTarget.value)} error={errorFor('deadline_minutes')} />
      </div>
      <div class="field">
        <label for="ch-options">Adapter options (JSON, optional)</label>
        <textarea id="ch-options" rows={3} class="mono" value={options} placeholder='{"body": "multipart"}' onInput={(e) => setOptions(e.currentTarget.value)} aria-describedby="ch-options-hint" />
        <p class="hint" id="ch-options-hint">
          See docs/providers.md for each type's options.
        </p>
        {errorFor('options') && <p class="field-error">{errorFor('options')}</p>}
      </div>
      <label class="check">
        <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.currentTarget.checked)} /> Enabled (takes new tasks)
      </label>
      {error !== null && <ErrorNote error={error} title="The channel was not saved" />}
      <div class="row end">
        <button type="button" class="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" class="button primary" disabled={busy}>
          {busy ? 'Saving…' : editing ? 'Save channel' : 'Add channel'}
        </button>
      </div>
    </form>
  );
}

function RemoveForm({ c, onDone, onCancel }: { c: Channel; onDone: () => void; onCancel: () => void }) {
  const [error, setError] = useState<unknown>(null);
  return (
    <div>
      <p>
        New tasks stop going to <strong>{c.id}</strong>. Its unfinished tasks are still followed to the end; remixes of its videos stop
        working.
      </p>
      {error !== null && <ErrorNote error={error} title="It was not removed" />}
      <div class="row end">
        <button type="button" class="button" onClick={onCancel}>
          Keep it
        </button>
        <button
          type="button"
          class="button danger"
          onClick={async () => {
            try {
              await api(`admin/v1/channels/${encodeURIComponent(c.id)}`, { method: 'DELETE', admin: true });
              onDone();
            } catch (err) {
              setError(err);
            }
          }}
        >
          Remove channel
        </button>
      </div>
    </div>
  );
}
