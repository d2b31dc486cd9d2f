import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { EXAMPLE_WORKFLOW } from '../helpers/comfyui.js';
import type { ComfyUIFake } from './comfyui-fake.js';
import { startComfyUIFake } from './comfyui-fake.js';

/** The ComfyUI fake itself speaks the protocol as upstreams.md §10 / §16 describe it. */
describe('comfyui fake', () => {
  let fake: ComfyUIFake;
  beforeAll(async () => {
    fake = await startComfyUIFake({ stepMs: 2 });
  });
  afterAll(async () => {
    await fake?.close();
  });

  const workflow = async () => {
    const wf = JSON.parse(await readFile(EXAMPLE_WORKFLOW, 'utf8')) as Record<string, { class_type: string; inputs: Record<string, unknown> }>;
    delete wf['56'];
    delete wf['55']!.inputs.start_image;
    wf['6']!.inputs.text = 'hello';
    wf['55']!.inputs = { ...wf['55']!.inputs, width: 64, height: 48, length: 5 };
    wf['3']!.inputs.steps = 3;
    return wf;
  };

  it('sends the events of a prompt in ComfyUI’s order, with the history written before executing{node:null}', async () => {
    const ws = new WebSocket(`${fake.baseURL.replace('http', 'ws')}/ws?clientId=c1`);
    const events: Array<{ type: string; data: Record<string, unknown> }> = [];
    let binary = 0;
    let historyAtNull: unknown;
    ws.on('message', (d, isBinary) => {
      if (isBinary) {
        binary++;
        expect((d as Buffer).readUInt32BE(0)).toBe(1);
        return;
      }
      const m = JSON.parse(d.toString()) as { type: string; data: Record<string, unknown> };
      events.push(m);
      if (m.type === 'executing' && m.data.node === null) {
        void fetch(`${fake.baseURL}/history/${String(m.data.prompt_id)}`).then(async (r) => (historyAtNull = await r.json()));
      }
    });
    await new Promise((r) => ws.once('open', r));
    const res = await fetch(`${fake.baseURL}/api/prompt`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: await workflow(), client_id: 'c1', prompt_id: 'p-1' }) });
    expect(await res.json()).toEqual({ prompt_id: 'p-1', number: 0, node_errors: {} });
    await fake.waitFor(() => historyAtNull);
    ws.close();
    const types = events.map((e) => e.type);
    expect(types[0]).toBe('status');
    expect(events[0]!.data.sid).toBe('c1');
    const order = ['execution_start', 'execution_cached', 'executing', 'progress', 'executed', 'execution_success'];
    let at = 0;
    for (const t of order) {
      const i = types.indexOf(t, at);
      expect(i, t).toBeGreaterThanOrEqual(at);
      at = i;
    }
    expect(types.at(-1)).toBe('executing');
    expect(events.filter((e) => e.type === 'progress').map((e) => e.data.value)).toEqual([1, 2, 3]);
    expect(binary).toBe(1);
    const entry = (historyAtNull as Record<string, { status: { status_str: string; completed: boolean }; outputs: Record<string, { images: unknown[]; animated: boolean[] }> }>)['p-1']!;
    expect(entry.status).toMatchObject({ status_str: 'success', completed: true });
    expect(entry.outputs['58']!.animated).toEqual([true]);
    const file = entry.outputs['58']!.images[0] as { filename: string; subfolder: string; type: string };
    const view = await fetch(`${fake.baseURL}/view?${new URLSearchParams(file as unknown as Record<string, string>).toString()}`);
    expect(view.headers.get('content-type')).toBe('video/mp4');
    expect(Buffer.from(await view.arrayBuffer()).subarray(4, 8).toString()).toBe('ftyp');
    expect((await fetch(`${fake.baseURL}/view?filename=../secret&type=output`)).status).toBe(400);
    expect((await fetch(`${fake.baseURL}/view?filename=none.mp4&type=output`)).status).toBe(404);
  });

  it('refuses graphs the way ComfyUI does, and a foreign Origin', async () => {
    const post = (body: unknown, headers: Record<string, string> = {}) => fetch(`${fake.baseURL}/prompt`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    const wf = await workflow();
    const missing = await post({ prompt: { ...wf, '99': { class_type: 'RIFE VFI', inputs: {} } } });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ error: { type: 'missing_node_type', details: "Node ID '#99'" }, node_errors: {} });
    const invalid = await post({ prompt: { ...wf, '37': { class_type: 'UNETLoader', inputs: { unet_name: 'nope.safetensors', weight_dtype: 'default' } } } });
    expect(invalid.status).toBe(400);
    const body = (await invalid.json()) as { error: { type: string }; node_errors: Record<string, { class_type: string; errors: Array<{ type: string; details: string }>; dependent_outputs: string[] }> };
    expect(body.error.type).toBe('prompt_outputs_failed_validation');
    expect(body.node_errors['37']).toMatchObject({ class_type: 'UNETLoader', dependent_outputs: ['58'], errors: [{ type: 'value_not_in_list' }] });
    expect((await post({})).status).toBe(400);
    expect((await post({ prompt: wf }, { origin: 'http://evil.example' })).status).toBe(403);
    const queue = (await (await fetch(`${fake.baseURL}/queue`)).json()) as { queue_running: unknown[]; queue_pending: unknown[] };
    expect(queue).toHaveProperty('queue_pending');
  });
});
