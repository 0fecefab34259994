//! The startup layout: the functions a function binary runs before its first `next` request,
//! written as a linker script that places them together at the start of the executable code.
//!
//! Why: on this machine a cold start's length follows its page faults, and the code a start
//! runs was scattered over the binary's 7–9 MiB of `.text` (the archiver took 87 code faults,
//! hello-world 13). The kernel maps file-backed code in 64 KiB runs around each fault, so code
//! that runs together should lie together. `functions/<name>/startup.ld` is the result;
//! `functions/link-startup-layout.rs`, both functions' build script, gives it to the linker
//! when building for Linux.
//!
//! The script names input sections by pattern, not by symbol. A Rust symbol carries a hash of
//! its crate's build configuration (features, profile, target), so the names seen in the
//! profiling build would not match a release or cargo-lambda build. A legacy symbol's trailing
//! `17h<16 hex digits>E` and a v0 symbol's crate disambiguators (`Cs<base62>_`) become `*`;
//! C symbols (aws-lc) stay as they are. The instantiations of a generic function share one
//! pattern, so a few functions that did not run come along. A pattern that has gone stale
//! matches nothing: it costs the faults it would have saved, never a failed link.

/// The functions of `object` (a path ending in that file name) that ran, once each, in the order
/// callgrind first lists them. `callgrind_out` is a profile written with `--compress-strings=no` and
/// `--demangle=no`, so names are the linker's symbols.
pub fn executed_functions(callgrind_out: &str, object: &str) -> Vec<String> {
    let mut in_object = false;
    let mut seen = std::collections::HashSet::new();
    let mut functions = Vec::new();
    for line in callgrind_out.lines() {
        if let Some(path) = line.strip_prefix("ob=") {
            in_object = path.trim() == object || path.trim().ends_with(&format!("/{object}"));
        } else if let Some(name) = line.strip_prefix("fn=")
            && in_object
        {
            // Callgrind marks recursion depth as `name'2`.
            let name = name.trim();
            let name = match name.rsplit_once('\'') {
                Some((base, depth)) if depth.bytes().all(|b| b.is_ascii_digit()) => base,
                _ => name,
            };
            if seen.insert(name.to_owned()) {
                functions.push(name.to_owned());
            }
        }
    }
    functions
}

/// The build-independent form of `symbol`, or `None` for what is not a symbol (callgrind's
/// `(below main)`, `0x…` addresses).
pub fn symbol_pattern(symbol: &str) -> Option<String> {
    let is_symbol_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '$');
    let first = symbol.chars().next()?;
    if first.is_ascii_digit() || !symbol.chars().all(is_symbol_char) {
        return None;
    }
    if is_rust_legacy(symbol) {
        // Legacy mangling: the path, then `17h` and the 16-digit hash, then `E`.
        if let Some(path) = symbol.strip_suffix('E')
            && let Some((path, hash)) = path.rsplit_once("17h")
            && hash.len() == 16
            && hash.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Some(format!("{path}17h*"));
        }
        return Some(symbol.to_owned());
    }
    if is_rust_v0(symbol) {
        return Some(without_crate_disambiguators(symbol));
    }
    Some(symbol.to_owned())
}

/// Rust's legacy mangling (`_ZN…17h<hash>E`).
fn is_rust_legacy(symbol: &str) -> bool {
    symbol.starts_with("_ZN")
}

/// Rust's v0 mangling (`_R…`), which the standard library is built with.
fn is_rust_v0(symbol: &str) -> bool {
    symbol.starts_with("_R")
}

