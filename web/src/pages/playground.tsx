import { useEffect, useRef, useState } from 'preact/hooks';
import type { Links, Model, Quote, Video } from '../api.js';
import { ApiError, api, errorMessage } from '../api.js';
import { bytes, idempotencyKey, orientation, STATUS_LABEL, usd } from '../format.js';
import { VideoPlayer } from '../player.js';
import { currentQuery, Link, setQuery } from '../router.js';
import { useVideoStream } from '../stream.js';
import { announce, ErrorNote, Loading, Page, SelectField, StatusBadge, TextField, useAsync } from '../ui.js';
import { EventLog } from './video.js';

const REF_TYPES = 'image/jpeg,image/png,image/webp';

/** "Price $0.40 — 4 s × $0.10/s", or why it is free; refreshed as the choices change. */
export function QuoteLine({ quote, loading, error }: { quote: Quote | undefined; loading: boolean; error: unknown }) {
  let text: string;
  if (error) text = `Price unavailable: ${errorMessage(error)}`;
  else if (!quote) text = 'Working out the price…';
  else if (quote.free) {
    const why = { test_key: 'test key: never charged', sandbox: 'the sandbox is free on this gateway', unpriced: 'no price is set for this resolution' }[quote.reason ?? 'unpriced'];
    text = `Price: free (${why})`;
  } else {
    text = `Price: ${usd(quote.price_usd)} — ${quote.seconds} s × ${usd(quote.price_per_second_usd)}/s`;
    if (quote.available_usd !== null) text += `. Available credit: ${usd(quote.available_usd)}`;
  }
  const short = quote && !quote.affordable;
  return (
    <p class={`quote ${short ? 'warn' : ''}`} role="status" aria-busy={loading} data-testid="quote">
      {text}
      {short && ' — not enough credit: ask the operator to top up your key.'}
    </p>
  );
}

function useQuote(params: Record<string, string> | null) {
  const key = params ? JSON.stringify(params) : '';
  const [debounced, setDebounced] = useState(key);
  useEffect(() => {
    const t = setTimeout(() => setDebounced(key), 150);
    return () => clearTimeout(t);
  }, [key]);
  return useAsync<Quote | undefined>(
    (signal) => (debounced ? api<Quote>('v1/quote', { query: JSON.parse(debounced) as Record<string, string>, signal }) : Promise.resolve(undefined)),
    [debounced],
  );
}

export function Playground() {
  const models = useAsync((signal) => api<{ data: Model[] }>('v1/models', { signal }), []);
  const [videoId, setVideoId] = useState<string | null>(() => currentQuery().get('video'));

  const track = (id: string) => {
    setVideoId(id);
    setQuery({ video: id });
  };

  return (
    <Page title="Playground">
      <p class="muted lead">Describe a video, check its price, and watch it render. Finished videos also appear in your <Link to="gallery">gallery</Link>.</p>
      <div class="playground">
        {models.loading && !models.data && <Loading label="Loading models…" />}
        {models.error !== undefined && <ErrorNote error={models.error} retry={models.reload} title="The models could not be loaded" />}
        {models.data && <CreateForm models={models.data.data} onCreated={track} />}
        <div class="run-column">
          {videoId ? (
            <RunPanel id={videoId} onRemixed={track} />
          ) : (
            <div class="card media-empty">
              <p>Your video will appear here, with live progress while it renders.</p>
            </div>
          )}
        </div>
      </div>
    </Page>
  );
}

