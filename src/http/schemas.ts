/** Small Zod pieces the answers of several routes share (documentation and contract tests read them). */
import { z } from 'zod';

/** Unix seconds. */
export const unix = z.number().int();
export const unixOrNull = unix.nullable();

/** A task failure as clients see it. */
export const taskError = z.object({ code: z.string(), message: z.string() }).meta({ id: 'TaskError' });

/** OpenAI-style cursor page: {object:'list', data, first_id, last_id, has_more}. */
export const pageOf = <T extends z.ZodType>(item: T) =>
  z.object({
    object: z.literal('list'),
    data: z.array(item),
    first_id: z.string().nullable(),
    last_id: z.string().nullable(),
    has_more: z.boolean(),
  });

/** A plain list: {object:'list', data}. */
export const listOf = <T extends z.ZodType>(item: T) => z.object({ object: z.literal('list'), data: z.array(item) });

/** Money in USD (decimals of micro-dollars). */
export const usd = z.number();
