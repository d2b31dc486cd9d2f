/**
 * A fake ComfyUI server (contract against the documented protocol, upstreams.md §10 and §16):
 * the HTTP routes (also under `/api`) and the `/ws?clientId=` websocket, speaking ComfyUI's
 * shapes, with a prompt queue that really executes what was submitted.
 *
 * - `POST /prompt` validates the graph the way ComfyUI does: an unknown `class_type` is a 400
 *   `missing_node_type` (with `node_errors: {}`); missing inputs, values not in a list (model
 *   files the server does not have), wrong types and images not in the input directory are a 400
 *   `prompt_outputs_failed_validation` with per-node `node_errors`; a client-supplied `prompt_id`
 *   is honoured (and not deduplicated, as in ComfyUI).
 * - One worker runs the queue in order. For each prompt the socket of its `client_id` gets
 *   `execution_start`, `execution_cached`, `executing` per node, `progress` per sampler step (and
 *   a binary preview frame), `executed` for the output node, then `execution_success` (or
 *   `execution_error` / `execution_interrupted`); the history entry is written after that, every
 *   socket gets `status`, and the client gets `executing` with `node: null`.
 * - The output node renders a real H.264 MP4 with the bundled ffmpeg at the width, height, frame
 *   count and frame rate the graph asks for (colour from the seed); SaveVideo reports it in
 *   `images` + `animated`, VHS_VideoCombine in `gifs`; `GET /view` serves it.
 * - Faults: `restart()` (queue, history and sockets lost, as a real restart), `down()` / `up()`,
 *   `hangPromptAnswers(n)` (queued, answer never sent), `viewDelayMs`, `skipNodeNull`, and a
 *   prompt text containing `[[comfy: oom]]` fails in the sampler with torch's out-of-memory error.
 * - Optional reverse-proxy auth (`token`): every route and the websocket need `Authorization: Bearer`.
 * - Loopback origin check: a request whose `Origin` host differs from `Host` gets 403.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { WebSocketServer } from 'ws';
import type WebSocket from 'ws';

const require = createRequire(import.meta.url);
const FFMPEG = process.env.FFMPEG_PATH ?? (require('@ffmpeg-installer/ffmpeg') as { path: string }).path;

type Kind = 'INT' | 'FLOAT' | 'STRING' | 'BOOLEAN' | 'LINK' | { list: readonly string[] } | 'IMAGEFILE';

interface NodeDef {
  required: Record<string, Kind>;
  optional?: Record<string, Kind>;
  output?: boolean;
  min?: Record<string, number>;
}

const SAMPLERS = ['euler', 'euler_ancestral', 'uni_pc', 'uni_pc_bh2', 'dpmpp_2m', 'lcm'] as const;
const SCHEDULERS = ['simple', 'normal', 'karras', 'sgm_uniform', 'beta'] as const;

export interface ComfyFakeOptions {
  port?: number;
  /** Real ms per sampler step (default 10). */
  stepMs?: number;
  /** Real ms per other node (default 1). */
  nodeMs?: number;
  /** Model files "installed" on the server, by loader input. */
  models?: { unet?: string[]; clip?: string[]; vae?: string[] };
  /** Reverse-proxy auth: this Bearer token is required everywhere. */
  token?: string;
}

/** What one prompt asked for and how it went. */
export interface Execution {
  promptId: string;
  clientId: string | undefined;
  number: number;
  prompt: Record<string, { class_type: string; inputs: Record<string, unknown> }>;
  width?: number;
  height?: number;
  frames?: number;
  fps?: number;
  seed?: number;
  texts: string[];
  images: string[];
  state: 'pending' | 'running' | 'success' | 'error' | 'interrupted' | 'lost';
  /** Real ms of the `executed` message of the output node. */
  executedAt?: number;
  output?: { filename: string; subfolder: string; type: string };
}

export interface RecordedComfyRequest {
  method: string;
  path: string;
  query: string;
  headers: Record<string, string | string[] | undefined>;
  at: number;
}

