//! The fuzz targets' properties (`chaos::properties`) on the seed inputs in fuzz/seeds/, on every
//! file a fuzzer left in fuzz/artifacts/ (crashes to turn into fixed bugs), and on the inputs
//! below: each one once crashed a target or is a hostile edge worth keeping. A crash found by
//! `make fuzz` goes into `REGRESSIONS` with its bytes.

use std::path::PathBuf;

use chaos::properties;

type Property = fn(&[u8]);

const TARGETS: &[(&str, Property)] = &[
    ("cloud_event", properties::cloud_event),
    ("source", properties::source),
    ("instance", properties::instance),
];

/// (target, input) pairs kept as regression cases.
const REGRESSIONS: &[(&str, &[u8])] = &[
    ("cloud_event", b""),
    ("cloud_event", b"{}"),
    ("cloud_event", b"{\"id\":\"1\",\"id\":\"2\"}"),
    ("cloud_event", b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["),
    ("cloud_event", b"{\"specversion\":\"1.0\",\"id\":\"\\ud800\",\"source\":\"x\",\"type\":\"t\"}"),
    ("source", b""),
    ("source", b"https://ttd.apps.altinn.no/ttd/a/instances/18446744073709551616/5d9e906b-83ed-44df-85a7-2f104c640bff"),
    ("source", b"https://ttd.apps.altinn.no/ttd/a/instances/-1/5d9e906b-83ed-44df-85a7-2f104c640bff"),
    ("source", b"https://ttd.apps.altinn.no:443/ttd/a/instances/1/5d9e906b-83ed-44df-85a7-2f104c640bff"),
    ("source", "https://ttd.apps.altinn.no/ttd/\u{e5}pp/instances/1/5d9e906b-83ed-44df-85a7-2f104c640bff".as_bytes()),
    ("source", b"http://127.0.0.1:5101/apps/../ttd/a/instances/1/5d9e906b-83ed-44df-85a7-2f104c640bff"),
    ("instance", b""),
    ("instance", b"null"),
    ("instance", b"{\"id\":\"1/5d9e906b-83ed-44df-85a7-2f104c640bff\",\"data\":[{}]}"),
];

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn files_under(dir: PathBuf) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes = std::fs::read(&p).expect("read input");
            (p, bytes)
        })
        .collect()
}

#[test]
fn regression_inputs_hold_the_properties() {
    for (target, input) in REGRESSIONS {
        let property = TARGETS
            .iter()
            .find(|(name, _)| name == target)
            .map(|(_, p)| *p)
            .expect("known target");
        property(input);
    }
}

#[test]
fn seed_inputs_hold_the_properties() {
    let mut seeds = 0;
    for (target, property) in TARGETS {
        for (path, bytes) in files_under(fuzz_dir().join("seeds").join(target)) {
            let result = std::panic::catch_unwind(|| property(&bytes));
            assert!(
                result.is_ok(),
                "{target}: {} breaks the property",
                path.display()
            );
            seeds += 1;
        }
    }
    assert!(seeds >= 9, "the seed inputs are there ({seeds})");
}

/// Crash inputs a local `make fuzz` left behind must be fixed (or the test fails until they are).
#[test]
fn no_crash_input_left_unfixed() {
    for (target, property) in TARGETS {
        for (path, bytes) in files_under(fuzz_dir().join("artifacts").join(target)) {
            let result = std::panic::catch_unwind(|| property(&bytes));
            assert!(
                result.is_ok(),
                "{target}: {} still crashes; add it to REGRESSIONS and fix it",
                path.display()
            );
        }
    }
}

/// The seed instances parse (so the instance target starts from real Altinn JSON, not noise).
#[test]
fn seed_instances_are_real_instances() {
    for (path, bytes) in files_under(fuzz_dir().join("seeds/instance")) {
        assert!(
            serde_json::from_slice::<altinn::Instance>(&bytes).is_ok(),
            "{} parses",
            path.display()
        );
    }
    for (path, bytes) in files_under(fuzz_dir().join("seeds/cloud_event")) {
        assert!(
            altinn::CloudEvent::parse(&bytes).is_ok(),
            "{} parses",
            path.display()
        );
    }
}