function CreateForm({ models, onCreated }: { models: Model[]; onCreated: (id: string) => void }) {
  const first = models.find((m) => m.id === 'sora-2') ?? models[0]!;
  const [prompt, setPrompt] = useState('');
  const [modelId, setModelId] = useState(first.id);
  const model = models.find((m) => m.id === modelId) ?? first;
  const [size, setSize] = useState(first.default_size);
  const [secs, setSecs] = useState(first.default_seconds);
  const [refMode, setRefMode] = useState<'none' | 'upload' | 'url'>('none');
  const [file, setFile] = useState<File | null>(null);
  const [preview, setPreview] = useState<string | null>(null);
  const [refUrl, setRefUrl] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | Error | null>(null);
  const idemKey = useRef(idempotencyKey());
  const promptRef = useRef<HTMLTextAreaElement>(null);

  // Keep size and duration valid for the chosen model.
  useEffect(() => {
    if (!model.sizes.includes(size)) setSize(model.default_size);
    if (!model.seconds.includes(secs)) setSecs(model.default_seconds);
  }, [modelId]);

  useEffect(() => {
    if (!file) {
      setPreview(null);
      return undefined;
    }
    const url = URL.createObjectURL(file);
    setPreview(url);
    return () => URL.revokeObjectURL(url);
  }, [file]);

  const quote = useQuote({ model: model.id, size, seconds: secs });
  const fieldError = (param: string) => (error instanceof ApiError && error.param?.startsWith(param) ? error.message : null);

  const submit = async (e: Event) => {
    e.preventDefault();
    if (!prompt.trim()) {
      setError(new ApiError(400, 'Describe the video you want in the prompt.', 'missing_required_parameter', 'prompt'));
      promptRef.current?.focus();
      return;
    }
    const form = new FormData();
    form.set('prompt', prompt);
    form.set('model', model.id);
    form.set('size', size);
    form.set('seconds', secs);
    if (refMode === 'upload' && file) form.set('input_reference', file, file.name);
    if (refMode === 'url' && refUrl.trim()) form.set('input_reference[image_url]', refUrl.trim());
    setBusy(true);
    setError(null);
    try {
      const v = await api<Video>('v1/videos', { method: 'POST', form, headers: { 'idempotency-key': idemKey.current } });
      idemKey.current = idempotencyKey();
      announce(`Video submitted: ${v.id}. Rendering progress follows.`);
      onCreated(v.id);
    } catch (err) {
      setError(err as Error);
      if (err instanceof ApiError && err.param === 'prompt') promptRef.current?.focus();
    } finally {
      setBusy(false);
    }
  };

  const modelOptions = models.map((m) => ({ value: m.id, label: m.id }));
  return (
    <form class="card create-form" onSubmit={submit} noValidate aria-label="New video">
      <div class="field">
        <label for="pg-prompt">Prompt</label>
        <textarea
          id="pg-prompt"
          ref={promptRef}
          rows={4}
          required
          maxLength={32000}
          value={prompt}
          placeholder="A red fox running through fresh snow at dawn"
          onInput={(e) => setPrompt(e.currentTarget.value)}
          aria-invalid={fieldError('prompt') ? true : undefined}
          aria-describedby={fieldError('prompt') ? 'pg-prompt-error' : 'pg-prompt-hint'}
        />
        <p class="hint" id="pg-prompt-hint">
          In the sandbox, <code>sandbox:fail</code> or <code>sandbox:slow</code> in the prompt rehearse failures and slow renders.
        </p>
        {fieldError('prompt') && (
          <p class="field-error" id="pg-prompt-error">
            {fieldError('prompt')}
          </p>
        )}
      </div>
      <div class="grid3">
        <SelectField label="Model" value={model.id} options={modelOptions} onChange={(e) => setModelId(e.currentTarget.value)} hint={model.description ?? undefined} />
        <SelectField
          label="Size"
          value={size}
          options={model.sizes.map((s) => ({ value: s, label: orientation(s) }))}
          onChange={(e) => setSize(e.currentTarget.value)}
          error={fieldError('size')}
        />
        <SelectField
          label="Duration"
          value={secs}
          options={model.seconds.map((s) => ({ value: s, label: `${s} seconds` }))}
          onChange={(e) => setSecs(e.currentTarget.value)}
          error={fieldError('seconds')}
        />
      </div>
      <fieldset class="field">
        <legend>Reference image (first frame, optional)</legend>
        <div class="segmented" role="radiogroup" aria-label="Reference image source">
          {(['none', 'upload', 'url'] as const).map((m) => (
            <label key={m} class={refMode === m ? 'on' : ''}>
              <input type="radio" name="refmode" value={m} checked={refMode === m} onChange={() => setRefMode(m)} />
              {{ none: 'None', upload: 'Upload', url: 'From a URL' }[m]}
            </label>
          ))}
        </div>
        {refMode === 'upload' && (
          <div class="ref-upload">
            <label for="pg-file">Image file (JPEG, PNG or WebP)</label>
            <input id="pg-file" type="file" accept={REF_TYPES} onChange={(e) => setFile(e.currentTarget.files?.[0] ?? null)} />
            {file && preview && (
              <figure class="ref-preview">
                <img src={preview} alt={`Reference image: ${file.name}`} />
                <figcaption>
                  {file.name} · {bytes(file.size)} — fitted to {size} (scaled to cover, centre cropped)
                </figcaption>
              </figure>
            )}
          </div>
        )}
        {refMode === 'url' && (
          <TextField
            label="Image URL"
            type="url"
            inputMode="url"
            placeholder="https://example.com/first-frame.png"
            value={refUrl}
            onInput={(e) => setRefUrl(e.currentTarget.value)}
            hint="Fetched by the gateway (private addresses are refused)."
          />
        )}
        {fieldError('input_reference') && <p class="field-error">{fieldError('input_reference')}</p>}
      </fieldset>
      <QuoteLine quote={quote.data} loading={quote.loading} error={quote.error} />
      {error && !fieldError('prompt') && <ErrorNote error={error} title="The video was not created" />}
      <button type="submit" class="button primary wide" disabled={busy}>
        {busy ? 'Submitting…' : quote.data && !quote.data.free ? `Generate for ${usd(quote.data.price_usd)}` : 'Generate video'}
      </button>
    </form>
  );
}

