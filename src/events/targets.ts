import { invalid } from '../core/errors.js';
import type { ApiError } from '../core/errors.js';
import { checkUrl } from '../net/ssrf.js';
import type { NetPolicy, UrlRefusal } from '../net/ssrf.js';

/** Longest webhook or callback URL accepted. */
export const MAX_URL_LENGTH = 2048;

const HINT = ' (The operator of this gateway can allow internal hosts with VIDGATE_ALLOW_HOSTS or VIDGATE_ALLOW_CIDRS.)';

function refusal(param: string, why: UrlRefusal): ApiError {
  switch (why) {
    case 'scheme':
      return invalid(param, `'${param}' must be an http or https URL.`, 'invalid_url');
    case 'credentials':
      return invalid(param, `'${param}' must not contain a user name or password.`, 'invalid_url');
    case 'invalid':
      return invalid(param, `'${param}' is not a valid URL.`, 'invalid_url');
    case 'loopback':
      return invalid(param, `'${param}' points to localhost, which is not allowed.${HINT}`, 'url_not_allowed');
    case 'metadata':
      return invalid(param, `'${param}' points to a cloud metadata service, which is not allowed.`, 'url_not_allowed');
    default:
      return invalid(param, `'${param}' points to a private or reserved network address, which is not allowed.${HINT}`, 'url_not_allowed');
  }
}

/**
 * A webhook target URL as given by a caller: http(s), no credentials, at most 2048 characters,
 * and not a literal private address or a name that always means this machine, unless the
 * operator allows it. Names are resolved (and every address checked) at delivery time.
 */
export function parseWebhookUrl(value: unknown, param: string, policy: NetPolicy): string {
  if (typeof value !== 'string') {
    throw invalid(param, `Invalid type for '${param}': expected an http or https URL (a string).`, 'invalid_type');
  }
  const text = value.trim();
  if (text === '') throw invalid(param, `'${param}' must not be empty.`, 'empty_string');
  if (text.length > MAX_URL_LENGTH) {
    throw invalid(param, `'${param}' is too long: at most ${MAX_URL_LENGTH} characters.`, 'string_above_max_length');
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw refusal(param, 'invalid');
  }
  const why = checkUrl(url, policy);
  if (why) throw refusal(param, why);
  url.hash = '';
  return url.href;
}

/**
 * The optional one-off `callback_url` of a create request (both dialects): undefined when absent,
 * else a checked URL for TaskParams.callbackUrl; a bad one is a 400 naming `callback_url`.
 */
export function parseCallbackUrl(value: unknown, policy: NetPolicy): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  return parseWebhookUrl(value, 'callback_url', policy);
}
