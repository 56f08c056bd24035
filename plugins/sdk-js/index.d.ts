// Types for @switchyard/plugin-sdk. The contract's own types (Event, Action…) come from
// `wit-types/`, generated from wit/ by `switchyard-plugin types` (the build runs it).
/// <reference path="./wit-types/handler.d.ts" />

import type { Action, Event as WitEvent } from 'switchyard:plugin/types@0.3.0';

export type { Action } from 'switchyard:plugin/types@0.3.0';

/** A body: text (sent as UTF-8) or bytes. */
export type Body = string | Uint8Array | ArrayBuffer | ArrayBufferView;
/** Headers as an object or a list of pairs. */
export type Headers = Record<string, string> | Array<[string, string]>;

/** The event a route's plugin handles, with conveniences. */
export interface Event extends WitEvent {
  /** The body as text (UTF-8). */
  text(): string;
  /** The body parsed as JSON; a `fail` if it is not JSON. */
  json(): any;
  /** A value captured by a `{name}` segment of the route's pattern. */
  param(name: string): string | undefined;
  /** A request header, by case-insensitive name. */
  header(name: string): string | undefined;
}

export declare function bytes(body: Body): Uint8Array;
/** `orderKey`: deliveries of the route to one destination that share it go out one at a time, in order. */
export interface ForwardOptions {
  destination?: string;
  headers?: Headers;
  orderKey?: string | number;
}
export declare function forward(body?: Body, options?: ForwardOptions): Action;
export declare function forwardJson(value: unknown, options?: ForwardOptions): Action;
export declare function emit(scope: string, body: Body): Action;
export declare function drop(reason: string): Action;

export declare class PluginError extends Error {
  payload: { tag: 'retry-later' | 'fail'; val: string };
}
export declare function retryLater(message: string): PluginError;
export declare function fail(message: string): PluginError;

/** Wraps `handle`: exceptions become `fail`, a thrown `PluginError` its own result. */
export declare function handler(fn: (event: Event) => Action[] | Promise<Action[]>): (event: WitEvent) => Promise<Action[]>;

export declare const log: {
  trace(message: string): void;
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
};

export declare const config: {
  get(key: string): string | undefined;
  all(): Array<[string, string]>;
  json(key: string): any;
};

export declare const kv: {
  get(key: string): Uint8Array | undefined;
  getString(key: string): string | undefined;
  set(key: string, value: Body, options?: { ttlMs?: number }): void;
  delete(key: string): void;
  increment(key: string, delta?: number): number;
  list(prefix?: string, limit?: number): string[];
};
