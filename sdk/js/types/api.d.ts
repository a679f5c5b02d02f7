import type { Context } from "./index.js";

/** One request, as the host received it (credentials removed). */
export declare class Request {
  constructor(method: string, path: string, query?: string, headers?: [string, string][], body?: Uint8Array);
  method: string;
  path: string;
  query?: string;
  headers: [string, string][];
  body: Uint8Array;
  params: Record<string, string>;
  static new(method: string, pathAndQuery: string): Request;
  static get(pathAndQuery: string): Request;
  static post(pathAndQuery: string): Request;
  static put(pathAndQuery: string): Request;
  static delete(pathAndQuery: string): Request;
  withHeader(name: string, value: string): this;
  withBody(body: string | Uint8Array): this;
  withJson(value: unknown): this;
  header(name: string): string | undefined;
  queryParam(name: string): string | undefined;
  param(name: string): string | undefined;
  text(): string;
  /** The body as JSON, or ApiError 400 `malformed_json`. */
  json(): unknown;
  /** The body as a JSON object with every `required` key (400 / 422 otherwise). */
  jsonObject(...required: string[]): Record<string, unknown>;
}

/** The plugin's answer: a status (200 to 599), headers and a body. */
export declare class Response {
  constructor(status: number, headers?: [string, string][], body?: Uint8Array);
  status: number;
  headers: [string, string][];
  body: Uint8Array;
  static empty(status: number): Response;
  static json(status: number, value: unknown): Response;
  static error(status: number, code: string, message: string): Response;
  static notFound(): Response;
  withHeader(name: string, value: string): this;
  header(name: string): string | undefined;
  jsonValue(): unknown;
}

/** Throw from a route: the router answers `{"code", "message"}` with `status`. */
export declare class ApiError extends Error {
  constructor(status: number, code: string, message: string);
  status: number;
  code: string;
  detail: string;
  static from(err: unknown): ApiError;
  toResponse(): Response;
}

export type Handler = (request: Request, ctx: Context) => Response;

/** Routes by method and `/path/{param}` pattern; 404 and 405 as the Rust SDK's. */
export declare class Router {
  route(method: string, pattern: string, handler: Handler): this;
  get(pattern: string, handler: Handler): this;
  post(pattern: string, handler: Handler): this;
  put(pattern: string, handler: Handler): this;
  patch(pattern: string, handler: Handler): this;
  delete(pattern: string, handler: Handler): this;
  handle(request: Request, ctx: Context): Response;
}
