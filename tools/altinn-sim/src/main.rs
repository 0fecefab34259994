//! `altinn-sim`: runs the Altinn simulator until Ctrl-C and prints how to point the archive at
//! it. `altinn-sim --help` lists the options.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::ExitCode;

use altinn_sim::{InstanceSpec, SimConfig, Simulator};
use clap::Parser;

/// The Altinn simulator: Maskinporten, the token exchange, Storage, the App API and Events on
/// one loopback port, until Ctrl-C.
#[derive(Debug, PartialEq, Parser)]
#[command(name = "altinn-sim", version)]
struct Args {
    /// The port (0: a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// The service owner org.
    #[arg(long, default_value = "ttd",
          value_parser = clap::builder::NonEmptyStringValueParser::new())]
    org: String,
    /// Seed the demo instances (one with a large attachment, one with a hard-deleted element)
    /// and the correspondence `events/archiver-sqs-correspondence.json` names.
    #[arg(long)]
    seed_demo: bool,
    /// Size of the demo's large attachment, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 50)]
    large_attachment_mib: u64,
    /// Multiplies Altinn's retry delays for event pushes (0.01: a hundred times faster).
    #[arg(long, value_name = "FACTOR", default_value_t = 1.0, value_parser = non_negative)]
    retry_time_scale: f64,
}

fn non_negative(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite() && *f >= 0.0)
        .ok_or_else(|| "must be a non-negative number".to_owned())
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let config = SimConfig {
        org: args.org.clone(),
        retry_time_scale: args.retry_time_scale,
        bind: SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)),
        ..SimConfig::default()
    };
    let simulator = match Simulator::start(config).await {
        Ok(simulator) => simulator,
        Err(error) => {
            eprintln!("altinn-sim: cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    let (seeded, correspondences) = if args.seed_demo {
        let mut seeded = simulator.seed_demo(args.large_attachment_mib * 1024 * 1024);
        seeded.push(simulator.add_instance(sample_event_instance()));
        (seeded, vec![simulator.seed_demo_correspondence()])
    } else {
        (Vec::new(), Vec::new())
    };
    print_banner(&simulator, &seeded, &correspondences);
    if let Err(error) = tokio::signal::ctrl_c().await {
        eprintln!("altinn-sim: cannot wait for Ctrl-C: {error}");
    }
    simulator.shutdown().await;
    ExitCode::SUCCESS
}

fn print_banner(
    simulator: &Simulator,
    seeded: &[altinn_sim::SeededInstance],
    correspondences: &[altinn_sim::SeededCorrespondence],
) {
    let config = simulator.config();
    let key_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/client-key.pkcs8.pem");
    println!("altinn-sim listening on {}", simulator.base_url());
    println!(
        "  Maskinporten issuer (grant aud): {}",
        simulator.maskinporten_issuer()
    );
    println!(
        "  Maskinporten token endpoint:     {}",
        simulator.maskinporten_token_url()
    );
    println!(
        "  Altinn token issuer:             {}",
        simulator.altinn_token_issuer()
    );
    println!(
        "  service owner org: {} ({})",
        config.org, config.org_number
    );
    println!("  client scopes: {}", config.client_scopes.join(" "));
    println!("  client private key (TEST ONLY): {}", key_path.display());
    println!();
    println!("Environment for the archive:");
    println!("  export ALTINN_ENV=local");
    println!("  export ALTINN_PLATFORM_URL={}", simulator.platform_url());
    println!("  export ALTINN_APPS_URL={}", simulator.apps_url());
    println!(
        "  export MASKINPORTEN_URL={}",
        simulator.maskinporten_issuer()
    );
    println!("  export MASKINPORTEN_CLIENT_ID={}", config.client_id);
    println!("  export MASKINPORTEN_KID={}", config.client_kid);
    if !seeded.is_empty() {
        println!();
        println!("Seeded instances:");
        for instance in seeded {
            println!(
                "  {} {}  source {}",
                instance.app_id(),
                instance.instance_id(),
                simulator.instance_source(instance)
            );
            for data in &instance.data {
                println!(
                    "    {} {:<16} {:>12} bytes {}{}",
                    data.id,
                    data.data_type,
                    data.size,
                    data.filename.as_deref().unwrap_or("-"),
                    if data.hard_deleted {
                        "  (hard-deleted)"
                    } else {
                        ""
                    }
                );
            }
        }
    }
    if !correspondences.is_empty() {
        println!();
        println!("Seeded correspondences:");
        for correspondence in correspondences {
            println!(
                "  {} {}  to {}  statuses {}",
                correspondence.resource_id,
                correspondence.id,
                correspondence.recipient,
                simulator
                    .correspondence_statuses(correspondence.id)
                    .join(",")
            );
            for attachment in &correspondence.attachments {
                println!(
                    "    {} {:>12} bytes {}  md5 {}",
                    attachment.id, attachment.size, attachment.file_name, attachment.md5_hex
                );
            }
        }
    }
    println!();
    println!("Ctrl-C to stop.");
}

/// The instance `events/archiver-sqs-batch.json` names (`ttd/archive-demo`, party 50001234), so
/// `cargo lambda invoke archiver --data-file events/archiver-sqs-batch.json` against this
/// simulator archives a real instance instead of meeting a 404.
fn sample_event_instance() -> InstanceSpec {
    let guid = uuid::Uuid::from_u128(0x3f1e2d4c_5b6a_4789_8a9b_0c1d2e3f4a5b);
    InstanceSpec::new("archive-demo", 50001234).with_guid(guid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Args>, String> {
        match Args::try_parse_from(std::iter::once("altinn-sim").chain(args.iter().copied())) {
            Ok(args) => Ok(Some(args)),
            Err(error) if error.kind() == clap::error::ErrorKind::DisplayHelp => Ok(None),
            Err(error) => Err(error.to_string()),
        }
    }

    #[test]
    fn defaults_and_flags() {
        let args = parse(&[]).expect("ok").expect("args");
        assert_eq!(args.port, 0);
        assert_eq!(args.org, "ttd");
        assert!(!args.seed_demo);
        assert_eq!(args.large_attachment_mib, 50);
        let args = parse(&[
            "--port",
            "8080",
            "--org=skd",
            "--seed-demo",
            "--large-attachment-mib",
            "3",
            "--retry-time-scale",
            "0.01",
        ])
        .expect("ok")
        .expect("args");
        assert_eq!(
            args,
            Args {
                port: 8080,
                org: "skd".to_owned(),
                seed_demo: true,
                large_attachment_mib: 3,
                retry_time_scale: 0.01
            }
        );
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert!(parse(&["--port"]).is_err());
        assert!(parse(&["--port", "99999"]).is_err());
        assert!(parse(&["--retry-time-scale", "-1"]).is_err());
        assert!(parse(&["--bogus"]).is_err());
        assert!(parse(&["--org="]).is_err());
        assert!(parse(&["--help"]).expect("ok").is_none());
    }
}
