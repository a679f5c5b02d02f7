//! JSON Schemas of what crosses the wire (feature `schema`): the webhook bodies 8x8
//! posts and the callflows sent back, for the host's OpenAPI document.
//!
//! Each is derived from the very types that parse or render the JSON, so the document
//! says what the parser accepts: the per-kind required fields come from
//! [`EventKind::required_fields`], which the parser's own tests hold it to, and the
//! tolerant fields (numbers as strings, numbers as numbers) say so.

use schemars::{Schema, SchemaGenerator, json_schema};
use serde_json::{Map, Value, json};

use crate::event::{EventKind, RawPayload};

/// A webhook body: one of the five kinds, told apart by `eventType`, each with the
/// payload fields its kind requires. Fields not named are ignored, whatever they hold.
pub fn webhook(generator: &mut SchemaGenerator) -> Schema {
    let payload = generator.subschema_for::<RawPayload>().to_value();
    let kinds: Vec<Value> = EventKind::ALL
        .into_iter()
        .map(|kind| {
            let required = kind.required_fields();
            let present: Map<String, Value> = required
                .iter()
                .map(|field| {
                    let schema = if matches!(*field, "source" | "destination") {
                        json!({ "anyOf": [{ "type": "string", "minLength": 1 }, { "type": "number" }] })
                    } else {
                        json!({ "type": "string", "minLength": 1 })
                    };
                    ((*field).to_owned(), schema)
                })
                .collect();
            json!({
                "title": kind.as_str(),
                "type": "object",
                "required": ["eventType", "payload"],
                "properties": {
                    "namespace": { "description": "`VOICE`; not checked." },
                    "eventType": { "const": kind.as_str() },
                    "payload": { "allOf": [payload, { "required": required, "properties": present }] },
                },
            })
        })
        .collect();
    json_schema!({
        "description": "An 8x8 voice webhook. Unknown fields are ignored; numbers may come as JSON strings; `source` and `destination` with or without `+`.",
        "oneOf": kinds,
    })
}

/// What a call action is answered with: a callflow, or `{}` for the events that wait for
/// none.
pub fn webhook_answer(generator: &mut SchemaGenerator) -> Schema {
    let callflow = generator.subschema_for::<crate::Callflow>();
    json_schema!({
        "oneOf": [
            callflow,
            { "title": "NoCallflow", "description": "`{}`: the event waits for no callflow.", "type": "object", "maxProperties": 0 },
        ],
    })
}

/// A tolerant string field: a string, or a number (handed on as its decimal text).
pub(crate) fn lenient_string(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": ["string", "number", "null"] })
}

/// A tolerant number field: a number, or a string holding one (text that holds none
/// is read as absent).
pub(crate) fn lenient_number(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": ["number", "string", "null"],
        "description": "A number, or a string holding one; text that holds none is read as absent.",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_names_its_event_type_and_its_required_fields() {
        let mut generator = SchemaGenerator::default();
        let schema = webhook(&mut generator).to_value();
        let kinds = schema["oneOf"].as_array().expect("oneOf");
        assert_eq!(kinds.len(), EventKind::ALL.len());
        for (kind, variant) in EventKind::ALL.into_iter().zip(kinds) {
            assert_eq!(variant["properties"]["eventType"]["const"], kind.as_str());
            let required = &variant["properties"]["payload"]["allOf"][1]["required"];
            assert_eq!(required, &json!(kind.required_fields()));
        }
    }
}
