//! ABC Restaurant's advanced IVR, from 8x8's "Advanced IVR Guide", as a callflow-host
//! plugin.
//!
//! # The tree
//! ```text
//! main_menu        1 → reservations   2 → connect_call   3 → hours, hang up
//! reservations     1 → book_table     2 → reschedule_table   3 → main_menu
//! book_table       1 → booked for today, hang up      2 → booked for tomorrow, hang up
//! reschedule_table 1 → keep the reservation, hang up  2 → move it to tomorrow, hang up
//! connect_call     1 → makeCall to the representative (post_call)   2 → main_menu
//! ```
//! Any other digit, anywhere: "Invalid input, please call again." and hang up, as in the
//! guide. Every text is the guide's, verbatim, from the table in [`text`].
//!
//! # Where the caller is: `clientActionId`
//! Each menu's callflow carries the menu's id as its `clientActionId`; 8x8 echoes it in
//! the next call action with the digit pressed, and that pair picks the next step. The
//! ids are the menu names above plus `post_call` for the bridged call. Two departures
//! from the guide:
//! - the reservations menu is `reservations` (the guide's prose name), not the
//!   `ivr-1-stage-1` of its JSON sample, so that every id names its menu;
//! - going back to the main menu from reservations sends `main_menu`; the guide's sample
//!   reuses `book_table` there, which would route the caller's next digit through the
//!   book-table menu.
//!
//! Terminal answers (say + hangup) carry no id: nothing follows them.
//!
//! # Policies the guide leaves open
//! - **A new call**: a call action without a `clientActionId` (8x8's `CALL_RECEIVED` on
//!   an inbound call) gets the main menu.
//! - **No digit captured**: every menu asks 8x8 for `noOfTries: 2`, so when a call action
//!   arrives with no digits the platform has already prompted twice. That is treated as
//!   invalid input: the apology and a hangup. Replaying the menu would keep a silent line
//!   open for two more prompts.
//! - **Unknown `clientActionId`** (another plugin version's id, or a forged one): the
//!   caller starts over at the main menu, with a warning in the log.
//! - **After the bridged call** (`post_call`): the representative's leg has ended or
//!   failed, so the IVR hangs up; nothing is said, the guide has no text for it.
//! - **Other events** (`CALL_STATUS`, `SESSION_SUMMARY`, ...) need no answer: `None`.
//!
//! # Timeouts
//! The guide's captures set `digitTimeout` and `overallTimeout` both to 10000 ms, which
//! 8x8 rejects (-1006: the digit timeout must be less than the overall one). This plugin
//! keeps the 10 s for the whole input and allows 5 s between digits; with one-digit
//! menus the digit timeout never fires anyway.
//!
//! # Configuration
//! - `virtual_number`: the sub-account's number the representative sees calling.
//! - `representative_number`: who "connect now" calls.
//!
//! Both E.164; needed only when a caller asks to be connected. Without them that caller
//! gets the tenant's fallback and the plugin reports [`PluginError::Unavailable`]
//! naming the key.
#![deny(missing_docs)]

use callflow_sdk::prelude::*;
use callflow_sdk::wire::number::is_e164;

/// The plugin.
#[derive(Debug)]
pub struct Ivr;

callflow_sdk::export_plugin!(Ivr);

/// Every text the IVR speaks, verbatim from 8x8's guide.
pub mod text {
    /// The voice of every prompt.
    pub const VOICE: &str = "en-US-BenjaminRUS";
    /// The main menu.
    pub const MAIN_MENU: &str = "Welcome to ABC Restaurant, to book a table press 1, to speak to a representative press 2, to hear our restaurant hours press 3.";
    /// Main menu, 1.
    pub const RESERVATIONS: &str = "Press 1 to make a new reservation, press 2 to reschedule an existing reservation, press 3 to return to main menu.";
    /// Main menu, 2.
    pub const CONNECT_CALL: &str = "Connecting you to the next available representative. Press 1 to connect now, press 2 to return to main menu";
    /// Main menu, 3.
    pub const HOURS: &str = "Our restaurant hours are between 9AM and 9PM every day of the week.";
    /// Reservations, 1.
    pub const BOOK_TABLE: &str = "Reserving a Table, Press 1 to reserve a table for today, Press 2 to reserve a table for tomorrow.";
    /// Reservations, 2.
    pub const RESCHEDULE_TABLE: &str = "Rescheduling your reservation, Press 1 to keep your current reservation, press 2 to change your reservation to tomorrow.";
    /// Book table, 1.
    pub const BOOKED_TODAY: &str = "We have booked your table for today, thank you.";
    /// Book table, 2.
    pub const BOOKED_TOMORROW: &str = "We have booked your table for tomorrow, thank you.";
    /// Reschedule, 1.
    pub const KEEP_RESERVATION: &str = "Keeping your current reservation, thank you.";
    /// Reschedule, 2.
    pub const MOVE_TO_TOMORROW: &str = "Changing your reservation to tomorrow thank you.";
    /// Any digit a menu does not offer, or none.
    pub const INVALID: &str = "Invalid input, please call again.";
}

/// `clientActionId` of the callflow that bridges the caller to the representative.
pub const POST_CALL: &str = "post_call";
/// Tenant configuration key: the virtual number shown to the representative.
pub const VIRTUAL_NUMBER: &str = "virtual_number";
/// Tenant configuration key: the representative's number.
pub const REPRESENTATIVE_NUMBER: &str = "representative_number";

