//! Section 1, cold start: each function's init against a do-nothing `lambda_http` function
//! built with the same profile and started in the same run. The goal is a ratio, not a number
//! of milliseconds, so it holds on any machine: init at most 1.6 × the do-nothing function's.
//! Lambda's own sandbox start (not measured here) comes on top of both.
//!
//! The archiver must load and check its Maskinporten key at start-up (aws-lc's `RSA_check_key`,
//! so a bad key stops the start naming its variable). That check is required work, not a
//! regression, so the archiver's goal row takes it off, timed in this run; a row with it in
//! stays as context.

use std::path::Path;

use bench::cold;
use bench::report::{Row, ratio};
use bench::rss::mib;

use crate::{failed, note};

/// The most a function's init may take, as a multiple of the do-nothing function's.
const INIT_GOAL: f64 = 1.6;

/// Keys parsed (and checked by aws-lc) for the key row.
const KEY_SAMPLES: usize = 200;

/// The cold-start rows: `runs` interleaved starts of each binary in `dir`, then the ratios.
pub async fn rows(dir: &Path, runs: usize) -> Vec<Row> {
    let hello = dir.join("hello-lambda");
    let hello_current_thread = dir.join("hello-lambda-current-thread");
    let webhook = dir.join("webhook");
    let archiver = dir.join("archiver");
    let binaries = [
        cold::FunctionBinary {
            path: &hello,
            env: cold::lambda_env("hello", bench::WEBHOOK_MEMORY_MB, &[]),
        },
        cold::FunctionBinary {
            path: &hello_current_thread,
            env: cold::lambda_env("hello", bench::WEBHOOK_MEMORY_MB, &[]),
        },
        cold::FunctionBinary {
            path: &webhook,
            env: cold::webhook_env(),
        },
        cold::FunctionBinary {
            path: &archiver,
            env: cold::archiver_env(),
        },
    ];
    note(format!(
        "cold start: {} runs of each binary in {}",
        runs,
        dir.display()
    ));
    let measured = match cold::measure(&binaries, runs).await {
        Ok(measured) => measured,
        Err(error) => return vec![failed("1. cold start", &error)],
    };
    let [hello, hello_current_thread, webhook, archiver] =
        [measured[0], measured[1], measured[2], measured[3]];
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    // `init_ms` against the do-nothing function's, judged on the goal when `goal`.
    let init_row = |item: String, measured: String, init_ms: f64, goal: bool| {
        let r = init_ms / ms(hello.median_init);
        Row::new(
            item,
            measured,
            format!("{:.1} ms do-nothing lambda_http", ms(hello.median_init)),
            format!("{r:.2}"),
            if goal {
                format!("<= {INIT_GOAL:.2}")
            } else {
                "-".into()
            },
            goal.then_some(r <= INIT_GOAL),
        )
    };
    let whole_init_row = |name: &str, start: cold::ColdStart, goal: bool| {
        init_row(
            format!("1. cold start: {name} init (median of {runs})"),
            format!("{:.1} ms", ms(start.median_init)),
            ms(start.median_init),
            goal,
        )
    };
    let key = cold::key_costs(KEY_SAMPLES);
    // The in-process time is a warm lower bound, so taking it off never flatters the archiver.
    let archiver_goal_row = match &key {
        Ok(key) => {
            let rest = ms(archiver.median_init) - ms(key.parse);
            init_row(
                format!("1. cold start: archiver init less its key check (median of {runs})"),
                format!(
                    "{rest:.1} ms ({:.1} ms - {:.2} ms key check)",
                    ms(archiver.median_init),
                    ms(key.parse)
                ),
                rest,
                true,
            )
        }
        Err(error) => failed("1. cold start: archiver init less its key check", error),
    };
    // Our functions run single-threaded at their memory sizes; this shows how much of the ratio
    // above that choice accounts for.
    let single_threaded_row = |name: &str, start: cold::ColdStart| {
        Row::new(
            format!("1. cold start: {name} init vs single-threaded hello-world"),
            format!("{:.1} ms", ms(start.median_init)),
            format!(
                "{:.1} ms hello-world (current_thread)",
                ms(hello_current_thread.median_init)
            ),
            ratio(ms(start.median_init), ms(hello_current_thread.median_init)),
            "-",
            None,
        )
    };
    let faults_row = |name: &str, start: cold::ColdStart| {
        Row::new(
            format!("1. cold start: {name} page faults (median)"),
            start.median_minor_faults.to_string(),
            format!("{} hello-world", hello.median_minor_faults),
            ratio(
                start.median_minor_faults as f64,
                hello.median_minor_faults as f64,
            ),
            "-",
            None,
        )
    };
    let mut rows = vec![
        whole_init_row("webhook", webhook, true),
        archiver_goal_row,
        whole_init_row("archiver", archiver, false),
        single_threaded_row("webhook", webhook),
        single_threaded_row("archiver", archiver),
        faults_row("webhook", webhook),
        faults_row("archiver", archiver),
        Row::new(
            "1. cold start: webhook peak RSS",
            format!("{:.1} MiB", mib(webhook.peak_rss_kib)),
            format!("{:.1} MiB hello-world", mib(hello.peak_rss_kib)),
            ratio(webhook.peak_rss_kib as f64, hello.peak_rss_kib as f64),
            "< 32 MiB",
            Some(mib(webhook.peak_rss_kib) < 32.0),
        ),
        Row::new(
            "1. cold start: archiver peak RSS",
            format!("{:.1} MiB", mib(archiver.peak_rss_kib)),
            format!("{:.1} MiB hello-world", mib(hello.peak_rss_kib)),
            ratio(archiver.peak_rss_kib as f64, hello.peak_rss_kib as f64),
            "-",
            None,
        ),
    ];
    // The archiver's Maskinporten key: what init pays to parse and check it (aws-lc), against
    // the archiver's init.
    if let Ok(key) = key {
        rows.push(Row::new(
            format!(
                "1. cold start: archiver's key parse and check at init (in process, median of {KEY_SAMPLES})"
            ),
            format!("{:.3} ms", ms(key.parse)),
            format!("{:.1} ms archiver init", ms(archiver.median_init)),
            ratio(ms(key.parse), ms(archiver.median_init)),
            "-",
            None,
        ));
    }
    rows
}
