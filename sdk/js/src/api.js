// Serving an HTTP-like API from a plugin: Request, Response, a small Router and JSON
// helpers, as the Rust SDK's `callflow_sdk::api`.
//
// The host routes `/v1/tenants/{tenant}/api/{path}` to the tenant's plugin once the caller
// has shown one of the tenant's API keys; the plugin sees the part after `/api` as
// `request.path`. Every error answer is JSON `{"code": "...", "message": "..."}`.
//
//   api(request, ctx) {
//     return new Router()
//       .post("/notes", (req, ctx) => {
//         const note = req.jsonObject("text");    // 400 malformed_json, 422 missing_field
//         ctx.kv().set("note", note.text);         // a store failure is a 503
//         return Response.json(201, { text: note.text });
//       })
//       .handle(request, ctx);
//   }

import { KvError, PluginError, Unavailable } from "./index.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One request, as the host received it (credentials removed). */
export class Request {
  constructor(method, path, query = undefined, headers = [], body = new Uint8Array()) {
    this.method = method.toUpperCase();
    this.path = path.startsWith("/") ? path : `/${path}`;
    this.query = query;
    this.headers = headers;
    this.body = body;
    this.params = {};
  }
  static new(method, pathAndQuery) {
    const q = pathAndQuery.indexOf("?");
    return q < 0
      ? new Request(method, pathAndQuery)
      : new Request(method, pathAndQuery.slice(0, q) || "/", pathAndQuery.slice(q + 1));
  }
  static get(p) {
    return Request.new("GET", p);
  }
  static post(p) {
    return Request.new("POST", p);
  }
  static put(p) {
    return Request.new("PUT", p);
  }
  static delete(p) {
    return Request.new("DELETE", p);
  }
  withHeader(name, value) {
    this.headers.push([name.toLowerCase(), value]);
    return this;
  }
  withBody(body) {
    this.body = typeof body === "string" ? encoder.encode(body) : new Uint8Array(body);
    return this;
  }
  withJson(value) {
    return this.withHeader("content-type", "application/json").withBody(JSON.stringify(value));
  }
  /** The first header called `name` (case-insensitive). */
  header(name) {
    const lower = name.toLowerCase();
    return this.headers.find(([n]) => n === lower)?.[1];
  }
  /** The first query parameter called `name`, percent-decoded. */
  queryParam(name) {
    if (this.query === undefined) return undefined;
    return new URLSearchParams(this.query).get(name) ?? undefined;
  }
  /** A path parameter the Router matched (`{id}`), percent-decoded. */
  param(name) {
    return this.params[name];
  }
  /** The body as text. */
  text() {
    return decoder.decode(this.body);
  }
  /** The body as JSON, or ApiError 400 `malformed_json` (an empty body included). */
  json() {
    try {
      return JSON.parse(this.text());
    } catch (err) {
      throw new ApiError(400, "malformed_json", `the body is not valid JSON: ${err.message}`);
    }
  }
  /** The body as a JSON object holding every `required` key: 400 `malformed_json`, 422
   * `invalid_field` when it is not an object, 422 `missing_field` naming the key. */
  jsonObject(...required) {
    const value = this.json();
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      throw new ApiError(422, "invalid_field", "the body must be a JSON object");
    }
    for (const key of required) {
      if (!Object.hasOwn(value, key)) throw new ApiError(422, "missing_field", `missing field \`${key}\``);
    }
    return value;
  }
}