export class ComfyUIFake {
  readonly nodes: Record<string, NodeDef>;
  /** Accepted prompts (each queued exactly once). */
  prompts = 0;
  /** Every POST /prompt, accepted or not. */
  promptRequests = 0;
  readonly requests: RecordedComfyRequest[] = [];
  readonly executions = new Map<string, Execution>();
  /** Websocket connections opened, by client id. */
  readonly wsConnections: string[] = [];
  viewDelayMs = 0;
  skipNodeNull = false;
  port = 0;
  private server!: Server;
  private wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  private sockets = new Map<string, WebSocket>();
  private openConns = new Set<Socket>();
  private queue: Execution[] = [];
  private history = new Map<string, Record<string, unknown>>();
  private running: Execution | undefined;
  private interruptFlag = false;
  private generation = 0;
  private number = 0;
  private hangAnswers = 0;
  private readonly held: ServerResponse[] = [];
  private counter = 0;
  private dir = '';

  /** Options; `stepMs` and `nodeMs` may be changed while it runs. */
  constructor(readonly opts: ComfyFakeOptions = {}) {
    const unet = opts.models?.unet ?? ['wan2.2_ti2v_5B_fp16.safetensors', 'wan2.1_flf2v_720p_14B_fp16.safetensors'];
    const clip = opts.models?.clip ?? ['umt5_xxl_fp8_e4m3fn_scaled.safetensors'];
    const vae = opts.models?.vae ?? ['wan2.2_vae.safetensors', 'wan_2.1_vae.safetensors'];
    const latent = { width: 'INT', height: 'INT', length: 'INT', batch_size: 'INT' } as const;
    this.nodes = {
      UNETLoader: { required: { unet_name: { list: unet }, weight_dtype: { list: ['default', 'fp8_e4m3fn', 'fp8_e5m2'] } } },
      CLIPLoader: { required: { clip_name: { list: clip }, type: { list: ['wan', 'ltxv', 'hunyuan_video', 'stable_diffusion'] } }, optional: { device: { list: ['default', 'cpu'] } } },
      VAELoader: { required: { vae_name: { list: vae } } },
      CLIPTextEncode: { required: { text: 'STRING', clip: 'LINK' } },
      LoadImage: { required: { image: 'IMAGEFILE' } },
      ModelSamplingSD3: { required: { model: 'LINK', shift: 'FLOAT' } },
      Wan22ImageToVideoLatent: { required: { vae: 'LINK', ...latent }, optional: { start_image: 'LINK' }, min: { width: 32, height: 32, length: 1 } },
      WanImageToVideo: { required: { positive: 'LINK', negative: 'LINK', vae: 'LINK', ...latent }, optional: { clip_vision_output: 'LINK', start_image: 'LINK' }, min: { width: 16, height: 16, length: 1 } },
      WanFirstLastFrameToVideo: { required: { positive: 'LINK', negative: 'LINK', vae: 'LINK', ...latent }, optional: { clip_vision_start_image: 'LINK', clip_vision_end_image: 'LINK', start_image: 'LINK', end_image: 'LINK' }, min: { width: 16, height: 16, length: 1 } },
      KSampler: {
        required: { model: 'LINK', seed: 'INT', steps: 'INT', cfg: 'FLOAT', sampler_name: { list: SAMPLERS }, scheduler: { list: SCHEDULERS }, positive: 'LINK', negative: 'LINK', latent_image: 'LINK', denoise: 'FLOAT' },
        min: { seed: 0, steps: 1 },
      },
      VAEDecode: { required: { samples: 'LINK', vae: 'LINK' } },
      CreateVideo: { required: { images: 'LINK', fps: 'FLOAT' }, optional: { audio: 'LINK' } },
      SaveVideo: { required: { video: 'LINK', filename_prefix: 'STRING', format: { list: ['auto', 'mp4'] }, codec: { list: ['auto', 'h264'] } }, output: true },
      VHS_VideoCombine: { required: { images: 'LINK', frame_rate: 'FLOAT', loop_count: 'INT', filename_prefix: 'STRING', format: { list: ['video/h264-mp4', 'image/gif'] }, pingpong: 'BOOLEAN', save_output: 'BOOLEAN' }, optional: { audio: 'LINK' }, output: true },
    };
  }

