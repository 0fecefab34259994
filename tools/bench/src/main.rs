//! `bench`: runs the performance measurements and prints the table (see the library docs and
//! docs/benchmarks.md). `make bench` builds what it needs and runs this; `bench --help` lists
//! the options. The rows of each section are built in [`sections`].

mod sections;

use std::path::PathBuf;
use std::process::ExitCode;

use bench::archive::{self, ArchiveRig};
use bench::report::{Row, render};
use bench::s3server::{S3Kind, S3sFs};
use clap::Parser;

/// Measures cold start, the webhook's warm path, streaming archives and scaling against
/// baselines from the same run, and prints one Markdown table. Exits 1 when a goal fails.
#[derive(Debug, Parser)]
#[command(name = "bench", version)]
struct Cli {
    /// Small sizes (64 MiB big element, 20 small ones, fewer events): a smoke run.
    #[arg(long)]
    quick: bool,
    /// Where the webhook, archiver and hello-lambda(-current-thread) binaries are (cold start);
    /// without it the cold-start rows are left out.
    #[arg(long, value_name = "DIR")]
    bin_dir: Option<PathBuf>,
    /// The aws CLI for the `aws s3 cp` baseline.
    #[arg(long, value_name = "PATH", default_value = "aws")]
    aws: PathBuf,
    /// The s3s-fs binary.
    #[arg(long = "s3s-fs", value_name = "PATH", default_value = "s3s-fs")]
    s3s_fs: PathBuf,
    /// The S3 servers for the archive and scaling sections, in order. The goals are judged on
    /// the first; the others are context.
    #[arg(long, value_name = "LIST", value_delimiter = ',', default_value = "moto",
          value_parser = ["moto", "s3s-fs"])]
    s3: Vec<String>,
    /// Run only these sections.
    #[arg(long, value_name = "LIST", value_delimiter = ',',
          value_parser = ["warm", "archive", "scaling", "cold"])]
    only: Option<Vec<String>>,
}

/// The sizes of one run.
pub(crate) struct Sizes {
    pub(crate) big_bytes: u64,
    pub(crate) small_count: usize,
    pub(crate) small_bytes: u64,
    pub(crate) scaling_element_bytes: u64,
    pub(crate) scaling_repeats: usize,
    pub(crate) handler_batch: usize,
    pub(crate) handler_batches: usize,
    pub(crate) e2e_events: usize,
    pub(crate) e2e_concurrency: usize,
    pub(crate) cold_runs: usize,
    /// Archive / `aws s3 cp` pairs per streaming case; the medians are compared.
    pub(crate) streaming_repeats: usize,
}

impl Sizes {
    fn full() -> Sizes {
        Sizes {
            big_bytes: 1 << 30,
            small_count: 200,
            small_bytes: 256 << 10,
            scaling_element_bytes: 64 << 10,
            scaling_repeats: 3,
            handler_batch: 2_000,
            handler_batches: 25,
            e2e_events: 2_000,
            e2e_concurrency: 16,
            // A start is a few milliseconds, and this machine's timings wander: over runs of the
            // same binaries, the archiver's ratio spread over 0.25 with 40 starts each and over
            // about 0.1 with 400 (about 5 s).
            cold_runs: 400,
            // One 1 GiB pair moved by ±10 % between runs here; the median of three holds still.
            streaming_repeats: 3,
        }
    }

    fn quick() -> Sizes {
        Sizes {
            big_bytes: 64 << 20,
            small_count: 20,
            handler_batches: 5,
            e2e_events: 200,
            scaling_repeats: 1,
            cold_runs: 5,
            streaming_repeats: 1,
            ..Sizes::full()
        }
    }
}

pub(crate) struct Options {
    pub(crate) sizes: Sizes,
    quick: bool,
    bin_dir: Option<PathBuf>,
    pub(crate) aws: PathBuf,
    s3_servers: Vec<S3Kind>,
    only: Option<Vec<String>>,
}

impl Options {
    fn from_cli(cli: Cli) -> Options {
        let s3_servers = cli
            .s3
            .iter()
            .map(|name| match name.as_str() {
                "s3s-fs" => S3Kind::S3sFs(cli.s3s_fs.clone()),
                _ => S3Kind::Moto,
            })
            .collect();
        Options {
            sizes: if cli.quick {
                Sizes::quick()
            } else {
                Sizes::full()
            },
            quick: cli.quick,
            bin_dir: cli.bin_dir,
            aws: cli.aws,
            s3_servers,
            only: cli.only,
        }
    }

