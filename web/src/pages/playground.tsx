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

/** Where a frame image comes from: nothing, a file from the disk, or a URL the gateway fetches. */
type FrameSource = { mode: 'none' | 'upload' | 'url'; file: File | null; url: string };
const NO_FRAME: FrameSource = { mode: 'none', file: null, url: '' };

/** "Sora 2 — $0.10/s" or "Veo 3.1 — from $0.20/s": the model's list price per second. */
export function modelLabel(m: Model): string {
  const prices = m.pricing.rows.map((r) => r.usd_per_second);
  if (!prices.length) return m.name;
  const low = Math.min(...prices);
  const price = prices.every((p) => p === low) ? `${usd(low)}/s` : `from ${usd(low)}/s`;
  return `${m.name} — ${price}${m.lifecycle.status === 'retired' ? ' (retired upstream)' : ''}`;
}

/** The size choices of a model, by resolution: every (aspect ratio, resolution) pair, and "follow the first frame" where the model can. */
function sizeGroups(m: Model): { resolution: string; options: { value: string; label: string }[] }[] {
  return m.supported_resolutions.map((resolution) => {
    const pairs = Object.entries(m.sizes_by_resolution[resolution] ?? {});
    const options = pairs.map(([ratio, size]) => ({ value: size, label: `${ratio} — ${orientation(size)}` }));
    if (m.supported_aspect_ratios.includes('adaptive')) options.push({ value: `adaptive@${resolution}`, label: 'Follow the first frame’s shape' });
    return { resolution, options };
  });
}

/** The size value's resolution and aspect ratio ("adaptive@720p" or a "WxH" of the model). */
function shapeOf(m: Model, value: string): { resolution: string; aspectRatio: string; size: string | null } {
  if (value.startsWith('adaptive@')) return { resolution: value.slice('adaptive@'.length), aspectRatio: 'adaptive', size: null };
  for (const [resolution, byRatio] of Object.entries(m.sizes_by_resolution)) {
    for (const [ratio, size] of Object.entries(byRatio)) if (size === value) return { resolution, aspectRatio: ratio, size };
  }
  return { resolution: m.defaults.resolution, aspectRatio: m.defaults.aspect_ratio, size: m.defaults.size };
}

const defaultShape = (m: Model): string => (m.defaults.aspect_ratio === 'adaptive' ? `adaptive@${m.defaults.resolution}` : m.defaults.size);

