//! Fuzz target: see `properties::source` (tools/chaos/src/properties.rs) for what is checked.
#![no_main]

#[path = "../../tools/chaos/src/properties.rs"]
mod properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| properties::source(data));
