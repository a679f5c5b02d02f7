// ABC Restaurant's advanced IVR, from 8x8's "Advanced IVR Guide", in JavaScript.
//
// The same tree, texts and policies as the Rust plugin (`plugins/ivr`, whose module
// documentation explains each choice); the case data under `tests/cases/ivr` holds all
// three languages to the same answers, through a real host.
//
//   main_menu        1 -> reservations   2 -> connect_call   3 -> hours, hang up
//   reservations     1 -> book_table     2 -> reschedule_table   3 -> main_menu
//   book_table       1 -> booked for today, hang up      2 -> booked for tomorrow, hang up
//   reschedule_table 1 -> keep the reservation, hang up  2 -> move it to tomorrow, hang up
//   connect_call     1 -> makeCall to the representative (post_call)   2 -> main_menu
//
// Any other digit, or none: "Invalid input, please call again." and a hangup. Where the
// caller is travels in the callflow's clientActionId. Configuration: `virtual_number`
// (shown to the representative) and `representative_number`.

import { Callflow, MakeCall, Plugin, Say, SayAndCapture, Unavailable } from "@callflow/sdk";
import { isE164 } from "@callflow/sdk/rules";

export const VOICE = "en-US-BenjaminRUS";
export const text = Object.freeze({
  MAIN_MENU:
    "Welcome to ABC Restaurant, to book a table press 1, to speak to a representative press 2, to hear our restaurant hours press 3.",
  RESERVATIONS:
    "Press 1 to make a new reservation, press 2 to reschedule an existing reservation, press 3 to return to main menu.",
  CONNECT_CALL:
    "Connecting you to the next available representative. Press 1 to connect now, press 2 to return to main menu",
  HOURS: "Our restaurant hours are between 9AM and 9PM every day of the week.",
  BOOK_TABLE: "Reserving a Table, Press 1 to reserve a table for today, Press 2 to reserve a table for tomorrow.",
  RESCHEDULE_TABLE:
    "Rescheduling your reservation, Press 1 to keep your current reservation, press 2 to change your reservation to tomorrow.",
  BOOKED_TODAY: "We have booked your table for today, thank you.",
  BOOKED_TOMORROW: "We have booked your table for tomorrow, thank you.",
  KEEP_RESERVATION: "Keeping your current reservation, thank you.",
  MOVE_TO_TOMORROW: "Changing your reservation to tomorrow thank you.",
  INVALID: "Invalid input, please call again.",
});

export const POST_CALL = "post_call";
export const VIRTUAL_NUMBER = "virtual_number";
export const REPRESENTATIVE_NUMBER = "representative_number";

const OVERALL_TIMEOUT_MS = 10_000;
const DIGIT_TIMEOUT_MS = 5_000; // below the overall timeout, as 8x8 requires
const TRIES = 2;

const say = (t) => ({ say: t });
const CONNECT = "connect";

// menu id -> [prompt, {digit: next}]; next is a menu id, say(text) or CONNECT.
const TREE = {
  main_menu: [text.MAIN_MENU, { 1: "reservations", 2: "connect_call", 3: say(text.HOURS) }],
  reservations: [text.RESERVATIONS, { 1: "book_table", 2: "reschedule_table", 3: "main_menu" }],
  connect_call: [text.CONNECT_CALL, { 1: CONNECT, 2: "main_menu" }],
  book_table: [text.BOOK_TABLE, { 1: say(text.BOOKED_TODAY), 2: say(text.BOOKED_TOMORROW) }],
  reschedule_table: [text.RESCHEDULE_TABLE, { 1: say(text.KEEP_RESERVATION), 2: say(text.MOVE_TO_TOMORROW) }],
};

function menu(id) {
  return new Callflow()
    .clientActionId(id)
    .sayAndCapture(
      new SayAndCapture(TREE[id][0], VOICE)
        .speed(1)
        .digits(1, 1)
        .timeouts(DIGIT_TIMEOUT_MS, OVERALL_TIMEOUT_MS)
        .tries(TRIES),
    );
}

function sayAndHangUp(t) {
  return new Callflow().say(new Say(t, VOICE).speed(1)).hangup();
}

function connect(ctx) {
  const number = (key) => {
    const value = ctx.requireConfig(key).trim();
    if (!isE164(value)) throw new Unavailable(`tenant configuration \`${key}\` is not an E.164 number`);
    return value;
  };
  const source = number(VIRTUAL_NUMBER);
  const destination = number(REPRESENTATIVE_NUMBER);
  return new Callflow().clientActionId(POST_CALL).makeCall(new MakeCall(source, destination));
}

export default class Ivr extends Plugin {
  handle(event, ctx) {
    if (event.kind !== "CALL_ACTION") {
      ctx.debug(`no answer needed for ${event.kind}`);
      return undefined;
    }
    const id = event.clientActionId;
    if (id === undefined || id === null) {
      ctx.debug("new call: main menu");
      return menu("main_menu");
    }
    if (id === POST_CALL) {
      ctx.debug("bridged call ended: hanging up");
      return new Callflow().hangup();
    }
    if (!Object.hasOwn(TREE, id)) {
      ctx.warn(`unknown clientActionId ${JSON.stringify(id)}: back to the main menu`);
      return menu("main_menu");
    }
    ctx.debug(`menu ${id}: digits ${JSON.stringify(event.digits)}`);
    const options = TREE[id][1];
    const next = event.digits != null && Object.hasOwn(options, event.digits) ? options[event.digits] : undefined;
    if (next === undefined) return sayAndHangUp(text.INVALID);
    if (next === CONNECT) return connect(ctx);
    if (typeof next === "object") return sayAndHangUp(next.say);
    return menu(next);
  }
}