function CreateForm({ models, onCreated }: { models: Model[]; onCreated: (id: string) => void }) {
  const first = models.find((m) => m.id === 'sora-2') ?? models[0]!;
  const [prompt, setPrompt] = useState('');
  const [modelId, setModelId] = useState(first.id);
  const model = models.find((m) => m.id === modelId) ?? first;
  const [size, setSize] = useState(defaultShape(first));
  const [secs, setSecs] = useState(String(first.defaults.duration));
  const [audio, setAudio] = useState(first.defaults.generate_audio);
  const [mode, setMode] = useState(first.defaults.mode ?? '');
  const [negative, setNegative] = useState('');
  const [seed, setSeed] = useState('');
  const [firstFrame, setFirstFrame] = useState<FrameSource>(NO_FRAME);
  const [lastFrame, setLastFrame] = useState<FrameSource>(NO_FRAME);
  const [refs, setRefs] = useState<File[]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | Error | null>(null);
  const idemKey = useRef(idempotencyKey());
  const promptRef = useRef<HTMLTextAreaElement>(null);

  // Keep every choice valid for the chosen model: what it cannot do goes back to its default.
  useEffect(() => {
    const groups = sizeGroups(model);
    if (!groups.some((g) => g.options.some((o) => o.value === size))) setSize(defaultShape(model));
    if (!model.supported_durations.includes(Number(secs))) setSecs(String(model.defaults.duration));
    setAudio(model.defaults.generate_audio);
    setMode(model.defaults.mode ?? '');
    if (!model.supported_frame_images.includes('first_frame')) setFirstFrame(NO_FRAME);
    if (!model.supported_frame_images.includes('last_frame')) setLastFrame(NO_FRAME);
    if (!model.negative_prompt) setNegative('');
    if (!model.seed) setSeed('');
    setRefs((r) => r.slice(0, model.references.images));
  }, [modelId]);

  const shape = shapeOf(model, size);
  const quoteParams: Record<string, string> = { model: model.id, seconds: secs };
  if (shape.size) quoteParams.size = shape.size;
  else Object.assign(quoteParams, { aspect_ratio: shape.aspectRatio, resolution: shape.resolution });
  if (model.audio.mode === 'optional') quoteParams.generate_audio = String(audio);
  if (model.modes.length && mode) quoteParams.mode = mode;
  const quote = useQuote(quoteParams);
  const fieldError = (param: string) => (error instanceof ApiError && error.param?.startsWith(param) ? error.message : null);

  const submit = async (e: Event) => {
    e.preventDefault();
    if (!prompt.trim()) {
      setError(new ApiError(400, 'Describe the video you want in the prompt.', 'missing_required_parameter', 'prompt'));
      promptRef.current?.focus();
      return;
    }
    if (shape.aspectRatio === 'adaptive' && firstFrame.mode === 'none') {
      setError(new ApiError(400, 'Following the first frame’s shape needs a first frame: add one, or pick a size.', 'missing_required_parameter', 'input_reference'));
      return;
    }
    const form = new FormData();
    form.set('prompt', prompt);
    form.set('model', model.id);
    if (shape.size) form.set('size', shape.size);
    else {
      form.set('aspect_ratio', shape.aspectRatio);
      form.set('resolution', shape.resolution);
    }
    form.set('seconds', secs);
    if (model.audio.mode === 'optional') form.set('generate_audio', String(audio));
    if (model.modes.length && mode) form.set('mode', mode);
    if (negative.trim()) form.set('negative_prompt', negative.trim());
    if (seed.trim()) form.set('seed', seed.trim());
    if (firstFrame.mode === 'upload' && firstFrame.file) form.set('input_reference', firstFrame.file, firstFrame.file.name);
    if (firstFrame.mode === 'url' && firstFrame.url.trim()) form.set('input_reference[image_url]', firstFrame.url.trim());
    if (lastFrame.mode === 'upload' && lastFrame.file) form.set('last_frame', lastFrame.file, lastFrame.file.name);
    if (lastFrame.mode === 'url' && lastFrame.url.trim()) form.set('last_frame', lastFrame.url.trim());
    for (const f of refs) form.append('reference_images[]', f, f.name);
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

  const makers = [...new Set(models.map((m) => m.owned_by))];
  const frames = model.supported_frame_images;
  const framesAndRefs = model.references.exclusive_with_frames && refs.length > 0 && (firstFrame.mode !== 'none' || lastFrame.mode !== 'none');
  const fitTo = shape.size ?? 'the first frame’s shape';
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
      <div class="field">
        <label for="pg-model">Model</label>
        <select id="pg-model" value={model.id} onChange={(e) => setModelId(e.currentTarget.value)} aria-describedby="pg-model-hint">
          {makers.map((maker) => (
            <optgroup key={maker} label={maker}>
              {models
                .filter((m) => m.owned_by === maker)
                .map((m) => (
                  <option key={m.id} value={m.id}>
                    {modelLabel(m)}
                  </option>
                ))}
            </optgroup>
          ))}
        </select>
        <p class="hint" id="pg-model-hint">
          {model.description ?? model.id}
          {model.lifecycle.status === 'retired' && ` Retired upstream on ${model.lifecycle.retired_on}${model.lifecycle.replacement ? `; try ${model.lifecycle.replacement}` : ''}.`}
        </p>
      </div>
      <div class="grid3">
        <div class="field">
          <label for="pg-size">Size</label>
          <select id="pg-size" value={size} onChange={(e) => setSize(e.currentTarget.value)} aria-invalid={fieldError('size') || fieldError('aspect_ratio') || fieldError('resolution') ? true : undefined}>
            {sizeGroups(model).map((g) => (
              <optgroup key={g.resolution} label={g.resolution}>
                {g.options.map((o) => (
                  <option key={o.value} value={o.value}>
                    {o.label}
                  </option>
                ))}
              </optgroup>
            ))}
          </select>
          <p class="hint">
            {shape.aspectRatio} at {shape.resolution}
          </p>
          {(fieldError('size') || fieldError('aspect_ratio') || fieldError('resolution')) && (
            <p class="field-error">{fieldError('size') ?? fieldError('aspect_ratio') ?? fieldError('resolution')}</p>
          )}
        </div>
        <SelectField
          label="Duration"
          value={secs}
          options={model.supported_durations.map((s) => ({ value: String(s), label: `${s} seconds` }))}
          onChange={(e) => setSecs(e.currentTarget.value)}
          error={fieldError('seconds') ?? fieldError('duration')}
        />
        {model.modes.length > 0 && (
          <SelectField label="Mode" value={mode} options={model.modes.map((m) => ({ value: m, label: m }))} onChange={(e) => setMode(e.currentTarget.value)} error={fieldError('mode')} />
        )}
      </div>
      <div class="field">
        {model.audio.mode === 'none' ? (
          <p class="hint" data-testid="audio-note">
            This model makes silent videos.
          </p>
        ) : (
          <label class="check">
            <input type="checkbox" checked={model.audio.mode === 'always' || audio} disabled={model.audio.mode === 'always'} onChange={(e) => setAudio(e.currentTarget.checked)} />
            {model.audio.mode === 'always' ? 'Audio track (always made by this model)' : 'Generate an audio track'}
          </label>
        )}
      </div>
      {(model.negative_prompt || model.seed) && (
        <div class="pg-extras">
          {model.negative_prompt && (
            <TextField label="Negative prompt (optional)" value={negative} placeholder="blurry, watermark" onInput={(e) => setNegative(e.currentTarget.value)} error={fieldError('negative_prompt')} />
          )}
          {model.seed && (
            <TextField
              label="Seed (optional)"
              type="number"
              inputMode="numeric"
              min={model.seed_range?.min}
              max={model.seed_range?.max}
              value={seed}
              onInput={(e) => setSeed(e.currentTarget.value)}
              hint={model.seed_range ? `${model.seed_range.min} to ${model.seed_range.max}; the same seed repeats a result.` : undefined}
              error={fieldError('seed')}
            />
          )}
        </div>
      )}
      {frames.includes('first_frame') && (
        <FrameField legend="Reference image (first frame, optional)" name="first" value={firstFrame} onChange={setFirstFrame} fitTo={fitTo} error={fieldError('input_reference')} />
      )}
      {frames.includes('last_frame') && (
        <FrameField legend="Last frame (optional)" name="last" value={lastFrame} onChange={setLastFrame} fitTo={fitTo} error={fieldError('last_frame')} />
      )}
      {model.references.images > 0 && (
        <div class="field">
          <label for="pg-refs">Reference images (optional, up to {model.references.images})</label>
          <input id="pg-refs" type="file" multiple accept={REF_TYPES} onChange={(e) => setRefs([...(e.currentTarget.files ?? [])].slice(0, model.references.images))} />
          <p class="hint">
            {refs.length ? refs.map((f) => f.name).join(', ') : 'People, objects or styles the video should show.'}
            {model.references.exclusive_with_frames && ' Not combined with first or last frames on this model.'}
          </p>
          {framesAndRefs && <p class="field-error">This model takes reference images or frames, not both.</p>}
          {fieldError('reference_images') && <p class="field-error">{fieldError('reference_images')}</p>}
        </div>
      )}
      <QuoteLine quote={quote.data} loading={quote.loading} error={quote.error} />
      {error && !fieldError('prompt') && <ErrorNote error={error} title="The video was not created" />}
      <button type="submit" class="button primary wide" disabled={busy}>
        {busy ? 'Submitting…' : quote.data && !quote.data.free ? `Generate for ${usd(quote.data.price_usd)}` : 'Generate video'}
      </button>
    </form>
  );
}

