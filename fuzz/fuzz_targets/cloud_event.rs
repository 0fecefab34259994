//! Fuzz target: see `properties::cloud_event` (tools/chaos/src/properties.rs) for what is checked.
#![no_main]

#[path = "../../tools/chaos/src/properties.rs"]
mod properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| properties::cloud_event(data));