/** One video being made: live progress from the event stream, then the player and remix. */
export function RunPanel({ id, onRemixed }: { id: string; onRemixed: (id: string) => void }) {
  const stream = useVideoStream(id);
  const lastSaid = useRef('');
  const links = useAsync<Links | undefined>(
    (signal) => (stream.status === 'completed' ? api<Links>(`v1/videos/${encodeURIComponent(id)}/links`, { signal }) : Promise.resolve(undefined)),
    [id, stream.status],
  );

  // Tell screen readers about status changes and every quarter of progress, not every percent.
  useEffect(() => {
    if (!stream.status) return;
    const quarter = Math.floor(stream.progress / 25) * 25;
    const text =
      stream.status === 'in_progress' ? `Rendering: ${quarter}%` : stream.status === 'completed' ? 'The video is ready.' : `Video ${STATUS_LABEL[stream.status]?.toLowerCase()}.`;
    if (text !== lastSaid.current) {
      lastSaid.current = text;
      announce(text);
    }
  }, [stream.status, stream.progress]);

  const status = stream.status;
  return (
    <div class="card run" aria-labelledby="run-title" data-testid="run-panel" data-status={status ?? ''}>
      <div class="run-head">
        <h2 id="run-title">
          <Link to={`videos/${id}`}>{id}</Link>
        </h2>
        {status && <StatusBadge status={status} />}
      </div>
      {!status && <Loading label="Connecting to the event stream…" />}
      {status && status !== 'completed' && status !== 'failed' && status !== 'cancelled' && (
        <div class="progress-wrap">
          <label for="run-progress" class="progress-label">
            {status === 'queued' ? 'Waiting in the queue' : 'Rendering'} — {stream.progress}%
          </label>
          <progress id="run-progress" max={100} value={stream.progress} data-testid="progress">
            {stream.progress}%
          </progress>
          <p class="hint">{stream.via === 'polling' ? 'Live updates unavailable: checking every 2 s.' : 'Live from the event stream.'}</p>
        </div>
      )}
      {(status === 'failed' || status === 'cancelled') && (
        <div class="note error" role="alert">
          <p>
            <strong>{status === 'failed' ? 'The video failed' : 'The video was cancelled'}</strong>
            {stream.error && (
              <>
                : {stream.error.message} <code>{stream.error.code}</code>
              </>
            )}
          </p>
          <p>Failed and cancelled videos are never charged.</p>
        </div>
      )}
      {status === 'completed' && links.loading && !links.data && <Loading label="Loading the video…" />}
      {status === 'completed' && links.error !== undefined && <ErrorNote error={links.error} retry={links.reload} title="The video's files are unavailable" />}
      {status === 'completed' && links.data && (
        <>
          <VideoPlayer links={links.data} title={id} />
          <RemixForm sourceId={id} onRemixed={onRemixed} />
        </>
      )}
      <details class="events">
        <summary>Events ({stream.events.length})</summary>
        <EventLog events={stream.events} />
      </details>
    </div>
  );
}

export function RemixForm({ sourceId, onRemixed }: { sourceId: string; onRemixed: (id: string) => void }) {
  const [prompt, setPrompt] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const quote = useQuote({ remix_of: sourceId });
  const idemKey = useRef(idempotencyKey());
  return (
    <form
      class="remix"
      aria-label="Remix this video"
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setError(null);
        try {
          const v = await api<Video>(`v1/videos/${encodeURIComponent(sourceId)}/remix`, {
            method: 'POST',
            body: { prompt },
            headers: { 'idempotency-key': idemKey.current },
          });
          idemKey.current = idempotencyKey();
          setPrompt('');
          announce(`Remix submitted: ${v.id}.`);
          onRemixed(v.id);
        } catch (err) {
          setError(err);
        } finally {
          setBusy(false);
        }
      }}
    >
      <h3>Remix</h3>
      <TextField label="What should change?" value={prompt} required placeholder="The same scene at night" onInput={(e) => setPrompt(e.currentTarget.value)} />
      <QuoteLine quote={quote.data} loading={quote.loading} error={quote.error} />
      {error !== null && <ErrorNote error={error} title="The remix was not created" />}
      <button type="submit" class="button" disabled={busy || !prompt.trim()}>
        {busy ? 'Submitting…' : 'Remix'}
      </button>
    </form>
  );
}
