import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';

/**
 * `vidgate channel …`: a front for the admin API of a running gateway (VIDGATE_URL, default
 * http://localhost:8080, and VIDGATE_ADMIN_TOKEN). Channels live in the gateway's database and
 * in its memory (breakers, limits), so these commands go through the gateway rather than the
 * local database file.
 */
class CliError extends Error {}

interface ChannelJson {
  id: string;
  name: string;
  type: string;
  base_url: string;
  api_key_set: boolean;
  credentials_set?: string[];
  models: Array<{ model: string; upstream_model: string }>;
  priority: number;
  weight: number;
  enabled: boolean;
  source: string;
  state: string;
  unfinished_tasks: Record<string, number>;
}

function endpoint(): { base: string; token: string } {
  const base = (process.env.VIDGATE_URL ?? 'http://localhost:8080').replace(/\/+$/, '').replace(/\/v1$/, '');
  const token = process.env.VIDGATE_ADMIN_TOKEN;
  if (!token) throw new CliError('set VIDGATE_ADMIN_TOKEN to the gateway’s admin token (and VIDGATE_URL if it is not http://localhost:8080)');
  return { base, token };
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const { base, token } = endpoint();
  let res: Response;
  try {
    res = await fetch(`${base}/admin/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (err) {
    throw new CliError(`cannot reach the gateway at ${base}: ${(err as Error).message}. Is it running? (VIDGATE_URL)`);
  }
  const json = (await res.json().catch(() => null)) as (T & { error?: { message?: string } }) | null;
  if (!res.ok) throw new CliError(`${res.status} ${json?.error?.message ?? res.statusText}`);
  return json as T;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

const intOrNull = (name: string) => (text: string | undefined): number | null | undefined => {
  if (text === undefined) return undefined;
  if (text === 'none' || text === 'default') return null;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new CliError(`--${name} must be a positive integer, or "none"`);
  return n;
};

const intValue = (name: string, text: string | undefined): number | undefined => {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n)) throw new CliError(`--${name} must be an integer`);
  return n;
};

/** key=value → value parsed as JSON when it is JSON (true, 3, {"a":1}), else the string. */
function pairs(list: string[] | undefined, what: string): Record<string, unknown> | undefined {
  if (!list?.length) return undefined;
  const out: Record<string, unknown> = {};
  for (const item of list) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new CliError(`--${what} takes key=value, got '${item}'`);
    const raw = item.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // a plain string
    }
    out[item.slice(0, eq)] = what === 'header' ? raw : value;
  }
  return out;
}

/** public[=upstream] → a model entry. */
function models(list: string[] | undefined): Array<string | { model: string; upstream_model: string }> | undefined {
  if (!list?.length) return undefined;
  return list.map((m) => {
    const eq = m.indexOf('=');
    return eq < 0 ? m : { model: m.slice(0, eq), upstream_model: m.slice(eq + 1) };
  });
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').trim();
}

interface ChannelOpts {
  type?: string;
  name?: string;
  baseUrl?: string;
  apiKey?: string;
  apiKeyEnv?: string;
  apiKeyStdin?: boolean;
  model?: string[];
  priority?: string;
  weight?: string;
  concurrency?: string;
  rpm?: string;
  maxJobs?: string;
  markup?: string;
  deadlineMinutes?: string;
  option?: string[];
  header?: string[];
  credential?: string[];
  credentialEnv?: string[];
  credentialFile?: string[];
  clearCredential?: string[];
  disabled?: boolean;
  json?: boolean;
}

async function body(opts: ChannelOpts): Promise<Record<string, unknown>> {
  let apiKey = opts.apiKey;
  if (opts.apiKeyEnv) {
    apiKey = process.env[opts.apiKeyEnv];
    if (!apiKey) throw new CliError(`the environment variable ${opts.apiKeyEnv} is not set`);
  }
  if (opts.apiKeyStdin) apiKey = await readStdin();
  const b: Record<string, unknown> = {
    name: opts.name,
    base_url: opts.baseUrl,
    api_key: apiKey,
    models: models(opts.model),
    priority: intValue('priority', opts.priority),
    weight: intValue('weight', opts.weight),
    concurrency: intOrNull('concurrency')(opts.concurrency),
    rpm: intOrNull('rpm')(opts.rpm),
    max_jobs: intOrNull('max-jobs')(opts.maxJobs),
    markup: opts.markup === undefined ? undefined : opts.markup === 'none' ? null : Number(opts.markup),
    deadline_minutes: intOrNull('deadline-minutes')(opts.deadlineMinutes),
    options: pairs(opts.option, 'option'),
    headers: pairs(opts.header, 'header'),
    enabled: opts.disabled ? false : undefined,
  };
  Object.assign(b, await credentials(opts));
  for (const k of Object.keys(b)) if (b[k] === undefined) delete b[k];
  return b;
}

/** --credential name=value, --credential-env name=VAR, --credential-file name=PATH, --clear-credential name. */
async function credentials(opts: ChannelOpts): Promise<Record<string, string | null>> {
  const out: Record<string, string | null> = {};
  const split = (item: string, flag: string): [string, string] => {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new CliError(`--${flag} takes name=value, got '${item}'`);
    return [item.slice(0, eq), item.slice(eq + 1)];
  };
  for (const item of opts.credential ?? []) {
    const [name, value] = split(item, 'credential');
    out[name] = value;
  }
  for (const item of opts.credentialEnv ?? []) {
    const [name, variable] = split(item, 'credential-env');
    const value = process.env[variable];
    if (!value) throw new CliError(`the environment variable ${variable} is not set`);
    out[name] = value;
  }
  for (const item of opts.credentialFile ?? []) {
    const [name, file] = split(item, 'credential-file');
    try {
      out[name] = (await readFile(file, 'utf8')).trim();
    } catch (err) {
      throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  for (const name of opts.clearCredential ?? []) out[name] = null;
  return out;
}

function print(c: ChannelJson, json: boolean | undefined): void {
  if (json) {
    console.log(JSON.stringify(c));
    return;
  }
  const models = c.models.map((m) => (m.model === m.upstream_model ? m.model : `${m.model}=${m.upstream_model}`)).join(', ');
  const jobs = Object.entries(c.unfinished_tasks ?? {}).map(([stage, n]) => `${n} ${stage}`).join(', ');
  console.log(`${c.id}  ${c.type}  ${c.state}${c.source === 'config' ? '  [config file]' : ''}`);
  const creds = c.credentials_set?.length ? `  credentials: ${c.credentials_set.join(', ')}` : '';
  console.log(`  ${c.base_url}  key ${c.api_key_set ? 'set' : 'not set'}${creds}  priority ${c.priority}  weight ${c.weight}${jobs ? `  unfinished: ${jobs}` : ''}`);
  console.log(`  models: ${models}`);
}

function withOptions(cmd: Command): Command {
  return cmd
    .option('--name <name>', 'a label')
    .option('--base-url <url>', 'upstream base URL (openai-compatible: …/v1; apimart: https://api.apimart.ai)')
    .option('--api-key <key>', 'upstream API key (visible in your shell history; prefer --api-key-env or --api-key-stdin)')
    .option('--api-key-env <VAR>', 'read the upstream API key from this environment variable')
    .option('--api-key-stdin', 'read the upstream API key from standard input')
    .option('--model <public[=upstream]>', 'a public model it serves, optionally under another upstream name (repeatable)', collect)
    .option('--priority <n>', 'higher goes first (default 0)')
    .option('--weight <n>', 'share within its priority tier (default 1)')
    .option('--concurrency <n>', 'requests in flight at once, or "none"')
    .option('--rpm <n>', 'requests per minute, or "none"')
    .option('--max-jobs <n>', 'unfinished upstream jobs at once, or "none"')
    .option('--markup <x>', 'multiplier on the list price (1.2 = +20 %), or "none"')
    .option('--deadline-minutes <n>', 'fail tasks not done this long after creation, or "none" for the default')
    .option('--option <key=value>', 'adapter option, e.g. auth=api-key, api_version=preview (repeatable)', collect)
    .option('--header <Name=Value>', 'extra request header, kept secret like the key (repeatable)', collect)
    .option('--credential <name=value>', 'a credential the adapter takes, e.g. access_key=… for kling (repeatable; prefer the two forms below)', collect)
    .option('--credential-env <name=VAR>', 'a credential read from an environment variable, e.g. secret_key=KLING_SECRET_KEY (repeatable)', collect)
    .option('--credential-file <name=PATH>', 'a credential read from a file, e.g. service_account=key.json (repeatable)', collect)
    .option('--clear-credential <name>', 'remove a credential (update only; repeatable)', collect)
    .option('--json', 'print JSON');
}

export function registerChannelCommands(program: Command): void {
  const channel = program.command('channel').description('manage upstream channels of a running gateway (VIDGATE_URL, VIDGATE_ADMIN_TOKEN)');

  channel
    .command('list')
    .description('list channels (credentials are never shown)')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const list = await call<{ data: ChannelJson[]; sandbox_fallback: string }>('GET', '/channels');
      if (opts.json) return console.log(JSON.stringify(list.data));
      if (list.data.length === 0) console.log(`No channels: ${list.sandbox_fallback === 'never' ? 'no model can be served' : 'the sandbox serves every model'}.`);
      for (const c of list.data) print(c, false);
    });

  withOptions(channel.command('add').description('add a channel').argument('<id>', 'channel id (lower-case letters, digits, . _ -)'))
    .requiredOption('--type <type>', 'the adapter: openai-compatible | apimart | kling | ark | … (docs/providers.md)')
    .option('--disabled', 'create it disabled')
    .action(async (id: string, opts: ChannelOpts) => {
      const b = await body(opts);
      // Adapters with a region option (minimax, dashscope) derive the base URL from it.
      if (!b.base_url && !(b.options as Record<string, unknown> | undefined)?.region) throw new CliError('--base-url (or --option region=…) is required');
      if (!b.models) throw new CliError('at least one --model is required');
      print(await call<ChannelJson>('POST', '/channels', { id, type: opts.type, ...b }), opts.json);
    });

  withOptions(channel.command('update').description('change a channel (only the options given)').argument('<id>', 'channel id')).action(async (id: string, opts: ChannelOpts) => {
    print(await call<ChannelJson>('PATCH', `/channels/${encodeURIComponent(id)}`, await body(opts)), opts.json);
  });

  for (const [verb, enabled] of [['enable', true], ['disable', false]] as const) {
    channel
      .command(verb)
      .description(`${verb} a channel (unfinished tasks on it are followed either way)`)
      .argument('<id>', 'channel id')
      .option('--json', 'print JSON')
      .action(async (id: string, opts: { json?: boolean }) => print(await call<ChannelJson>('PATCH', `/channels/${encodeURIComponent(id)}`, { enabled }), opts.json));
  }

  channel
    .command('remove')
    .description('remove a channel (its unfinished tasks are still followed to the end)')
    .argument('<id>', 'channel id')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      const c = await call<ChannelJson>('DELETE', `/channels/${encodeURIComponent(id)}`);
      if (opts.json) return console.log(JSON.stringify(c));
      console.log(`Removed ${c.id}.`);
    });

  channel
    .command('test')
    .description('check that the channel answers and accepts its key')
    .argument('<id>', 'channel id')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      const r = await call<{ ok: boolean; latency_ms: number; message: string; breaker: string }>('POST', `/channels/${encodeURIComponent(id)}/test`);
      if (opts.json) console.log(JSON.stringify(r));
      else console.log(`${r.ok ? 'OK' : 'FAILED'}  ${id}  ${r.latency_ms} ms  ${r.message}  (breaker ${r.breaker})`);
      if (!r.ok) process.exitCode = 1;
    });

  channel
    .command('test-job')
    .description('send a real video job to this channel only (free, under the operator key) and follow it to the end')
    .argument('<id>', 'channel id')
    .option('--model <model>', 'one of the models the channel serves (default: its first)')
    .option('--prompt <text>', 'the prompt')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { model?: string; prompt?: string; json?: boolean }) => {
      const sent = await call<{ video_id: string }>('POST', `/channels/${encodeURIComponent(id)}/test_job`, {
        ...(opts.model ? { model: opts.model } : {}),
        ...(opts.prompt ? { prompt: opts.prompt } : {}),
      });
      if (!opts.json) console.error(`${sent.video_id} sent to ${id}`);
      let task = await call<{ status: string; error: { code: string; message: string } | null }>('GET', `/tasks/${sent.video_id}`);
      while (task.status === 'queued' || task.status === 'in_progress') {
        await new Promise((r) => setTimeout(r, 1000));
        task = await call('GET', `/tasks/${sent.video_id}`);
      }
      if (opts.json) console.log(JSON.stringify({ video_id: sent.video_id, status: task.status, error: task.error }));
      else console.log(`${task.status === 'completed' ? 'OK' : 'FAILED'}  ${id}  ${sent.video_id}  ${task.status}${task.error ? `  ${task.error.code}: ${task.error.message}` : ''}`);
      if (task.status !== 'completed') process.exitCode = 1;
    });

  channel
    .command('health')
    .description('breaker, limits, counters, last error and observed durations')
    .argument('<id>', 'channel id')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      const h = await call<{
        breaker: { state: string; consecutive_failures: number; retry_at: number | null; last_failure: { reason: string } | null };
        limits: { in_flight: number; concurrency: number | null; rpm: number | null };
        active_jobs: number;
        max_jobs: number | null;
        counters: Record<string, number>;
        last_error: { message: string } | null;
        observed_durations: Array<{ model: string; seconds: number; samples: number; mean_seconds: number }>;
      }>('GET', `/channels/${encodeURIComponent(id)}/health`);
      if (opts.json) return console.log(JSON.stringify(h));
      console.log(`${id}: breaker ${h.breaker.state} (${h.breaker.consecutive_failures} failures in a row)`);
      console.log(`  jobs ${h.active_jobs}${h.max_jobs ? `/${h.max_jobs}` : ''}, requests in flight ${h.limits.in_flight}${h.limits.concurrency ? `/${h.limits.concurrency}` : ''}${h.limits.rpm ? `, ${h.limits.rpm}/min` : ''}`);
      console.log(`  ${Object.entries(h.counters).map(([k, v]) => `${k} ${v}`).join(', ')}`);
      if (h.last_error) console.log(`  last error: ${h.last_error.message}`);
      for (const d of h.observed_durations) console.log(`  ${d.model} ${d.seconds} s: ${d.mean_seconds} s on average (${d.samples} jobs)`);
    });
}