    fn wants(&self, section: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.iter().any(|s| s == section))
    }
}

fn main() -> ExitCode {
    // The archive child runs on the runtime the archiver would pick at its deployed memory size
    // (set in its environment); the harness itself on Tokio's worker pool.
    let child = std::env::args().nth(1).as_deref() == Some("archive-child");
    let options = if child {
        None
    } else {
        Some(Options::from_cli(Cli::parse()))
    };
    let runtime = if child {
        lambda_support::runtime::for_this_process()
    } else {
        tokio::runtime::Runtime::new()
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("bench: cannot start Tokio: {error}");
            return ExitCode::FAILURE;
        }
    };
    let Some(options) = options else {
        return match runtime.block_on(archive::run_child()) {
            Ok(run) => {
                println!("{}", serde_json::to_string(&run).unwrap_or_default());
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("archive-child: {error}");
                ExitCode::FAILURE
            }
        };
    };
    let rows = runtime.block_on(run(&options));
    println!();
    print!("{}", render(&rows));
    if rows.iter().any(|r| r.pass == Some(false)) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

pub(crate) fn failed(item: &str, error: &str) -> Row {
    Row::new(item, format!("error: {error}"), "-", "-", "-", Some(false))
}

pub(crate) fn note(text: String) {
    eprintln!("bench: {text}");
}

async fn run(options: &Options) -> Vec<Row> {
    let mut rows = Vec::new();
    note(format!(
        "{} run on {} CPU(s); SQS: moto_server ({}); S3 for archives: {}",
        if options.quick { "quick" } else { "full" },
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::env::var("MOTO_SERVER").unwrap_or_else(|_| "testkit default".into()),
        options
            .s3_servers
            .iter()
            .map(S3Kind::label)
            .collect::<Vec<_>>()
            .join(", ")
    ));
    if options.wants("cold") {
        match &options.bin_dir {
            Some(dir) => rows.extend(sections::cold::rows(dir, options.sizes.cold_runs).await),
            None => note("cold start left out (no --bin-dir)".into()),
        }
    }
    if options.wants("warm") {
        rows.extend(sections::warm::rows(&options.sizes).await);
    }
    if options.wants("archive") || options.wants("scaling") {
        let moto = testkit::MotoServer::start().await;
        for (index, kind) in options.s3_servers.iter().enumerate() {
            // The first server's rows carry the goals; the others are context.
            let judged = index == 0;
            let s3s_fs = match kind {
                S3Kind::Moto => None,
                S3Kind::S3sFs(program) => match S3sFs::start(program) {
                    Ok(server) => Some(server),
                    Err(error) => {
                        rows.push(failed("archive set-up: s3s-fs", &error));
                        continue;
                    }
                },
            };
            let endpoint = s3s_fs
                .as_ref()
                .map_or_else(|| moto.endpoint(), S3sFs::endpoint);
            let mut section = Vec::new();
            match ArchiveRig::start(&moto, endpoint).await {
                Ok(rig) => {
                    if options.wants("archive") {
                        section.extend(sections::archive::streaming(&rig, options).await);
                    }
                    if options.wants("scaling") {
                        section.extend(sections::archive::scaling(&rig, &options.sizes).await);
                    }
                }
                Err(error) => section.push(failed("archive set-up", &error)),
            }
            rows.extend(section.into_iter().map(|row| {
                let mut row = row.on_server(kind.label());
                if !judged && row.pass.is_some() {
                    row.pass = None;
                }
                row
            }));
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_parses_lists_and_refuses_unknown_names() {
        let cli =
            Cli::try_parse_from(["bench", "--quick", "--s3", "s3s-fs,moto", "--only", "cold"])
                .expect("valid");
        let options = Options::from_cli(cli);
        assert!(options.quick && options.wants("cold") && !options.wants("warm"));
        assert_eq!(
            options
                .s3_servers
                .iter()
                .map(S3Kind::label)
                .collect::<Vec<_>>(),
            ["s3s-fs", "moto"]
        );
        assert!(Cli::try_parse_from(["bench", "--s3", "minio"]).is_err());
        assert!(Cli::try_parse_from(["bench", "--only", "everything"]).is_err());
    }
}
