// @switchyard/plugin-sdk: the helpers a Switchyard plugin written in JavaScript or TypeScript
// needs, over the `switchyard:plugin@0.3.0` contract (wit/handler.wit). The same helpers as the
// Rust SDK: forward, forwardJson, emit, drop, config, log, kv, and errors that say
// retry-later or fail. Outbound HTTP is the global `fetch`: the gateway sends each request
// only to the plugin's `allowed_hosts`.
//
// A plugin exports `handle`, wrapped in `handler` so a thrown exception becomes a `fail` (an
// unwrapped JavaScript Error would trap the instance):
//
//   import { handler, forwardJson, drop, log } from '@switchyard/plugin-sdk';
//   export const handle = handler((event) => {
//     const body = event.json();
//     if (body.data?.type !== 'order') return [drop('not an order')];
//     return [forwardJson({ order: body.data.id })];
//   });

import { log as hostLog } from 'switchyard:plugin/log@0.3.0';
import { get as configGet, all as configAll } from 'switchyard:plugin/config@0.3.0';
import * as hostKv from 'switchyard:plugin/kv@0.3.0';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Bytes for a body: a string is UTF-8, a typed array or ArrayBuffer is taken as it is. */
export function bytes(body) {
  if (typeof body === 'string') return encoder.encode(body);
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  throw new TypeError('a body is a string, a Uint8Array or an ArrayBuffer');
}

function headerList(headers) {
  if (!headers) return [];
  if (Array.isArray(headers)) return headers.map(([k, v]) => [String(k), String(v)]);
  return Object.entries(headers).map(([k, v]) => [k, String(v)]);
}

/**
 * Forward to the route's destinations (or `destination`), with the event's body or `body`,
 * and extra `headers` (an object or a list of pairs). With `orderKey`, the route's deliveries
 * to one destination that share the key go out one at a time, in order.
 */
export function forward(body, { destination, headers, orderKey } = {}) {
  return {
    tag: 'forward',
    val: {
      destination,
      body: body === undefined ? undefined : bytes(body),
      headers: headerList(headers),
      orderKey: orderKey === undefined ? undefined : String(orderKey),
    },
  };
}

/** Forward `value` as a JSON body (content-type application/json). */
export function forwardJson(value, { destination, headers, orderKey } = {}) {
  const all = [['content-type', 'application/json'], ...headerList(headers)];
  return forward(JSON.stringify(value), { destination, headers: all, orderKey });
}

/** A derived event of `scope`, routed again as if it had arrived on the same source. */
export function emit(scope, body) {
  return { tag: 'emit', val: { scope, body: bytes(body) } };
}

/** Do nothing with the event, saying why (the host logs the reason). */
export function drop(reason) {
  return { tag: 'drop', val: String(reason) };
}

/** An error the host understands: thrown from `handle`, it becomes the call's result. */
export class PluginError extends Error {
  constructor(tag, message) {
    super(message);
    this.name = 'PluginError';
    this.payload = { tag, val: message };
  }
}

/** A passing problem (an upstream is down): the host calls again later. */
export function retryLater(message) {
  return new PluginError('retry-later', String(message));
}

/** The event can never be handled: it is dead-lettered. */
export function fail(message) {
  return new PluginError('fail', String(message));
}

/**
 * Wraps a plugin's `handle(event)`: the event gets `json()`, `text()`, `param(name)` and
 * `header(name)`; a `PluginError` thrown becomes the call's error, any other exception a
 * `fail` with its message. The function may be async (an `await fetch(…)` inside).
 */
export function handler(fn) {
  return async (event) => {
    try {
      return await fn(wrapEvent(event));
    } catch (e) {
      if (e instanceof PluginError) throw e.payload;
      if (e && typeof e === 'object' && typeof e.tag === 'string' && 'val' in e) throw e;
      throw { tag: 'fail', val: `${e?.name ?? 'Error'}: ${e?.message ?? String(e)}` };
    }
  };
}

function wrapEvent(event) {
  return Object.assign(Object.create(eventMethods), event);
}

const eventMethods = {
  /** The body as text (UTF-8). */
  text() {
    return decoder.decode(this.body);
  },
  /** The body parsed as JSON; a `fail` if it is not JSON. */
  json() {
    try {
      return JSON.parse(decoder.decode(this.body));
    } catch (e) {
      throw fail(`body is not JSON: ${e.message}`);
    }
  },
  /** A value captured by a `{name}` segment of the route's pattern. */
  param(name) {
    return this.params.find(([k]) => k === name)?.[1];
  },
  /** A request header, by case-insensitive name. */
  header(name) {
    const lower = name.toLowerCase();
    return this.headers.find(([k]) => k.toLowerCase() === lower)?.[1];
  },
};

/** Logging into the host's span for the current event. */
export const log = {
  trace: (message) => hostLog('trace', String(message)),
  debug: (message) => hostLog('debug', String(message)),
  info: (message) => hostLog('info', String(message)),
  warn: (message) => hostLog('warn', String(message)),
  error: (message) => hostLog('error', String(message)),
};

/** The plugin's `config` table from routes.toml: strings as they are, other values as JSON text. */
export const config = {
  get: (key) => configGet(key),
  all: () => configAll(),
  /** A value parsed as JSON (a string that is not JSON comes back as itself). */
  json(key) {
    const raw = configGet(key);
    if (raw === undefined) return undefined;
    try {
      return JSON.parse(raw);
    } catch {
      return raw;
    }
  },
};

/** Maps a kv error to the plugin error it means: a store that cannot be read is worth a retry. */
function kvCall(call) {
  try {
    return call();
  } catch (e) {
    const error = e?.payload ?? e;
    switch (error?.tag) {
      case 'unavailable':
        throw retryLater(`kv: ${error.val}`);
      case 'value-too-large':
        throw fail(`kv: a value is larger than kv_max_value = ${error.val} bytes`);
      case 'too-many-keys':
        throw fail(`kv: the plugin already holds kv_max_keys = ${error.val} keys`);
      case 'invalid-key':
        throw fail('kv: keys are 1 to 512 bytes');
      case 'not-a-number':
        throw fail('kv: increment of a value that is not a decimal integer');
      default:
        throw e;
    }
  }
}

/**
 * The plugin's own key–value state. Reads see what is committed plus this call's writes;
 * writes are committed with the event's outcome (a call that fails leaves nothing behind).
 */
export const kv = {
  /** The bytes under `key`, or undefined. */
  get: (key) => kvCall(() => hostKv.get(key)),
  /** The value under `key` as text, or undefined. */
  getString(key) {
    const value = kvCall(() => hostKv.get(key));
    return value === undefined ? undefined : decoder.decode(value);
  },
  /** Sets `key` to `value` (a string or bytes), forgotten after `ttlMs` when given. */
  set: (key, value, { ttlMs } = {}) =>
    kvCall(() => hostKv.set(key, bytes(value), ttlMs === undefined ? undefined : BigInt(ttlMs))),
  /** Removes `key`. */
  delete: (key) => kvCall(() => hostKv.delete(key)),
  /** Adds `delta` (default 1) to the integer under `key`; returns the sum as a number. */
  increment: (key, delta = 1) => Number(kvCall(() => hostKv.increment(key, BigInt(delta)))),
  /** Keys starting with `prefix`, in byte order, at most `limit` (default 100, at most 1000). */
  list: (prefix = '', limit = 100) => kvCall(() => hostKv.keys(prefix, limit)),
};