  get baseURL(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get inputDir(): string {
    return path.join(this.dir, 'input');
  }

  async start(): Promise<this> {
    this.dir = await mkdtemp(path.join(tmpdir(), 'comfyui-fake-'));
    await mkdir(path.join(this.dir, 'input'), { recursive: true });
    await mkdir(path.join(this.dir, 'output'), { recursive: true });
    await this.listen(this.opts.port ?? 0);
    return this;
  }

  private listen(port: number): Promise<void> {
    this.server = createServer((req, res) => {
      this.route(req, res).catch((err: unknown) => {
        if (!res.headersSent) this.json(res, 500, { error: String(err) });
        else res.destroy();
      });
    });
    this.server.on('connection', (s: Socket) => {
      this.openConns.add(s);
      s.on('close', () => this.openConns.delete(s));
    });
    this.server.on('upgrade', (req, socket, head) => this.upgrade(req, socket as Socket, head));
    return new Promise((resolve) => this.server.listen(port, '127.0.0.1', () => {
      this.port = (this.server.address() as { port: number }).port;
      resolve();
    }));
  }

  /** Stop answering (connections dropped, sockets closed); the queue and history are kept. */
  async down(): Promise<void> {
    for (const ws of this.sockets.values()) ws.terminate();
    this.sockets.clear();
    for (const r of this.held.splice(0)) r.destroy();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.openConns) s.destroy();
    await closed;
  }

  async up(): Promise<void> {
    await this.listen(this.port);
  }

  /** A restart: down, then up with an empty queue and history (ComfyUI keeps them in memory only). */
  async restart(downMs = 100): Promise<void> {
    await this.down();
    this.generation++;
    for (const e of [...this.queue, ...(this.running ? [this.running] : [])]) e.state = 'lost';
    this.queue = [];
    this.running = undefined;
    this.history.clear();
    this.number = 0;
    await new Promise((r) => setTimeout(r, downMs));
    await this.up();
  }

  /** The next n accepted prompts are queued but their answer never comes. */
  hangPromptAnswers(n: number): void {
    this.hangAnswers = n;
  }

  async close(): Promise<void> {
    this.generation++;
    await this.down();
    this.wss.close();
    await rm(this.dir, { recursive: true, force: true });
  }