/// Milliseconds allowed for the whole input (the guide's value).
const OVERALL_TIMEOUT_MS: u32 = 10_000;
/// Milliseconds allowed between digits: below the overall timeout, as 8x8 requires.
const DIGIT_TIMEOUT_MS: u32 = 5_000;
/// How often 8x8 prompts before giving up on a menu.
const TRIES: u8 = 2;

/// A menu: a prompt that captures one digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Menu {
    Main,
    Reservations,
    ConnectCall,
    BookTable,
    RescheduleTable,
}

/// What a digit leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// Another menu.
    Menu(Menu),
    /// A closing message, then hangup.
    Say(&'static str),
    /// Bridge to the representative.
    Connect,
}

/// One row of the tree: a menu, its id, its prompt and its options.
struct Row {
    menu: Menu,
    id: &'static str,
    prompt: &'static str,
    options: &'static [(&'static str, Next)],
}

/// The whole IVR, one row per menu.
const TREE: [Row; 5] = [
    Row {
        menu: Menu::Main,
        id: "main_menu",
        prompt: text::MAIN_MENU,
        options: &[
            ("1", Next::Menu(Menu::Reservations)),
            ("2", Next::Menu(Menu::ConnectCall)),
            ("3", Next::Say(text::HOURS)),
        ],
    },
    Row {
        menu: Menu::Reservations,
        id: "reservations",
        prompt: text::RESERVATIONS,
        options: &[
            ("1", Next::Menu(Menu::BookTable)),
            ("2", Next::Menu(Menu::RescheduleTable)),
            ("3", Next::Menu(Menu::Main)),
        ],
    },
    Row {
        menu: Menu::ConnectCall,
        id: "connect_call",
        prompt: text::CONNECT_CALL,
        options: &[("1", Next::Connect), ("2", Next::Menu(Menu::Main))],
    },
    Row {
        menu: Menu::BookTable,
        id: "book_table",
        prompt: text::BOOK_TABLE,
        options: &[
            ("1", Next::Say(text::BOOKED_TODAY)),
            ("2", Next::Say(text::BOOKED_TOMORROW)),
        ],
    },
    Row {
        menu: Menu::RescheduleTable,
        id: "reschedule_table",
        prompt: text::RESCHEDULE_TABLE,
        options: &[
            ("1", Next::Say(text::KEEP_RESERVATION)),
            ("2", Next::Say(text::MOVE_TO_TOMORROW)),
        ],
    },
];

impl Menu {
    fn row(self) -> &'static Row {
        // Every menu has a row; the test `every_menu_has_one_row` keeps it so.
        TREE.iter().find(|r| r.menu == self).unwrap_or(&TREE[0])
    }

    fn from_id(id: &str) -> Option<Menu> {
        TREE.iter().find(|r| r.id == id).map(|r| r.menu)
    }

    /// Where `digits` lead from this menu; `None` for anything the menu does not offer.
    fn choose(self, digits: Option<&str>) -> Option<Next> {
        let digits = digits?;
        let options = self.row().options;
        options
            .iter()
            .find(|(d, _)| *d == digits)
            .map(|&(_, next)| next)
    }

    fn callflow(self) -> Callflow {
        let row = self.row();
        Callflow::new().client_action_id(row.id).say_and_capture(
            SayAndCapture::new(row.prompt, text::VOICE)
                .speed(1.0)
                .digits(1, 1)
                .timeouts(DIGIT_TIMEOUT_MS, OVERALL_TIMEOUT_MS)
                .tries(TRIES),
        )
    }
}

/// A closing message, then hangup.
fn say_and_hang_up(text: &str) -> Callflow {
    Callflow::new()
        .say(Say::new(text, text::VOICE).speed(1.0))
        .hangup()
}

/// The caller's bridge to the representative, from the tenant's configuration.
fn connect(ctx: &Context<'_>) -> Result<Callflow, PluginError> {
    let number = |key: &str| -> Result<String, PluginError> {
        let value = ctx.require_config(key)?;
        let value = value.trim();
        if !is_e164(value) {
            return Err(PluginError::Unavailable(format!(
                "tenant configuration `{key}` is not an E.164 number"
            )));
        }
        Ok(value.to_owned())
    };
    let source = number(VIRTUAL_NUMBER)?;
    let destination = number(REPRESENTATIVE_NUMBER)?;
    Ok(Callflow::new()
        .client_action_id(POST_CALL)
        .make_call(MakeCall::new(source, destination)))
}

impl Plugin for Ivr {
    fn handle(event: Event, ctx: &Context<'_>) -> Result<Option<Callflow>, PluginError> {
        let Event::CallAction(action) = event else {
            debug!(ctx, "no answer needed for {}", event.kind().as_str());
            return Ok(None);
        };
        let Some(id) = action.client_action_id.as_deref() else {
            debug!(ctx, "new call: main menu");
            return Ok(Some(Menu::Main.callflow()));
        };
        if id == POST_CALL {
            debug!(ctx, "bridged call ended: hanging up");
            return Ok(Some(Callflow::new().hangup()));
        }
        let Some(menu) = Menu::from_id(id) else {
            warn!(ctx, "unknown clientActionId {id:?}: back to the main menu");
            return Ok(Some(Menu::Main.callflow()));
        };
        let digits = action.digits.as_deref();
        debug!(ctx, "menu {id}: digits {digits:?}");
        let flow = match menu.choose(digits) {
            Some(Next::Menu(next)) => next.callflow(),
            Some(Next::Say(text)) => say_and_hang_up(text),
            Some(Next::Connect) => connect(ctx)?,
            None => say_and_hang_up(text::INVALID),
        };
        Ok(Some(flow))
    }
}

#[cfg(test)]
mod tests;
