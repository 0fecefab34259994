//! `archive-ops`: see the library docs and `archive-ops --help`.

use std::io::IsTerminal;

use archive_ops::Context;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sdk = match lambda_support::aws::sdk_config().await {
        Ok(sdk) => sdk,
        Err(error) => {
            eprintln!("archive-ops: cannot set up HTTPS: {error}");
            std::process::exit(2);
        }
    };
    let context = Context {
        sdk,
        env: Box::new(|name| std::env::var(name).ok()),
        progress: std::io::stderr().is_terminal(),
    };
    let code = archive_ops::run(
        &args,
        &context,
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    )
    .await;
    std::process::exit(code);
}