/** A frame image: none, uploaded (previewed before sending) or a URL the gateway fetches. */
function FrameField({ legend, name, value, onChange, fitTo, error }: { legend: string; name: string; value: FrameSource; onChange: (v: FrameSource) => void; fitTo: string; error: string | null }) {
  const [preview, setPreview] = useState<string | null>(null);
  useEffect(() => {
    if (!value.file) {
      setPreview(null);
      return undefined;
    }
    const url = URL.createObjectURL(value.file);
    setPreview(url);
    return () => URL.revokeObjectURL(url);
  }, [value.file]);
  const what = name === 'first' ? 'Reference image' : 'Last frame';
  return (
    <fieldset class="field">
      <legend>{legend}</legend>
      <div class="segmented" role="radiogroup" aria-label={`${what} source`}>
        {(['none', 'upload', 'url'] as const).map((m) => (
          <label key={m} class={value.mode === m ? 'on' : ''}>
            <input type="radio" name={`${name}-mode`} value={m} checked={value.mode === m} onChange={() => onChange({ ...value, mode: m })} />
            {{ none: 'None', upload: 'Upload', url: 'From a URL' }[m]}
          </label>
        ))}
      </div>
      {value.mode === 'upload' && (
        <div class="ref-upload">
          <label for={`pg-${name}-file`}>{name === 'first' ? 'Image file (JPEG, PNG or WebP)' : 'Last frame file (JPEG, PNG or WebP)'}</label>
          <input id={`pg-${name}-file`} type="file" accept={REF_TYPES} onChange={(e) => onChange({ ...value, file: e.currentTarget.files?.[0] ?? null })} />
          {value.file && preview && (
            <figure class="ref-preview">
              <img src={preview} alt={`${what}: ${value.file.name}`} />
              <figcaption>
                {value.file.name} · {bytes(value.file.size)} — fitted to {fitTo} (scaled to cover, centre cropped)
              </figcaption>
            </figure>
          )}
        </div>
      )}
      {value.mode === 'url' && (
        <TextField
          label={name === 'first' ? 'Image URL' : 'Last frame URL'}
          type="url"
          inputMode="url"
          placeholder="https://example.com/frame.png"
          value={value.url}
          onInput={(e) => onChange({ ...value, url: e.currentTarget.value })}
          hint="Fetched by the gateway (private addresses are refused)."
        />
      )}
      {error && <p class="field-error">{error}</p>}
    </fieldset>
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
