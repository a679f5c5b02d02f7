//! What the caller does: keys at each prompt, or a hangup, parsed from a script.

use serde::Serialize;

/// What the caller does at one try of a `sayAndCapture`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "press", content = "keys")]
pub enum Press {
    /// Presses these keys (`0`-`9`, `*`, `#`).
    Keys(String),
    /// Presses nothing: the try times out.
    Nothing,
    /// Hangs up.
    HangUp,
}

impl Press {
    /// Parses what a caller typed: keys, `-` or nothing for no keys.
    pub fn parse(text: &str) -> Result<Press, ScriptError> {
        let text = text.trim();
        if text.is_empty() || text == "-" {
            return Ok(Press::Nothing);
        }
        match text.chars().find(|c| !is_key(*c)) {
            Some(bad) => Err(ScriptError(format!(
                "{text:?}: {bad:?} is not a phone key (0-9, *, #; `-` for none)"
            ))),
            None => Ok(Press::Keys(text.to_owned())),
        }
    }
}

fn is_key(c: char) -> bool {
    c.is_ascii_digit() || c == '*' || c == '#'
}

/// The prompt a caller hears at one try of a `sayAndCapture`, with what counts as input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Prompt {
    /// The words.
    pub text: String,
    /// Which try this is, from 1.
    pub attempt: u8,
    /// How many tries the capture has (`noOfTries`).
    pub tries: u8,
    /// Fewest keys that count.
    pub min_digits: u8,
    /// Most keys taken.
    pub max_digits: u8,
    /// `#` ends the input.
    pub complete_on_hash: bool,
    /// Which capture of the call this is, from 0 (retries keep the number).
    pub capture: usize,
    /// Milliseconds the platform waits after a key for the next (`digitTimeout`; when the
    /// callflow leaves it out, 5000 or the overall timeout if shorter).
    pub digit_timeout_ms: u32,
    /// Milliseconds the platform waits for the whole input (`overallTimeout`, 30000 when
    /// the callflow leaves it out).
    pub overall_timeout_ms: u32,
}

/// A caller script is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad caller script: {0}")]
pub struct ScriptError(String);

/// A caller who follows a script: one item per `sayAndCapture`, in the order the captures
/// come.
///
/// In text, items are separated by `,`; an item is the keys to press (`1`, `123#`), or `-`
/// or nothing to press nothing. An item's tries are separated by `/`: `-/1` presses
/// nothing at the first try and `1` at the second. A try the item does not name presses
/// nothing. When the script runs out, the caller hangs up at the next prompt.
///
/// ```
/// use callflow_wire::platform::Script;
///
/// let script = Script::parse("1,-,-/2").expect("valid");
/// assert_eq!(script.len(), 3);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Script {
    items: Vec<Vec<Press>>,
    used: usize,
}

impl Script {
    /// A script that presses nothing anywhere: the caller hangs up at the first prompt.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses the text form (`"1,-,-/2"`).
    pub fn parse(text: &str) -> Result<Self, ScriptError> {
        Self::from_items(text.split(','))
    }

    /// One item per capture, each in the text form of an item (`"1"`, `"-"`, `"-/2"`).
    pub fn from_items<I, S>(items: I) -> Result<Self, ScriptError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let items = items
            .into_iter()
            .map(|item| item.as_ref().split('/').map(Press::parse).collect())
            .collect::<Result<_, _>>()?;
        Ok(Self { items, used: 0 })
    }

    /// Items in the script.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when the script has no items.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Items no capture reached.
    pub fn unused(&self) -> usize {
        self.items.len().saturating_sub(self.used)
    }

    /// What the caller does at `prompt`.
    pub fn press(&mut self, prompt: &Prompt) -> Press {
        let Some(item) = self.items.get(prompt.capture) else {
            return Press::HangUp;
        };
        self.used = self.used.max(prompt.capture + 1);
        item.get(usize::from(prompt.attempt.saturating_sub(1)))
            .cloned()
            .unwrap_or(Press::Nothing)
    }
}
