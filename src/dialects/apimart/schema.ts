/**
 * The body of POST /v1/videos/generations, as Zod: validated by route() before the handler's
 * checks that need the catalogue (parseGeneration), and the source of the OpenAPI description.
 */
import { z } from 'zod';

const describe = (v: unknown): string => (typeof v === 'string' ? `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}` : Array.isArray(v) ? 'an array' : v === null ? 'null' : `a ${typeof v}`);

export const apimartCreateBody = z
  .object({
    model: z.string().optional().meta({ description: 'The video model (default sora-2-preview); GET /v1/models lists them.', examples: ['sora-2-preview'] }),
    prompt: z.string().meta({ description: 'What the video shows.', examples: ['A calico cat playing a piano on stage'] }),
    duration: z
      .number({
        error: (iss) =>
          typeof iss.input === 'string' && /^\s*\d+\s*$/.test(iss.input)
            ? `duration must be an integer, but got ${describe(iss.input)}. Send ${iss.input.trim()} without quotes.`
            : undefined,
      })
      .optional()
      .meta({ description: 'Clip length in seconds, an integer; which lengths depend on the model.' }),
    aspect_ratio: z.string().optional().meta({ description: 'landscape or 16:9, portrait or 9:16 (square or 1:1 where the model makes it). A reference image\'s own orientation wins.' }),
    resolution: z.string().optional().meta({ description: "'standard' (720p) or 'high' (1024p), or a pixel name (720p, 1024p, 1080p), as the model offers." }),
    image_urls: z
      .array(z.string({ error: (iss) => `${iss.path?.length ? `image_urls[${String(iss.path[iss.path.length - 1])}]` : 'image_urls[]'} must be a non-empty URL string, but got ${describe(iss.input)}.` }), {
        error: (iss) => `image_urls must be an array of image URLs (e.g. ["https://example.com/reference.jpg"]), but got ${describe(iss.input)}.`,
      })
      .optional()
      .meta({ description: 'Reference images (http(s) URLs); the first is used as the first frame.' }),
    callback_url: z.string().optional().meta({ description: 'An https URL that receives the task\'s events, signed with the key\'s callback secret.' }),
  })
  .meta({ id: 'ApimartCreateGeneration' });
