import type { ErrorRenderer } from '../../http/errors.js';

/**
 * apimart's HTTP error envelope: the HTTP status repeated as `code` (apimart answers
 * `{"code":200,"data":…}` on success) and the OpenAI-style error object that apimart documents
 * (`{"error":{"message","type","code","param"}}`, spec §3.6), which its official client reads.
 */
export const apimartErrorBody: ErrorRenderer = (err) => ({
  code: err.status,
  error: { message: err.message, type: err.type, code: err.code, param: err.param },
});
