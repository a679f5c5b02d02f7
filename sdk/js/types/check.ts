// The .d.ts files checked by the TypeScript compiler (`npm run typecheck`): a plugin, its
// API and its tests written in TypeScript against them, as a plugin author would.
import {
  Callflow,
  Context,
  type Event,
  MakeCall,
  Plugin,
  Say,
  SayAndCapture,
  Unavailable,
} from "@callflow/sdk";
import { ApiError, Request, Response, Router } from "@callflow/sdk/api";
import { isE164, validate } from "@callflow/sdk/rules";
import { Harness, callAction, eventFromJson } from "@callflow/sdk/testing";

class Greeter extends Plugin {
  handle(event: Event, ctx: Context): Callflow | undefined {
    if (event.kind !== "CALL_ACTION") return undefined;
    const digits: string | undefined = event.digits;
    const company = ctx.config("company") ?? "us";
    if (!digits) {
      return new Callflow()
        .clientActionId("menu")
        .sayAndCapture(new SayAndCapture(`Welcome to ${company}.`, "en-US-BenjaminRUS").digits(1, 1).timeouts(5000, 10000).tries(2));
    }
    const number = ctx.requireConfig("representative");
    if (!isE164(number)) throw new Unavailable("not a number");
    ctx.kv().set("last", digits, 60_000);
    return new Callflow().say(new Say("Connecting.", "en-US-BenjaminRUS").speed(1)).makeCall(new MakeCall("+6512345678", number));
  }

  api(request: Request, ctx: Context): Response {
    return new Router()
      .get("/last", (_req, c) => Response.json(200, { last: c.kv().getString("last") ?? null }))
      .post("/notes", (req) => {
        const note = req.jsonObject("text");
        if (typeof note.text !== "string") throw new ApiError(422, "invalid_field", "text");
        return Response.json(201, { text: note.text });
      })
      .handle(request, ctx);
  }
}

const h = new Harness({ company: "ABC", representative: "+6587654321" });
const flow: Callflow | undefined = h.handle(Greeter, callAction({ clientActionId: "menu", digits: "1" }));
if (flow) validate(flow);
const t = h.call(new Greeter(), "1");
const heard: string[] = t.heard;
const status = eventFromJson({ eventType: "CALL_STATUS", payload: {} });
const kind: "CALL_STATUS" | string = status.kind;
const answer: Response = h.api(Greeter, Request.get("/last"));
export { heard, kind, answer };