  async waitFor<T>(fn: (f: this) => T | undefined | false, timeoutMs = 20_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = fn(this);
      if (v) return v;
      if (Date.now() > deadline) throw new Error('comfyui fake: condition not met in time');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  // ------------------------------------------------------------------ protocol

  private json(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  private authorised(req: IncomingMessage): boolean {
    return !this.opts.token || req.headers.authorization === `Bearer ${this.opts.token}`;
  }

  /** ComfyUI's loopback origin middleware: Origin must name the Host. */
  private originOk(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    if (!origin) return true;
    try {
      return new URL(origin).host === req.headers.host;
    } catch {
      return false;
    }
  }

  private upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const p = url.pathname.replace(/^\/api(?=\/)/, '');
    this.requests.push({ method: 'GET', path: url.pathname, query: url.search, headers: req.headers, at: Date.now() });
    const refuse = (status: number) => {
      socket.end(`HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : status === 403 ? 'Forbidden' : 'Not Found'}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    };
    if (p !== '/ws') return refuse(404);
    if (!this.authorised(req)) return refuse(401);
    if (!this.originOk(req)) return refuse(403);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const sid = url.searchParams.get('clientId') || randomUUID().replace(/-/g, '');
      // Reusing a client id replaces the older socket.
      this.sockets.get(sid)?.close();
      this.sockets.set(sid, ws);
      this.wsConnections.push(sid);
      ws.on('close', () => {
        if (this.sockets.get(sid) === ws) this.sockets.delete(sid);
      });
      ws.send(JSON.stringify({ type: 'status', data: { status: this.queueInfo(), sid } }));
    });
  }

  private queueInfo() {
    return { exec_info: { queue_remaining: this.queue.length + (this.running ? 1 : 0) } };
  }

  private send(clientId: string | undefined, type: string, data: Record<string, unknown>): void {
    if (clientId === undefined) {
      for (const ws of this.sockets.values()) ws.send(JSON.stringify({ type, data }));
      return;
    }
    this.sockets.get(clientId)?.send(JSON.stringify({ type, data }));
  }

  private async body(req: IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const p = url.pathname.replace(/^\/api(?=\/)/, '');
    const method = req.method ?? 'GET';
    this.requests.push({ method, path: url.pathname, query: url.search, headers: req.headers, at: Date.now() });
    if (!this.authorised(req)) return this.json(res, 401, { error: 'unauthorized' });
    if (!this.originOk(req)) {
      res.writeHead(403).end();
      return;
    }
    if (method === 'GET' && p === '/system_stats') {
      return this.json(res, 200, {
        system: { os: 'posix', ram_total: 8e9, ram_free: 4e9, comfyui_version: '0.3.68', python_version: '3.12.3', pytorch_version: '2.8.0+cpu', embedded_python: false, argv: ['main.py', '--cpu'] },
        devices: [{ name: 'cpu', type: 'cpu', index: null, vram_total: 8e9, vram_free: 4e9, torch_vram_total: 8e9, torch_vram_free: 4e9 }],
      });
    }
    if (method === 'GET' && p === '/object_info') {
      const info: Record<string, unknown> = {};
      for (const [name, d] of Object.entries(this.nodes)) {
        info[name] = { input: { required: d.required, optional: d.optional ?? {} }, name, display_name: name, output_node: !!d.output, category: 'fake' };
      }
      return this.json(res, 200, info);
    }
    if (method === 'POST' && p === '/prompt') return this.postPrompt(req, res);
    if (method === 'GET' && p === '/queue') {
      const item = (e: Execution) => [e.number, e.promptId, e.prompt, { client_id: e.clientId }, this.outputsOf(e.prompt)];
      return this.json(res, 200, { queue_running: this.running ? [item(this.running)] : [], queue_pending: this.queue.map(item) });
    }
    if (method === 'POST' && p === '/queue') {
      const b = JSON.parse((await this.body(req)).toString() || '{}') as { delete?: string[]; clear?: boolean };
      if (b.clear) this.queue = [];
      if (b.delete) this.queue = this.queue.filter((e) => !b.delete!.includes(e.promptId));
      res.writeHead(200).end();
      return;
    }
    if (method === 'POST' && p === '/interrupt') {
      const text = (await this.body(req)).toString();
      const b = (text ? JSON.parse(text) : {}) as { prompt_id?: string };
      if (this.running && (!b.prompt_id || b.prompt_id === this.running.promptId)) this.interruptFlag = true;
      res.writeHead(200).end();
      return;
    }
    const h = /^\/history(?:\/([^/]+))?$/.exec(p);
    if (method === 'GET' && h) {
      if (h[1]) {
        const entry = this.history.get(decodeURIComponent(h[1]));
        return this.json(res, 200, entry ? { [decodeURIComponent(h[1])]: entry } : {});
      }
      return this.json(res, 200, Object.fromEntries(this.history));
    }
    if (method === 'POST' && p === '/upload/image') return this.upload(req, res);
    if (method === 'GET' && p === '/view') return this.view(url, res);
    res.writeHead(404).end();
  }

  private async upload(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await this.body(req);
    const form = await new Request('http://x/', { method: 'POST', headers: { 'content-type': req.headers['content-type'] ?? '' }, body: raw }).formData();
    const file = form.get('image');
    if (!file || typeof file === 'string') {
      res.writeHead(400).end();
      return;
    }
    const type = String(form.get('type') ?? 'input');
    const subfolder = String(form.get('subfolder') ?? '');
    const overwrite = String(form.get('overwrite') ?? 'false') === 'true';
    if (subfolder.includes('..') || path.isAbsolute(subfolder) || type !== 'input' || !file.name || file.name.includes('/') || file.name.includes('..')) {
      res.writeHead(400).end();
      return;
    }
    const dir = path.join(this.dir, 'input', subfolder);
    await mkdir(dir, { recursive: true });
    let name = file.name;
    if (!overwrite) {
      const ext = path.extname(name);
      const stem = name.slice(0, name.length - ext.length);
      for (let i = 1; await stat(path.join(dir, name)).then(() => true, () => false); i++) name = `${stem} (${i})${ext}`;
    }
    await writeFile(path.join(dir, name), Buffer.from(await file.arrayBuffer()));
    this.json(res, 200, { name, subfolder, type });
  }

  private async view(url: URL, res: ServerResponse): Promise<void> {
    const filename = url.searchParams.get('filename') ?? '';
    const subfolder = url.searchParams.get('subfolder') ?? '';
    const type = url.searchParams.get('type') ?? 'output';
    if (!filename || filename.startsWith('/') || filename.includes('..') || subfolder.includes('..') || !['output', 'input', 'temp'].includes(type)) {
      res.writeHead(400).end();
      return;
    }
    const file = path.join(this.dir, type, subfolder, filename);
    const st = await stat(file).catch(() => undefined);
    if (!st?.isFile()) {
      res.writeHead(404).end();
      return;
    }
    if (this.viewDelayMs > 0) await new Promise((r) => setTimeout(r, this.viewDelayMs));
    const ext = path.extname(filename).toLowerCase();
    const mime = ext === '.mp4' ? 'video/mp4' : ext === '.webm' ? 'video/webm' : ext === '.png' ? 'image/png' : 'application/octet-stream';
    res.writeHead(200, { 'content-type': mime, 'content-length': st.size, 'content-disposition': `filename="${filename}"` });
    createReadStream(file).pipe(res);
  }

  // ------------------------------------------------------------------ validation

  private outputsOf(prompt: Execution['prompt']): string[] {
    return Object.keys(prompt).filter((id) => this.nodes[prompt[id]!.class_type]?.output);
  }

  private async postPrompt(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.promptRequests++;
    let b: { prompt?: unknown; client_id?: string; prompt_id?: string; number?: number; front?: boolean };
    try {
      b = JSON.parse((await this.body(req)).toString()) as typeof b;
    } catch {
      return this.json(res, 400, { error: { type: 'invalid_prompt', message: 'Invalid JSON', details: '', extra_info: {} }, node_errors: {} });
    }
    const prompt = b.prompt as Execution['prompt'] | undefined;
    if (!prompt || typeof prompt !== 'object') {
      return this.json(res, 400, { error: { type: 'no_prompt', message: 'No prompt provided', details: 'No prompt provided', extra_info: {} }, node_errors: {} });
    }
    for (const [id, n] of Object.entries(prompt)) {
      if (!n || typeof n.class_type !== 'string') {
        return this.json(res, 400, { error: { type: 'missing_node_type', message: `Node '#${id}' has no class_type. The workflow may be corrupted or a custom node may be missing.`, details: `Node ID '#${id}'`, extra_info: { node_id: id } }, node_errors: {} });
      }
      if (!this.nodes[n.class_type]) {
        const title = (n as { _meta?: { title?: string } })._meta?.title ?? n.class_type;
        return this.json(res, 400, {
          error: { type: 'missing_node_type', message: `Node '${title}' not found. The custom node may not be installed.`, details: `Node ID '#${id}'`, extra_info: { node_id: id, class_type: n.class_type, node_title: title } },
          node_errors: {},
        });
      }
    }
    const outputs = this.outputsOf(prompt);
    if (outputs.length === 0) {
      return this.json(res, 400, { error: { type: 'prompt_no_outputs', message: 'Prompt has no outputs', details: '', extra_info: {} }, node_errors: {} });
    }
    const nodeErrors: Record<string, { errors: unknown[]; dependent_outputs: string[]; class_type: string }> = {};
    const good: string[] = [];
    for (const out of outputs) {
      const bad = await this.validate(prompt, out, new Set());
      if (bad.length === 0) {
        good.push(out);
        continue;
      }
      for (const [id, errors] of bad) {
        const e = (nodeErrors[id] ??= { errors, dependent_outputs: [], class_type: prompt[id]?.class_type ?? '?' });
        e.dependent_outputs.push(out);
      }
    }
    if (good.length === 0) {
      return this.json(res, 400, { error: { type: 'prompt_outputs_failed_validation', message: 'Prompt outputs failed validation', details: '', extra_info: {} }, node_errors: nodeErrors });
    }
    const promptId = typeof b.prompt_id === 'string' && b.prompt_id ? b.prompt_id : randomUUID();
    const number = typeof b.number === 'number' ? b.number : b.front ? -this.number : this.number;
    this.number++;
    const e: Execution = { promptId, clientId: b.client_id, number, prompt, texts: [], images: [], state: 'pending' };
    this.executions.set(promptId, e);
    this.queue.push(e);
    this.queue.sort((x, y) => x.number - y.number);
    this.prompts++;
    this.send(undefined, 'status', { status: this.queueInfo() });
    void this.work();
    if (this.hangAnswers > 0) {
      this.hangAnswers--;
      this.held.push(res);
      return;
    }
    this.json(res, 200, { prompt_id: promptId, number, node_errors: nodeErrors });
  }

  /** Errors of a node and everything it depends on: [node id, errors][]. */
  private async validate(prompt: Execution['prompt'], id: string, seen: Set<string>): Promise<Array<[string, unknown[]]>> {
    if (seen.has(id)) return [];
    seen.add(id);
    const n = prompt[id]!;
    const def = this.nodes[n.class_type]!;
    const errors: unknown[] = [];
    const out: Array<[string, unknown[]]> = [];
    const all = { ...def.required, ...(def.optional ?? {}) };
    for (const [name, kind] of Object.entries(all)) {
      const v = n.inputs[name];
      const required = name in def.required;
      if (v === undefined) {
        if (required) errors.push({ type: 'required_input_missing', message: 'Required input is missing', details: name, extra_info: { input_name: name } });
        continue;
      }
      if (Array.isArray(v)) {
        const target = String(v[0]);
        if (v.length !== 2 || !prompt[target]) {
          errors.push({ type: 'bad_linked_input', message: 'Bad linked input, must be a length-2 list of [node_id, slot_index]', details: name, extra_info: { input_name: name, received_value: v } });
          continue;
        }
        out.push(...(await this.validate(prompt, target, seen)));
        continue;
      }
      const bad = (type: string, message: string, details: string) => errors.push({ type, message, details, extra_info: { input_name: name, received_value: v } });
      if (kind === 'LINK') bad('invalid_input_type', 'Input should be a link', `${name}`);
      else if (kind === 'INT' && !(typeof v === 'number' && Number.isInteger(v))) bad('invalid_input_type', 'Failed to convert an input value to a INT value', `${name}, ${String(v)}`);
      else if (kind === 'FLOAT' && typeof v !== 'number') bad('invalid_input_type', 'Failed to convert an input value to a FLOAT value', `${name}, ${String(v)}`);
      else if (kind === 'STRING' && typeof v !== 'string') bad('invalid_input_type', 'Failed to convert an input value to a STRING value', `${name}, ${String(v)}`);
      else if (kind === 'BOOLEAN' && typeof v !== 'boolean') bad('invalid_input_type', 'Failed to convert an input value to a BOOLEAN value', `${name}, ${String(v)}`);
      else if (typeof kind === 'object' && !kind.list.includes(String(v))) bad('value_not_in_list', 'Value not in list', `${name}: '${String(v)}' not in ${JSON.stringify(kind.list)}`);
      else if (kind === 'IMAGEFILE') {
        const file = path.join(this.dir, 'input', String(v));
        if (String(v).includes('..') || !(await stat(file).then((s) => s.isFile(), () => false))) {
          errors.push({ type: 'custom_validation_failed', message: 'Custom validation failed for node', details: `image - Invalid image file: ${String(v)}`, extra_info: { input_name: name } });
        }
      } else if (typeof v === 'number' && def.min?.[name] !== undefined && v < def.min[name]) {
        bad('value_smaller_than_min', `Value ${v} smaller than min of ${def.min[name]}`, `${name}`);
      }
    }
    if (errors.length > 0) out.push([id, errors]);
    return out;
  }

  // ------------------------------------------------------------------ execution

  private async work(): Promise<void> {
    if (this.running) return;
    const e = this.queue.shift();
    if (!e) return;
    this.running = e;
    const gen = this.generation;
    try {
      await this.execute(e, gen);
    } finally {
      if (this.generation === gen) this.running = undefined;
    }
    if (this.generation === gen) void this.work();
  }

  /** The nodes the outputs need, dependencies first. */
  private order(prompt: Execution['prompt']): string[] {
    const done: string[] = [];
    const visit = (id: string) => {
      if (done.includes(id) || !prompt[id]) return;
      for (const v of Object.values(prompt[id].inputs)) if (Array.isArray(v)) visit(String(v[0]));
      done.push(id);
    };
    for (const o of this.outputsOf(prompt)) visit(o);
    return done;
  }

  private async execute(e: Execution, gen: number): Promise<void> {
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const live = () => this.generation === gen;
    const ts = () => Date.now();
    const messages: Array<[string, Record<string, unknown>]> = [];
    const emit = (type: string, data: Record<string, unknown>, keep = true) => {
      if (keep) messages.push([type, data]);
      this.send(e.clientId, type, data);
    };
    e.state = 'running';
    this.interruptFlag = false;
    emit('execution_start', { prompt_id: e.promptId, timestamp: ts() });
    emit('execution_cached', { nodes: [], prompt_id: e.promptId, timestamp: ts() });
    const outputs: Record<string, unknown> = {};
    const p = e.prompt;
    const nodeOf = (cls: string[]) => Object.values(p).find((n) => cls.includes(n.class_type));
    const latent = nodeOf(['Wan22ImageToVideoLatent', 'WanImageToVideo', 'WanFirstLastFrameToVideo']);
    const sampler = nodeOf(['KSampler']);
    e.width = latent?.inputs.width as number | undefined;
    e.height = latent?.inputs.height as number | undefined;
    e.frames = latent?.inputs.length as number | undefined;
    e.seed = sampler?.inputs.seed as number | undefined;
    e.texts = Object.values(p).filter((n) => n.class_type === 'CLIPTextEncode').map((n) => String(n.inputs.text));
    e.images = Object.values(p).filter((n) => n.class_type === 'LoadImage').map((n) => String(n.inputs.image));
    let failure: Record<string, unknown> | undefined;
    let interrupted: Record<string, unknown> | undefined;
    const executed: string[] = [];
    for (const id of this.order(p)) {
      if (!live()) return;
      const n = p[id]!;
      emit('executing', { node: id, display_node: id, prompt_id: e.promptId }, false);
      if (n.class_type === 'KSampler') {
        const steps = Number(n.inputs.steps);
        for (let i = 1; i <= steps; i++) {
          await sleep(this.opts.stepMs ?? 10);
          if (!live()) return;
          if (this.interruptFlag) {
            interrupted = { prompt_id: e.promptId, node_id: id, node_type: n.class_type, executed, timestamp: ts() };
            break;
          }
          if (i === Math.ceil(steps / 2) && e.texts.some((t) => t.includes('[[comfy: oom]]'))) {
            failure = {
              prompt_id: e.promptId,
              node_id: id,
              node_type: n.class_type,
              executed,
              exception_message: 'Allocation on device 0 would exceed allowed memory. (out of memory)\nCurrently allocated     : 22.10 GiB',
              exception_type: 'torch.OutOfMemoryError',
              traceback: ['  File "/comfy/execution.py", line 496, in execute\n'],
              current_inputs: {},
              current_outputs: {},
              timestamp: ts(),
            };
            break;
          }
          emit('progress', { value: i, max: steps, prompt_id: e.promptId, node: id }, false);
          if (i === 1) {
            // A preview: 4-byte event type 1, 4-byte image type, then the image bytes.
            const frame = Buffer.alloc(8 + 4);
            frame.writeUInt32BE(1, 0);
            frame.writeUInt32BE(2, 4);
            this.sockets.get(e.clientId ?? '')?.send(frame);
          }
        }
        if (failure || interrupted) break;
      } else {
        await sleep(this.opts.nodeMs ?? 1);
      }
      if (n.class_type === 'CreateVideo') e.fps = Number(n.inputs.fps);
      if (n.class_type === 'VHS_VideoCombine') e.fps = Number(n.inputs.frame_rate);
      if (this.nodes[n.class_type]!.output) {
        const ui = await this.render(e, n);
        if (!live()) return;
        outputs[id] = ui;
        e.executedAt = Date.now();
        emit('executed', { node: id, display_node: id, output: ui, prompt_id: e.promptId }, false);
      }
      executed.push(id);
    }
    if (!live()) return;
    let statusStr = 'success';
    if (interrupted) {
      emit('execution_interrupted', interrupted);
      statusStr = 'error';
      e.state = 'interrupted';
    } else if (failure) {
      emit('execution_error', failure);
      statusStr = 'error';
      e.state = 'error';
    } else {
      emit('execution_success', { prompt_id: e.promptId, timestamp: ts() });
      e.state = 'success';
    }
    // task_done: the history entry, then the queue's new size to everyone, then node null to the client.
    this.history.set(e.promptId, {
      prompt: [e.number, e.promptId, p, { client_id: e.clientId }, this.outputsOf(p)],
      outputs,
      status: { status_str: statusStr, completed: statusStr === 'success', messages },
      meta: Object.fromEntries(Object.keys(outputs).map((id) => [id, { node_id: id, display_node: id, parent_node: null, real_node_id: id }])),
    });
    this.running = undefined;
    this.send(undefined, 'status', { status: this.queueInfo() });
    if (!this.skipNodeNull) this.send(e.clientId, 'executing', { node: null, prompt_id: e.promptId });
  }

  private async render(e: Execution, n: { class_type: string; inputs: Record<string, unknown> }): Promise<Record<string, unknown>> {
    const width = e.width ?? 512;
    const height = e.height ?? 512;
    const frames = e.frames ?? 25;
    const fps = e.fps ?? 24;
    const prefix = String(n.inputs.filename_prefix ?? 'ComfyUI');
    const subfolder = path.dirname(prefix) === '.' ? '' : path.dirname(prefix);
    const filename = `${path.basename(prefix)}_${String(++this.counter).padStart(5, '0')}_.mp4`;
    const dir = path.join(this.dir, 'output', subfolder);
    await mkdir(dir, { recursive: true });
    const colour = ((e.seed ?? 0) * 2654435761) % 0xffffff;
    await new Promise<void>((resolve, reject) => {
      const args = ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', `color=c=0x${colour.toString(16).padStart(6, '0')}:s=${width}x${height}:r=${fps}`, '-frames:v', String(frames), '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-movflags', '+faststart', '-y', path.join(dir, filename)];
      const child = spawn(FFMPEG, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`ffmpeg failed: ${err}`))));
    });
    e.output = { filename, subfolder, type: 'output' };
    if (n.class_type === 'VHS_VideoCombine') {
      return { gifs: [{ filename, subfolder, type: 'output', format: 'video/h264-mp4', frame_rate: fps, workflow: `${path.basename(prefix)}.png`, fullpath: path.join(dir, filename) }] };
    }
    return { images: [{ filename, subfolder, type: 'output' }], animated: [true] };
  }
}

export async function startComfyUIFake(opts: ComfyFakeOptions = {}): Promise<ComfyUIFake> {
  return new ComfyUIFake(opts).start();
}
