//! The `altinn-sim` binary starts, prints what the archive needs, seeds the demo and serves.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn binary_prints_its_environment_and_serves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_altinn-sim"))
        .args([
            "--port",
            "0",
            "--org",
            "ttd",
            "--seed-demo",
            "--large-attachment-mib",
            "1",
            "--retry-time-scale",
            "0.01",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("altinn-sim starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut banner = Vec::new();
    let read_banner = async {
        while let Some(line) = lines.next_line().await.expect("read stdout") {
            let done = line.contains("Ctrl-C to stop");
            banner.push(line);
            if done {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read_banner)
        .await
        .expect("banner within 60 s");
    let text = banner.join("\n");

    let value_of = |name: &str| {
        banner
            .iter()
            .find_map(|l| l.trim().strip_prefix(&format!("export {name}=")))
            .unwrap_or_else(|| panic!("{name} in banner:\n{text}"))
            .to_owned()
    };
    assert_eq!(value_of("ALTINN_ENV"), "local");
    let platform = value_of("ALTINN_PLATFORM_URL");
    assert!(
        platform.starts_with("http://127.0.0.1:") && platform.ends_with('/'),
        "{platform}"
    );
    assert_eq!(value_of("ALTINN_APPS_URL"), platform);
    assert_eq!(
        value_of("MASKINPORTEN_URL"),
        format!("{platform}maskinporten/")
    );
    assert_eq!(value_of("MASKINPORTEN_CLIENT_ID"), "sim-client");
    assert_eq!(value_of("MASKINPORTEN_KID"), "sim-kid");
    assert_eq!(
        text.matches("ttd/demo-app ").count(),
        5,
        "five seeded instances (one waiting in the feedback task):\n{text}"
    );
    assert!(text.contains("(hard-deleted)"));
    assert!(
        text.contains(&format!("{:>12} bytes stor-fil.bin", 1024 * 1024)),
        "{text}"
    );

    // It answers like the library does: an exchange without a token is a bare 401.
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let response = client
        .get(format!(
            "{platform}authentication/api/v1/exchange/maskinporten"
        ))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 401);

    child.kill().await.expect("stop the child we started");
}

#[tokio::test]
async fn binary_rejects_bad_arguments() {
    let output = Command::new(env!("CARGO_BIN_EXE_altinn-sim"))
        .arg("--no-such-flag")
        .output()
        .await
        .expect("altinn-sim runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("Usage: altinn-sim"));
}
