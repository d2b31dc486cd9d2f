/**
 * The body of POST /v1/videos (JSON or multipart/form-data), as Zod: validated by route() before
 * the handler's checks that need the catalogue (which model, which sizes and durations it makes),
 * and the source of the OpenAPI description.
 */
import { z } from 'zod';
import type { Catalog } from '../../core/catalog.js';
import { sizesOf } from '../../core/catalog.js';
import { PROMPT_MAX } from './validate.js';

const imageUrlObject = z
  .object({
    image_url: z.string().optional().meta({ description: 'A base64 data URL or an http(s) URL of a JPEG, PNG or WebP image.' }),
    file_id: z.string().optional().meta({ description: 'Not supported by this gateway (a 400 says so).' }),
  })
  .meta({ description: 'In multipart, sent as input_reference[image_url].' });

/** The create body; the model's own limits (durations, sizes) are checked by validate.ts. */
export function openaiCreateBody(catalog: Catalog) {
  const models = catalog.list();
  const sizes = [...new Set(models.flatMap((m) => sizesOf(m)))];
  return z
    .object({
      prompt: z.string().meta({ description: `What the video shows (1 to ${PROMPT_MAX} characters).`, examples: ['A calico cat playing a piano on stage'] }),
      model: z.string().optional().meta({ description: `The video model (default sora-2). This gateway serves: ${models.map((m) => m.id).join(', ')}.` }),
      seconds: z
        .string()
        .regex(/^\d{1,4}$/)
        .optional()
        .meta({ description: 'Clip length in seconds, as a string; which lengths depend on the model (GET /v1/models). Default: the model\'s first.' }),
      size: z.string().optional().meta({ description: `Width x height; which sizes depend on the model. ${sizes.length <= 16 ? `Sizes on this gateway: ${sizes.join(', ')}.` : 'GET /v1/models lists each model\'s sizes.'}` }),
      input_reference: z
        .union([imageUrlObject, z.string()])
        .optional()
        .meta({ description: 'An image the video starts from: {image_url} (a data URL or an http(s) URL), or that URL as a string; in multipart, a file part (a data URL or an http(s) URL), or that URL as a string.' }),
      callback_url: z.string().optional().meta({ description: 'An https URL that receives the video.* events of this video, signed with the key\'s callback secret.' }),
    })
    .meta({ id: 'OpenAICreateVideo' });
}

/** POST /v1/videos/{id}/remix. */
export const openaiRemixBody = z.object({
  prompt: z.string().meta({ description: 'What to change in the source video.' }),
  callback_url: z.string().optional(),
});
