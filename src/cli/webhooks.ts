import type { Command } from 'commander';
import { callJson, GatewayError, remote } from './http.js';
import type { Remote } from './http.js';

interface EndpointJson {
  id: string;
  name: string;
  url: string;
  event_types: string[];
  enabled: boolean;
  signing_secret?: string;
  signing_secret_hint: string;
  previous_secret_expires_at: number | null;
}

interface AttemptJson {
  attempt: number;
  started_at: number;
  duration_ms: number;
  status_code: number | null;
  error: string | null;
}

interface DeliveryJson {
  id: string;
  kind: 'endpoint' | 'callback';
  endpoint_id: string | null;
  url: string;
  event_type: string;
  video_id: string;
  status: string;
  attempt_count: number;
  next_attempt_at: number | null;
  created_at: number;
  attempts: AttemptJson[];
}

interface SecretJson {
  signing_secret: string;
  previous_signing_secret: string | null;
  previous_secret_expires_at: number | null;
}

interface Common {
  url?: string;
  json?: boolean;
}

const CALLBACK = 'callback';

const iso = (sec: number | null): string => (sec === null ? '-' : new Date(sec * 1000).toISOString().replace('.000Z', 'Z'));

/** "24h", "90m", "30s", "2d", "0" → seconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|h|d)?$/i.exec(text.trim());
  if (!m) throw new GatewayError(`'${text}' is not a duration (e.g. 24h, 30m, 0)`);
  const unit = { s: 1, m: 60, h: 3600, d: 86_400 }[(m[2] ?? 's').toLowerCase() as 's' | 'm' | 'h' | 'd'];
  return Math.round(Number(m[1]) * unit);
}

const eventList = (text: string): string[] => text.split(',').map((s) => s.trim()).filter(Boolean);

function printEndpoint(e: EndpointJson): void {
  console.log(`${e.id}  ${e.enabled ? 'enabled ' : 'DISABLED'}  ${e.url}`);
  console.log(`  name ${e.name}   events ${e.event_types.join(', ')}   secret ${e.signing_secret_hint}${e.previous_secret_expires_at ? `   (old secret valid until ${iso(e.previous_secret_expires_at)})` : ''}`);
}

function printSecret(label: string, s: string): void {
  console.log(`${label}: ${s}`);
}

function printDelivery(d: DeliveryJson): void {
  const target = d.kind === 'callback' ? 'callback' : d.endpoint_id;
  const next = d.status === 'pending' && d.next_attempt_at ? `  next ${iso(d.next_attempt_at)}` : '';
  console.log(`${d.id}  ${d.status.padEnd(9)}  ${d.event_type.padEnd(17)}  ${d.video_id}  → ${target}  ${d.attempt_count} attempt${d.attempt_count === 1 ? '' : 's'}${next}`);
  for (const a of d.attempts) {
    console.log(`    #${a.attempt}  ${iso(a.started_at)}  ${a.status_code ?? '---'}  ${String(a.duration_ms).padStart(5)} ms${a.error ? `  ${a.error}` : ''}`);
  }
}

/** `vidgate webhook …`: webhook endpoints and deliveries of the key in VIDGATE_API_KEY, on a running gateway. */
export function registerWebhookCommands(program: Command): void {
  const webhook = program
    .command('webhook')
    .description('manage webhook endpoints and deliveries on a running gateway (VIDGATE_URL, VIDGATE_API_KEY)');
  const withCommon = (cmd: Command) => cmd.option('--url <url>', 'gateway base URL (default: VIDGATE_URL or http://localhost:8080)').option('--json', 'print JSON');
  const run = <T extends Common>(fn: (r: Remote, opts: T, ...args: string[]) => Promise<void>) =>
    async (...args: unknown[]) => {
      const strings = args.filter((a): a is string => typeof a === 'string');
      const opts = args.find((a) => typeof a === 'object' && a !== null && !Array.isArray(a) && !('parent' in a)) as T;
      await fn(remote(opts.url), opts, ...strings);
    };

  withCommon(
    webhook
      .command('add')
      .description('register an endpoint; prints its signing secret')
      .argument('<target-url>', 'where events are POSTed (http or https)')
      .option('--events <list>', 'comma-separated event types', 'video.completed,video.failed')
      .option('--name <name>', 'a label for the endpoint')
      .option('--disabled', 'register it disabled'),
  ).action(
    run<Common & { events: string; name?: string; disabled?: boolean }>(async (r, opts, targetUrl) => {
      const e = await callJson<EndpointJson>(r, 'POST', '/v1/webhook_endpoints', {
        url: targetUrl,
        event_types: eventList(opts.events),
        ...(opts.name ? { name: opts.name } : {}),
        ...(opts.disabled ? { enabled: false } : {}),
      });
      if (opts.json) return console.log(JSON.stringify(e));
      printEndpoint(e);
      printSecret('signing secret', e.signing_secret!);
      console.log('Verify deliveries with it (openai: client.webhooks.unwrap(body, headers, secret)); see it again with: vidgate webhook secret ' + e.id);
    }),
  );

  withCommon(webhook.command('list').description("list the key's endpoints")).action(
    run<Common>(async (r, opts) => {
      const list = await callJson<{ data: EndpointJson[] }>(r, 'GET', '/v1/webhook_endpoints?limit=100');
      if (opts.json) return console.log(JSON.stringify(list.data));
      if (list.data.length === 0) console.log('no webhook endpoints (add one with: vidgate webhook add <url>)');
      list.data.forEach(printEndpoint);
    }),
  );

  withCommon(
    webhook
      .command('update')
      .description('change an endpoint')
      .argument('<id>', 'endpoint id (whe_…)')
      .option('--target <url>', 'new target URL')
      .option('--events <list>', 'comma-separated event types (replaces the list)')
      .option('--name <name>', 'new label')
      .option('--enable', 'resume deliveries')
      .option('--disable', 'pause deliveries (pending ones wait)'),
  ).action(
    run<Common & { target?: string; events?: string; name?: string; enable?: boolean; disable?: boolean }>(async (r, opts, id) => {
      if (opts.enable && opts.disable) throw new GatewayError('--enable and --disable exclude each other');
      const body: Record<string, unknown> = {};
      if (opts.target) body.url = opts.target;
      if (opts.events) body.event_types = eventList(opts.events);
      if (opts.name) body.name = opts.name;
      if (opts.enable) body.enabled = true;
      if (opts.disable) body.enabled = false;
      if (Object.keys(body).length === 0) throw new GatewayError('nothing to change: give --target, --events, --name, --enable or --disable');
      const e = await callJson<EndpointJson>(r, 'PATCH', `/v1/webhook_endpoints/${encodeURIComponent(id!)}`, body);
      if (opts.json) return console.log(JSON.stringify(e));
      printEndpoint(e);
    }),
  );

  withCommon(webhook.command('remove').description('delete an endpoint (its pending deliveries are cancelled)').argument('<id>', 'endpoint id')).action(
    run<Common>(async (r, opts, id) => {
      const out = await callJson<{ id: string; deleted: boolean }>(r, 'DELETE', `/v1/webhook_endpoints/${encodeURIComponent(id!)}`);
      if (opts.json) return console.log(JSON.stringify(out));
      console.log(`removed ${out.id}`);
    }),
  );

  withCommon(
    webhook
      .command('rotate')
      .description('give an endpoint (or "callback": the callback_url secret) a new signing secret')
      .argument('<id>', `endpoint id, or "${CALLBACK}"`)
      .option('--grace <duration>', 'keep signing with the old secret too for this long (e.g. 24h, 30m, 0)', '24h'),
  ).action(
    run<Common & { grace: string }>(async (r, opts, id) => {
      const body = { grace_period_seconds: parseDuration(opts.grace) };
      const path = id === CALLBACK ? '/v1/callback_secret/rotate' : `/v1/webhook_endpoints/${encodeURIComponent(id!)}/rotate_secret`;
      const out = await callJson<{ signing_secret: string; previous_secret_expires_at: number | null }>(r, 'POST', path, body);
      if (opts.json) return console.log(JSON.stringify(out));
      printSecret('new signing secret', out.signing_secret);
      console.log(
        out.previous_secret_expires_at
          ? `The old secret stays valid (deliveries carry both signatures) until ${iso(out.previous_secret_expires_at)}.`
          : 'The old secret is no longer used.',
      );
    }),
  );

  withCommon(webhook.command('secret').description('show the signing secret(s) of an endpoint, or of callback_url deliveries').argument('<id>', `endpoint id, or "${CALLBACK}"`)).action(
    run<Common>(async (r, opts, id) => {
      const path = id === CALLBACK ? '/v1/callback_secret' : `/v1/webhook_endpoints/${encodeURIComponent(id!)}/secret`;
      const s = await callJson<SecretJson>(r, 'GET', path);
      if (opts.json) return console.log(JSON.stringify(s));
      printSecret('signing secret', s.signing_secret);
      if (s.previous_signing_secret) printSecret(`previous secret (valid until ${iso(s.previous_secret_expires_at)})`, s.previous_signing_secret);
    }),
  );

  withCommon(
    webhook
      .command('deliveries')
      .description('list deliveries with their attempts, newest first')
      .option('--endpoint <id>', `only this endpoint's (or "${CALLBACK}")`)
      .option('--video <id>', "only this video's")
      .option('--status <status>', 'pending, delivered, failed or cancelled')
      .option('--event <type>', 'only this event type')
      .option('--limit <n>', 'how many (1-100)', '20'),
  ).action(
    run<Common & { endpoint?: string; video?: string; status?: string; event?: string; limit: string }>(async (r, opts) => {
      const q = new URLSearchParams({ limit: opts.limit });
      if (opts.endpoint) q.set('endpoint_id', opts.endpoint);
      if (opts.video) q.set('video_id', opts.video);
      if (opts.status) q.set('status', opts.status);
      if (opts.event) q.set('event_type', opts.event);
      const list = await callJson<{ data: DeliveryJson[] }>(r, 'GET', `/v1/webhook_deliveries?${q}`);
      if (opts.json) return console.log(JSON.stringify(list.data));
      if (list.data.length === 0) console.log('no deliveries');
      list.data.forEach(printDelivery);
    }),
  );

  withCommon(webhook.command('resend').description('send a delivery again (same webhook-id, a new attempt)').argument('<delivery-id>', 'delivery id (msg_…)')).action(
    run<Common>(async (r, opts, id) => {
      const d = await callJson<DeliveryJson>(r, 'POST', `/v1/webhook_deliveries/${encodeURIComponent(id!)}/resend`);
      if (opts.json) return console.log(JSON.stringify(d));
      console.log(`${d.id} queued for another attempt`);
    }),
  );

  withCommon(
    webhook
      .command('test')
      .description('send a sample event to an endpoint now and show the answer')
      .argument('<id>', 'endpoint id')
      .option('--event <type>', 'event type of the sample'),
  ).action(
    run<Common & { event?: string }>(async (r, opts, id) => {
      const out = await callJson<{ status_code: number; event_type: string }>(r, 'POST', `/v1/webhook_endpoints/${encodeURIComponent(id!)}/test`, opts.event ? { event_type: opts.event } : {});
      if (opts.json) return console.log(JSON.stringify(out));
      console.log(`${out.event_type} → HTTP ${out.status_code}`);
    }),
  );
}
