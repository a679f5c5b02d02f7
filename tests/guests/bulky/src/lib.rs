//! A plugin as large as an interpreter-based one, for the compile bench: thousands of
//! generated functions (see `build.rs`) behind a table. A call action runs a few of them,
//! picked by the call id, and says the result; it answers like any small plugin, so an
//! upload of it passes every check a real one does.

use callflow_sdk::prelude::*;

mod generated {
    #![allow(clippy::all, unused_parens)]
    include!(concat!(env!("OUT_DIR"), "/functions.rs"));
}

struct Bulky;

callflow_sdk::export_plugin!(Bulky);

impl Plugin for Bulky {
    fn handle(event: Event, _ctx: &Context<'_>) -> Result<Option<Callflow>, PluginError> {
        let Event::CallAction(action) = event else {
            return Ok(None);
        };
        let mut x = action
            .call
            .call_id
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        let mut lanes = [0u64; 4];
        for _ in 0..8 {
            let f = generated::TABLE[(x % generated::TABLE.len() as u64) as usize];
            x = f(x, &mut lanes);
        }
        let text = format!("Your number is {}.", x % 10_000);
        Ok(Some(Callflow::new().say(Say::new(text, "en-US-BenjaminRUS")).hangup()))
    }
}
