/**
 * The richer request reaching upstreams: the openai-compatible adapter sends the extra fields
 * only where the channel says its upstream takes them (and refuses, at create time, a request
 * that needs one it cannot send); the apimart adapter maps them onto apimart's fields.
 */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApimartFake, OpenAIVideosFake } from '../fakes/index.js';
import { startApimartFake, startOpenAIVideosFake } from '../fakes/index.js';
import type { TestGateway } from '../helpers/gateway.js';
import { channel, createVideo, startWithChannels, waitAllTerminal } from '../helpers/upstreams.js';
import { TEST_MODELS } from '../helpers/video-models.js';

describe('extra fields upstream', () => {
  let rich: OpenAIVideosFake;
  let plain: OpenAIVideosFake;
  let apimart: ApimartFake;
  let gw: TestGateway;

  beforeAll(async () => {
    const script = { queuedMs: 50, runMs: 300 };
    const sizes = ['1280x720', '720x1280', '1920x1080', '1080x1920', '720x720'];
    [rich, plain, apimart] = await Promise.all([
      startOpenAIVideosFake({ flavor: 'openai', script, sizes, seconds: ['4', '6', '8'], validateReferenceSize: false }),
      startOpenAIVideosFake({ flavor: 'openai', script, sizes, seconds: ['4', '8'] }),
      startApimartFake({ script }),
    ]);
    gw = await startWithChannels(
      [
        channel('rich', 'openai-compatible', rich.baseURL, {
          models: ['test-veo'],
          options: { body: 'json', extra_fields: ['aspect_ratio', 'resolution', 'duration', 'generate_audio', 'negative_prompt', 'seed', 'last_frame', 'reference_images', 'metadata'] },
        }),
        channel('plain', 'openai-compatible', plain.baseURL, { models: ['test-vidu-ref'] }),
        channel('apimart', 'apimart', apimart.baseURL, { models: [{ model: 'test-kling', upstream_model: 'kling-v3' }] }),
      ],
      { models: TEST_MODELS },
    );
  });
  afterAll(async () => {
    await gw?.close();
    await Promise.all([rich, plain, apimart].map((f) => f?.close()));
  });

  const png = async (c: string) => `data:image/png;base64,${(await sharp({ create: { width: 320, height: 180, channels: 3, background: c } }).png().toBuffer()).toString('base64')}`;

  it('openai-compatible with extra_fields: every field the request has is sent, in the JSON body', async () => {
    const r = await createVideo(gw, gw.key, {
      model: 'test-veo', prompt: 'a harbour', aspect_ratio: '16:9', resolution: '1080p', duration: 4, generate_audio: true,
      negative_prompt: 'blur', seed: 9, metadata: { person_generation: 'allow_adult' },
      input_reference: await png('#ff0000'), last_frame: await png('#0000ff'),
    });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const done = await waitAllTerminal(gw, gw.key, [r.json.id as string]);
    expect(done.get(r.json.id as string)!.status).toBe('completed');
    const body = rich.submissions[0]!.body as Record<string, unknown>;
    expect(body).toMatchObject({
      model: 'test-veo', seconds: '4', size: '1920x1080', aspect_ratio: '16:9', resolution: '1080p', duration: 4, generate_audio: true,
      negative_prompt: 'blur', seed: 9, metadata: { person_generation: 'allow_adult' },
    });
    expect((body.input_reference as { image_url: string }).image_url).toMatch(/^data:image\/png;base64,/);
    expect((body.last_frame as { image_url: string }).image_url).toMatch(/^data:image\/png;base64,/);
  });

  it('openai-compatible without them: OpenAI’s fields only, and a request that needs more is a 400 before any hold', async () => {
    const ok = await createVideo(gw, gw.key, { model: 'test-vidu-ref', prompt: 'a lake', seconds: '8', size: '720x1280' });
    expect(ok.status, JSON.stringify(ok.json)).toBe(200);
    await waitAllTerminal(gw, gw.key, [ok.json.id as string]);
    expect(Object.keys(plain.submissions[0]!.body as object).sort()).toEqual(['model', 'prompt', 'seconds', 'size']);
    const refused = await createVideo(gw, gw.key, { model: 'test-vidu-ref', prompt: 'x', reference_images: [await png('#00ff00')] });
    expect(refused.status).toBe(400);
    expect(refused.json.error).toMatchObject({ param: 'reference_images', code: 'unsupported_by_upstream' });
    expect(plain.submissions).toHaveLength(1);
  });

  it('apimart: frames as image_urls [first, last], resolution, mode, audio, negative prompt and the model’s options flat', async () => {
    const r = await createVideo(gw, gw.key, {
      model: 'test-kling', prompt: 'a field', aspect_ratio: '1:1', resolution: '1080p', duration: 10, mode: 'pro', generate_audio: true,
      negative_prompt: 'text', metadata: { cfg_scale: 0.3 }, input_reference: await png('#ff0000'), last_frame: await png('#0000ff'),
    });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    await waitAllTerminal(gw, gw.key, [r.json.id as string]);
    const body = apimart.submissions[0]!.body;
    expect(body).toMatchObject({ model: 'kling-v3', duration: 10, aspect_ratio: '1:1', resolution: '1080p', mode: 'pro', generate_audio: true, negative_prompt: 'text', cfg_scale: 0.3 });
    expect(body.image_urls as string[]).toHaveLength(2);
  });
});
