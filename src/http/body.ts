import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError, invalid } from '../core/errors.js';
import { routeOf } from './types.js';

export interface UploadedFile {
  filename: string;
  mimetype: string;
  data: Buffer;
}

export interface RequestBody {
  /** Fields with bracket keys rebuilt into objects/arrays; multipart values are strings. */
  fields: Record<string, unknown>;
  files: Map<string, UploadedFile>;
  /** File parts of the list fields (`fileLists`), in the order sent. */
  fileLists: Map<string, UploadedFile[]>;
  multipart: boolean;
}

const UNSAFE_KEYS = new Set(['__proto__', 'prototype', 'constructor']);

/**
 * Put a form value at its bracket path: `input_reference[image_url]` → {input_reference:{image_url}},
 * `tags[]` → {tags:[…]}. Unsafe segments (prototype pollution) are dropped.
 */
export function setFormValue(target: Record<string, unknown>, name: string, value: unknown): void {
  const segments = name.match(/^[^[\]]+|\[[^[\]]*\]/g);
  if (!segments || segments.join('') !== name) {
    if (!UNSAFE_KEYS.has(name)) target[name] = value;
    return;
  }
  const keys = segments.map((s) => (s.startsWith('[') ? s.slice(1, -1) : s));
  if (keys.some((k) => UNSAFE_KEYS.has(k))) return;
  let node: Record<string, unknown> | unknown[] = target;
  keys.forEach((key, i) => {
    const last = i === keys.length - 1;
    const nextIsArray = !last && keys[i + 1] === '';
    if (Array.isArray(node)) {
      if (last) node.push(value);
      else {
        const child = nextIsArray ? [] : {};
        node.push(child);
        node = child;
      }
      return;
    }
    if (last) {
      node[key] = value;
      return;
    }
    const existing = node[key];
    if (typeof existing !== 'object' || existing === null) node[key] = nextIsArray ? [] : {};
    node = node[key] as Record<string, unknown> | unknown[];
  });
}

/**
 * Read a create-style body: JSON, or multipart/form-data whose file parts named in `fileFields`
 * are buffered (up to maxFileBytes; anything larger is a 400 naming the field) and whose other
 * file parts are skipped.
 */
export async function readBody(
  req: FastifyRequest,
  opts: { fileFields: string[]; maxFileBytes: number; /** Fields that take several file parts (`reference_images[]`). */ fileLists?: string[] },
): Promise<RequestBody> {
  if (!req.isMultipart()) {
    const body = req.body;
    if (body === undefined || body === null) return { fields: {}, files: new Map(), fileLists: new Map(), multipart: false };
    if (typeof body !== 'object' || Array.isArray(body)) {
      throw invalid(null, 'The request body must be a JSON object.', 'invalid_json');
    }
    return { fields: body as Record<string, unknown>, files: new Map(), fileLists: new Map(), multipart: false };
  }
  const fields: Record<string, unknown> = {};
  const files = new Map<string, UploadedFile>();
  const fileLists = new Map<string, UploadedFile[]>();
  const lists = opts.fileLists ?? [];
  let current: string | null = null;
  try {
    for await (const part of req.parts()) {
      current = part.fieldname || null;
      if (!part.fieldname) throw invalid(null, 'Every multipart part needs a name (Content-Disposition: form-data; name="…").', 'invalid_multipart');
      if (part.type === 'file') {
        const listed = lists.includes(part.fieldname);
        if ((!listed && !opts.fileFields.includes(part.fieldname)) || files.has(part.fieldname)) {
          part.file.resume();
          continue;
        }
        const file = { filename: part.filename, mimetype: part.mimetype, data: await part.toBuffer() };
        if (listed) fileLists.set(part.fieldname, [...(fileLists.get(part.fieldname) ?? []), file]);
        else files.set(part.fieldname, file);
      } else {
        if (part.valueTruncated) {
          throw invalid(part.fieldname, `'${part.fieldname}' is too long.`, 'string_above_max_length');
        }
        setFormValue(fields, part.fieldname, part.value);
      }
    }
  } catch (err) {
    throw multipartError(err, current, opts.maxFileBytes);
  }
  return { fields, files, fileLists, multipart: true };
}

export function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${+(n / (1024 * 1024)).toFixed(1)} MB`;
  if (n >= 1024) return `${+(n / 1024).toFixed(1)} KB`;
  return `${n} bytes`;
}

/**
 * Whatever goes wrong while reading a multipart body is the request's fault (no boundary, a
 * boundary that does not match, a truncated body, a part without a name, too many parts): a 4xx
 * naming the part when there is one, never a 500.
 */
function multipartError(err: unknown, part: string | null, maxFileBytes: number): ApiError {
  if (err instanceof ApiError) return err;
  const e = err as { code?: string; message?: string; statusCode?: number };
  if (e.code === 'FST_REQ_FILE_TOO_LARGE') {
    return new ApiError({ status: 400, type: 'invalid_request_error', param: part, code: 'file_too_large', message: `'${part}' is too large: the limit is ${formatBytes(maxFileBytes)}.` });
  }
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || e.statusCode === 413) {
    return new ApiError({ status: 413, type: 'invalid_request_error', code: 'request_too_large', message: 'The request body is too large.' });
  }
  const limits: Record<string, string> = { FST_PARTS_LIMIT: 'parts', FST_FILES_LIMIT: 'files', FST_FIELDS_LIMIT: 'fields' };
  if (e.code && limits[e.code]) return invalid(null, `The multipart body has too many ${limits[e.code]}.`, 'invalid_multipart');
  const reason = (e.message ?? 'unreadable').replace(/^Multipart:\s*/i, '').slice(0, 200);
  return invalid(part, `The multipart/form-data body could not be read (${reason}): check the boundary in Content-Type and that the body is complete.`, 'invalid_multipart');
}

/**
 * A multipart body announcing more than the route takes is refused at once with a 413, before
 * any of it is read (JSON bodies get this from Fastify's body limit).
 */
export function registerBodyLimits(app: FastifyInstance): void {
  app.addHook('onRequest', (req, _reply, done) => {
    const length = Number(req.headers['content-length']);
    const limit = routeOf(req).bodyLimit;
    if (length > limit && /^multipart\//i.test(req.headers['content-type'] ?? '')) {
      done(new ApiError({ status: 413, type: 'invalid_request_error', code: 'request_too_large', message: `The request body is too large: this route takes at most ${formatBytes(limit)}.`, headers: { connection: 'close' } }));
      return;
    }
    done();
  });
}