/** The plugin's answer: a status (200 to 599), headers and a body. */
export class Response {
  constructor(status, headers = [], body = new Uint8Array()) {
    this.status = status;
    this.headers = headers;
    this.body = body;
  }
  static empty(status) {
    return new Response(status);
  }
  /** `value` as JSON with `content-type: application/json`. */
  static json(status, value) {
    let text;
    try {
      text = JSON.stringify(value, (_k, v) => {
        if (typeof v === "bigint") return Number(v);
        return v;
      });
    } catch (err) {
      return Response.error(500, "internal", `the response could not be serialised: ${err.message}`);
    }
    return new Response(status, [["content-type", "application/json"]], encoder.encode(text ?? "null"));
  }
  /** The error body every API answers with. */
  static error(status, code, message) {
    return Response.json(status, { code, message: String(message) });
  }
  /** 404 `not_found`: what a plugin that serves no API answers. */
  static notFound() {
    return Response.error(404, "not_found", "no such API route");
  }
  withHeader(name, value) {
    this.headers.push([name, value]);
    return this;
  }
  header(name) {
    const lower = name.toLowerCase();
    return this.headers.find(([n]) => n.toLowerCase() === lower)?.[1];
  }
  /** The body parsed as JSON (undefined when empty). */
  jsonValue() {
    return this.body.length ? JSON.parse(decoder.decode(this.body)) : undefined;
  }
}

/** An error answer: throw it from a route and the router answers
 * `{"code": code, "message": message}` with `status`. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(`${status} ${code}: ${message}`);
    this.status = status;
    this.code = code;
    this.detail = message;
  }
  /** How an escaped error is answered: a store failure is a 503 `store_unavailable`
   * (507 `too_large` or `quota_exceeded`), a missing dependency a 503 `unavailable`,
   * anything else a 500 `internal`. */
  static from(err) {
    if (err instanceof ApiError) return err;
    if (err instanceof KvError) {
      if (err.reason === "too-large") return new ApiError(507, "too_large", err.detail);
      if (err.reason === "quota-exceeded") return new ApiError(507, "quota_exceeded", err.detail);
      return new ApiError(503, "store_unavailable", err.detail);
    }
    if (err instanceof Unavailable) return new ApiError(503, "unavailable", err.message);
    if (err instanceof PluginError) return new ApiError(500, "internal", err.message);
    return new ApiError(500, "internal", `${err?.name ?? "Error"}: ${err?.message ?? String(err)}`);
  }
  toResponse() {
    return Response.error(this.status, this.code, this.detail);
  }
}

const segments = (path) => path.split("/").filter((s) => s !== "");

/** Routes requests by method and path pattern (`/bookings/{id}/calls`) to handlers,
 * in the order added: an unknown path is a 404 `not_found`, a path known under other
 * methods a 405 `method_not_allowed` with an `allow` header. */
export class Router {
  constructor() {
    this.routes = [];
  }
  route(method, pattern, handler) {
    this.routes.push({ method: method.toUpperCase(), pattern: segments(pattern), handler });
    return this;
  }
  get(p, h) {
    return this.route("GET", p, h);
  }
  post(p, h) {
    return this.route("POST", p, h);
  }
  put(p, h) {
    return this.route("PUT", p, h);
  }
  patch(p, h) {
    return this.route("PATCH", p, h);
  }
  delete(p, h) {
    return this.route("DELETE", p, h);
  }
  handle(request, ctx) {
    const path = segments(request.path);
    const allowed = [];
    for (const { method, pattern, handler } of this.routes) {
      const params = match(pattern, path);
      if (params === undefined) continue;
      if (method !== request.method) {
        if (!allowed.includes(method)) allowed.push(method);
        continue;
      }
      request.params = params;
      try {
        return handler(request, ctx);
      } catch (err) {
        return ApiError.from(err).toResponse();
      }
    }
    if (allowed.length === 0) return Response.notFound();
    const methods = allowed.join(", ");
    return Response.error(405, "method_not_allowed", `${request.method} is not allowed here; use ${methods}`).withHeader(
      "allow",
      methods,
    );
  }
}

function match(pattern, path) {
  if (pattern.length !== path.length) return undefined;
  const params = {};
  for (let i = 0; i < pattern.length; i++) {
    const seg = pattern[i];
    if (seg.startsWith("{") && seg.endsWith("}")) {
      try {
        params[seg.slice(1, -1)] = decodeURIComponent(path[i]);
      } catch {
        params[seg.slice(1, -1)] = path[i];
      }
    } else if (seg !== path[i]) {
      return undefined;
    }
  }
  return params;
}
