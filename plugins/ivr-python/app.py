"""ABC Restaurant's advanced IVR, from 8x8's "Advanced IVR Guide", in Python.

The same tree, texts and policies as the Rust plugin (``plugins/ivr``, whose module
documentation explains each choice); the case data under ``tests/cases/ivr`` holds all
three languages to the same answers, through a real host.

::

    main_menu        1 -> reservations   2 -> connect_call   3 -> hours, hang up
    reservations     1 -> book_table     2 -> reschedule_table   3 -> main_menu
    book_table       1 -> booked for today, hang up      2 -> booked for tomorrow, hang up
    reschedule_table 1 -> keep the reservation, hang up  2 -> move it to tomorrow, hang up
    connect_call     1 -> makeCall to the representative (post_call)   2 -> main_menu

Any other digit, or none: "Invalid input, please call again." and a hangup. Where the
caller is travels in the callflow's ``clientActionId``. Configuration:
``virtual_number`` (shown to the representative) and ``representative_number``.
"""

from callflow_sdk import (
    CallAction,
    Callflow,
    MakeCall,
    Plugin,
    Say,
    SayAndCapture,
    Unavailable,
    export_plugin,
)
from callflow_sdk.rules import is_e164

VOICE = "en-US-BenjaminRUS"
MAIN_MENU = "Welcome to ABC Restaurant, to book a table press 1, to speak to a representative press 2, to hear our restaurant hours press 3."
RESERVATIONS = "Press 1 to make a new reservation, press 2 to reschedule an existing reservation, press 3 to return to main menu."
CONNECT_CALL = "Connecting you to the next available representative. Press 1 to connect now, press 2 to return to main menu"
HOURS = "Our restaurant hours are between 9AM and 9PM every day of the week."
BOOK_TABLE = "Reserving a Table, Press 1 to reserve a table for today, Press 2 to reserve a table for tomorrow."
RESCHEDULE_TABLE = "Rescheduling your reservation, Press 1 to keep your current reservation, press 2 to change your reservation to tomorrow."
BOOKED_TODAY = "We have booked your table for today, thank you."
BOOKED_TOMORROW = "We have booked your table for tomorrow, thank you."
KEEP_RESERVATION = "Keeping your current reservation, thank you."
MOVE_TO_TOMORROW = "Changing your reservation to tomorrow thank you."
INVALID = "Invalid input, please call again."

POST_CALL = "post_call"
VIRTUAL_NUMBER = "virtual_number"
REPRESENTATIVE_NUMBER = "representative_number"

OVERALL_TIMEOUT_MS = 10_000
DIGIT_TIMEOUT_MS = 5_000  # below the overall timeout, as 8x8 requires
TRIES = 2

# menu id -> (prompt, {digit: next}); next is a menu id, ("say", text) or "connect".
TREE = {
    "main_menu": (MAIN_MENU, {"1": "reservations", "2": "connect_call", "3": ("say", HOURS)}),
    "reservations": (RESERVATIONS, {"1": "book_table", "2": "reschedule_table", "3": "main_menu"}),
    "connect_call": (CONNECT_CALL, {"1": "connect", "2": "main_menu"}),
    "book_table": (BOOK_TABLE, {"1": ("say", BOOKED_TODAY), "2": ("say", BOOKED_TOMORROW)}),
    "reschedule_table": (
        RESCHEDULE_TABLE,
        {"1": ("say", KEEP_RESERVATION), "2": ("say", MOVE_TO_TOMORROW)},
    ),
}


def menu(menu_id):
    prompt, _ = TREE[menu_id]
    return (
        Callflow()
        .client_action_id(menu_id)
        .say_and_capture(
            SayAndCapture(prompt, VOICE)
            .speed(1.0)
            .digits(1, 1)
            .timeouts(DIGIT_TIMEOUT_MS, OVERALL_TIMEOUT_MS)
            .tries(TRIES)
        )
    )


def say_and_hang_up(text):
    return Callflow().say(Say(text, VOICE).speed(1.0)).hangup()


def connect(ctx):
    def number(key):
        value = ctx.require_config(key).strip()
        if not is_e164(value):
            raise Unavailable(f"tenant configuration `{key}` is not an E.164 number")
        return value

    source = number(VIRTUAL_NUMBER)
    destination = number(REPRESENTATIVE_NUMBER)
    return Callflow().client_action_id(POST_CALL).make_call(MakeCall(source, destination))


class Ivr(Plugin):
    def handle(self, event, ctx):
        if not isinstance(event, CallAction):
            ctx.debug(f"no answer needed for {event.kind}")
            return None
        menu_id = event.client_action_id
        if menu_id is None:
            ctx.debug("new call: main menu")
            return menu("main_menu")
        if menu_id == POST_CALL:
            ctx.debug("bridged call ended: hanging up")
            return Callflow().hangup()
        if menu_id not in TREE:
            ctx.warn(f"unknown clientActionId {menu_id!r}: back to the main menu")
            return menu("main_menu")
        ctx.debug(f"menu {menu_id}: digits {event.digits!r}")
        _, options = TREE[menu_id]
        choice = options.get(event.digits) if event.digits is not None else None
        if choice is None:
            return say_and_hang_up(INVALID)
        if choice == "connect":
            return connect(ctx)
        if isinstance(choice, tuple):
            return say_and_hang_up(choice[1])
        return menu(choice)


export_plugin(Ivr)