/// A v0 symbol with every `Cs<base62>_` (a crate root and its disambiguator) as `Cs*_`.
fn without_crate_disambiguators(symbol: &str) -> String {
    let mut out = String::with_capacity(symbol.len());
    let mut rest = symbol;
    while let Some(at) = rest.find("Cs") {
        out.push_str(&rest[..at + 2]);
        let after = &rest[at + 2..];
        let digits = after
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric())
            .count();
        if digits > 0 && after.as_bytes().get(digits) == Some(&b'_') {
            out.push_str("*_");
            rest = &after[digits + 1..];
        } else {
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The linker script for `function`: the `.text` output section, starting with the input
/// sections of every pattern (sorted), inserted before `.init` (where it already is). The linker
/// still adds all other code to `.text` after them, so there is one `.text` as before, which
/// profilers need: valgrind leaves code outside `.text` unnamed. LLVM and GCC name a function's
/// section `.text.<symbol>`, or `.text.unlikely.<symbol>` for a cold one, or (C only)
/// `.text.startup.<symbol>` for a constructor; all three are matched. GNU ld keeps the listed
/// sections in a `.text` of their own before `.init`; the layout holds there too.
pub fn linker_script(function: &str, symbols: &[String]) -> String {
    // Sorted: callgrind lists functions in an order that moves with address randomisation, and
    // the script is committed, so a regeneration should show only what changed.
    let patterns: std::collections::BTreeSet<String> = symbols
        .iter()
        .filter_map(|symbol| symbol_pattern(symbol))
        .collect();
    let mut script = format!(
        "/* The {function}'s startup layout: the {count} function patterns its init runs,\n   \
         placed together before the rest of the code (tools/bench/src/layout.rs says why).\n   \
         Generated by `make startup-layout`; regenerate after dependency or toolchain updates. */\n\
         SECTIONS\n{{\n  .text : {{\n",
        count = patterns.len()
    );
    for pattern in &patterns {
        // Only C compilers put constructors in `.text.startup.*`; Rust symbols skip that name.
        let startup = if is_rust_legacy(pattern) || is_rust_v0(pattern) {
            String::new()
        } else {
            format!(" .text.startup.{pattern}")
        };
        script.push_str(&format!(
            "    *(.text.{pattern} .text.unlikely.{pattern}{startup})\n"
        ));
    }
    script.push_str("  }\n}\nINSERT BEFORE .init;\n");
    script
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILE: &str = "\
version: 1
creator: callgrind-3.19.0
ob=/usr/lib/x86_64-linux-gnu/libc.so.6
fn=malloc
0 10
ob=/tmp/build/release/archiver
fn=main
0 3
cob=/usr/lib/x86_64-linux-gnu/libc.so.6
cfn=malloc
calls=1 0
0 10
fn=_ZN5tokio7runtime7builder7Builder5build17h0123456789abcdefE
0 7
fn=_ZN5tokio7runtime7builder7Builder5build17h0123456789abcdefE'2
0 1
fn=(below main)
0 1
ob=/tmp/build/release/archiver-other
fn=unrelated
0 1
ob=/tmp/build/release/archiver
fn=main
0 1
";

    #[test]
    fn executed_functions_are_those_of_the_object_once_each_without_recursion_marks() {
        assert_eq!(
            executed_functions(PROFILE, "archiver"),
            [
                "main",
                "_ZN5tokio7runtime7builder7Builder5build17h0123456789abcdefE",
                "(below main)",
            ]
        );
        assert_eq!(executed_functions(PROFILE, "libc.so.6"), ["malloc"]);
    }

    #[test]
    fn legacy_symbols_lose_their_hash() {
        assert_eq!(
            symbol_pattern("_ZN5tokio7runtime7builder7Builder5build17h0123456789abcdefE")
                .as_deref(),
            Some("_ZN5tokio7runtime7builder7Builder5build17h*")
        );
        assert_eq!(
            symbol_pattern("_ZN5alloc7raw_vec19RawVec$LT$T$C$A$GT$8grow_one17hdb2462446bf71c84E")
                .as_deref(),
            Some("_ZN5alloc7raw_vec19RawVec$LT$T$C$A$GT$8grow_one17h*")
        );
    }

    #[test]
    fn v0_symbols_lose_their_crate_disambiguators() {
        assert_eq!(
            symbol_pattern("_RNvMs0_NtNtNtNtCsjrHSEGnQ3l9_3std3sys4sync4once5futexNtB5_4Once4call")
                .as_deref(),
            Some("_RNvMs0_NtNtNtNtCs*_3std3sys4sync4once5futexNtB5_4Once4call")
        );
        assert_eq!(
            symbol_pattern(
                "_RNvMs4_NtCslNYArtu3iFV_5alloc7raw_vecNtB5_11RawVecInner11finish_growCsjrHSEGnQ3l9_3std"
            )
            .as_deref(),
            Some("_RNvMs4_NtCs*_5alloc7raw_vecNtB5_11RawVecInner11finish_growCs*_3std")
        );
    }

    #[test]
    fn c_symbols_stay_and_non_symbols_are_dropped() {
        assert_eq!(
            symbol_pattern("aws_lc_0_47_0_BN_new").as_deref(),
            Some("aws_lc_0_47_0_BN_new")
        );
        assert_eq!(symbol_pattern("(below main)"), None);
        assert_eq!(symbol_pattern("0x000000000001ab70"), None);
        assert_eq!(symbol_pattern(""), None);
    }

    #[test]
    fn the_script_inserts_one_section_with_each_pattern_once() {
        let symbols = [
            "_ZN5tokio7runtime7builder7Builder5build17h0123456789abcdefE".to_owned(),
            "_ZN5tokio7runtime7builder7Builder5build17hfedcba9876543210E".to_owned(),
            "(below main)".to_owned(),
            "aws_lc_0_47_0_BN_new".to_owned(),
        ];
        let script = linker_script("archiver", &symbols);
        assert!(script.starts_with("/* The archiver's startup layout: the 2 function patterns"));
        assert!(script.ends_with("  }\n}\nINSERT BEFORE .init;\n"));
        assert!(script.contains(
            "    *(.text._ZN5tokio7runtime7builder7Builder5build17h* \
             .text.unlikely._ZN5tokio7runtime7builder7Builder5build17h*)\n"
        ));
        assert!(script.contains(
            "    *(.text.aws_lc_0_47_0_BN_new .text.unlikely.aws_lc_0_47_0_BN_new \
             .text.startup.aws_lc_0_47_0_BN_new)\n"
        ));
        assert!(!script.contains("below main"));
    }
}
