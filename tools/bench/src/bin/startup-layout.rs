//! `startup-layout`: writes `functions/<name>/startup.ld` for the webhook and the archiver from
//! a callgrind profile of each one's init (see `bench::layout`). `make startup-layout` builds
//! binaries with symbols and runs this; it needs valgrind.
//!
//! Each binary starts with the bench's cold-start environment and a Runtime API address where
//! nothing listens, so it runs its whole init, fails its first `next` request and exits.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use bench::{cold, layout};

const USAGE: &str = "usage: startup-layout --bin-dir DIR --out-dir FUNCTIONS_DIR";

/// Fewer functions than this means the binary has no symbols to name them by.
const FEWEST_FUNCTIONS: usize = 100;

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("startup-layout: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<(), String> {
    let (bin_dir, out_dir) = parse(&args)?;
    let closed_port = closed_local_port()?;
    for (function, env) in [
        ("webhook", cold::webhook_env()),
        ("archiver", cold::archiver_env()),
    ] {
        let binary = bin_dir.join(function);
        let functions = profile_init(&binary, function, &env, &closed_port)?;
        if functions.len() < FEWEST_FUNCTIONS {
            return Err(format!(
                "{} ran only {} named functions: build it with symbols \
                 (CARGO_PROFILE_RELEASE_STRIP=false)",
                binary.display(),
                functions.len()
            ));
        }
        let script = layout::linker_script(function, &functions);
        let path = out_dir.join(function).join("startup.ld");
        std::fs::write(&path, &script)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!(
            "{function}: {} functions ran at init; wrote {}",
            functions.len(),
            path.display()
        );
    }
    Ok(())
}

fn parse(args: &[String]) -> Result<(PathBuf, PathBuf), String> {
    let (mut bin_dir, mut out_dir) = (None, None);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let slot = match arg.as_str() {
            "--bin-dir" => &mut bin_dir,
            "--out-dir" => &mut out_dir,
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        };
        *slot = Some(PathBuf::from(
            args.next().ok_or_else(|| format!("{arg} needs a value"))?,
        ));
    }
    match (bin_dir, out_dir) {
        (Some(bin_dir), Some(out_dir)) => Ok((bin_dir, out_dir)),
        _ => Err(USAGE.to_owned()),
    }
}

/// A 127.0.0.1 address with nothing listening: a port the system just handed out, released.
fn closed_local_port() -> Result<String, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| format!("cannot find a free port: {e}"))?;
    let address = listener
        .local_addr()
        .map_err(|e| format!("cannot find a free port: {e}"))?;
    Ok(address.to_string())
}

/// Runs `binary` once under callgrind and returns the functions of its own that ran.
fn profile_init(
    binary: &Path,
    function: &str,
    env: &[(&'static str, String)],
    runtime_api: &str,
) -> Result<Vec<String>, String> {
    let profile = std::env::temp_dir().join(format!(
        "startup-layout-{function}-{}.callgrind",
        std::process::id()
    ));
    let status = Command::new("valgrind")
        .args(["--tool=callgrind", "--demangle=no", "--compress-strings=no"])
        .arg(format!("--callgrind-out-file={}", profile.display()))
        .arg(binary)
        .env_clear()
        .envs(env.iter().map(|(key, value)| (*key, value.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run valgrind (apt install valgrind): {e}"))?;
    let text = std::fs::read_to_string(&profile);
    let _ = std::fs::remove_file(&profile);
    let text = text.map_err(|e| {
        format!(
            "valgrind ({status}) wrote no profile of {}: {e}",
            binary.display()
        )
    })?;
    // The binary is `<bin-dir>/<function>`, so callgrind names its object by that file name.
    Ok(layout::executed_functions(&text, function))
}
