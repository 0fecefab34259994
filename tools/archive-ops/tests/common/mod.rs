//! What every archive-ops test file needs: run the CLI in-process against moto and capture
//! its exit code, stdout and stderr.

use std::collections::HashMap;

use testkit::MotoServer;

/// One CLI run's exit code and output.
pub struct Output {
    pub code: i32,
    pub out: String,
    pub err: String,
}

/// Runs `archive-ops words…` with `env` as its environment and moto as AWS.
pub async fn run(moto: &MotoServer, env: &HashMap<&'static str, String>, words: &[&str]) -> Output {
    let env = env.clone();
    let context = archive_ops::Context {
        sdk: moto.sdk_config().await,
        env: Box::new(move |name| env.get(name).cloned()),
        progress: false,
    };
    let args: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = archive_ops::run(&args, &context, &mut out, &mut err).await;
    Output {
        code,
        out: String::from_utf8(out).unwrap(),
        err: String::from_utf8(err).unwrap(),
    }
}
