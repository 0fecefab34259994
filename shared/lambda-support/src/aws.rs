//! The AWS SDK configuration and the Secrets Manager reads every function shares.

use altinn::tls::TlsError;
use altinn::{MaskinportenKeySource, Secret};
use aws_config::environment::{
    EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider,
};
use aws_config::{BehaviorVersion, SdkConfig};

use crate::http::ReqwestHttpClient;

/// Loads the SDK configuration from the environment (region, credentials, and the
/// `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` overrides used for local servers), with
/// [`ReqwestHttpClient`] as the HTTP client. Call once at start-up; the clients built from it
/// are reused across invocations. Fails only when `SSL_CERT_FILE` names an unusable file.
pub async fn sdk_config() -> Result<SdkConfig, TlsError> {
    let http_client = ReqwestHttpClient::new()?.shared();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http_client);
    let var = |name: &str| std::env::var(name).ok();
    if credentials_in_environment(var) {
        loader = loader.credentials_provider(EnvironmentVariableCredentialsProvider::new());
    }
    if region_in_environment(var) {
        loader = loader.region(EnvironmentVariableRegionProvider::new());
    }
    Ok(loader.load().await)
}

/// True when the access key pair is in the environment, as Lambda puts the function role's
/// credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`).
///
/// The default credentials chain tries the environment first, so when this holds it would
/// choose the same credentials. Naming the environment provider skips building the rest of the
/// chain: an STS client for web identity, an IMDS client and the ECS provider, about a quarter
/// of the webhook's start-up instructions. Elsewhere (a laptop with a profile, ECS, EC2) the
/// whole chain is used as before.
fn credentials_in_environment(var: impl Fn(&str) -> Option<String>) -> bool {
    let present = |name: &str| var(name).is_some_and(|value| !value.trim().is_empty());
    present("AWS_ACCESS_KEY_ID")
        && (present("AWS_SECRET_ACCESS_KEY") || present("SECRET_ACCESS_KEY"))
}

/// True when `AWS_REGION` is set, as Lambda always sets it.
///
/// As with the credentials, the default region chain would choose that region first; naming
/// the environment provider skips building the profile and IMDS region providers (an IMDS
/// client among them) at every cold start. Without it (a laptop with only `AWS_DEFAULT_REGION`
/// or a profile) the whole chain is used as before.
fn region_in_environment(var: impl Fn(&str) -> Option<String>) -> bool {
    var("AWS_REGION").is_some_and(|value| !value.trim().is_empty())
}

/// True when S3 requests go to an endpoint override (moto, MinIO) rather than AWS.
fn s3_endpoint_overridden(config: &SdkConfig) -> bool {
    config.endpoint_url().is_some()
        || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some()
        || std::env::var_os("AWS_ENDPOINT_URL").is_some()
}

/// An S3 client. With an endpoint override it uses path-style addressing, because a local
/// server has no wildcard DNS for `bucket.host` names.
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let s3_config = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(s3_endpoint_overridden(config))
        .build();
    aws_sdk_s3::Client::from_conf(s3_config)
}

/// `GetObject`, with a missing key as `None` rather than an error: the archiver and
/// `archive-ops` both read objects that may not be there yet.
pub async fn get_object_if_exists(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<
    Option<aws_sdk_s3::primitives::ByteStream>,
    aws_sdk_s3::error::SdkError<aws_sdk_s3::operation::get_object::GetObjectError>,
> {
    match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(response) => Ok(Some(response.body)),
        Err(error) if error.as_service_error().is_some_and(|e| e.is_no_such_key()) => Ok(None),
        Err(error) => Err(error),
    }
}

/// The Maskinporten key text: inline (`MASKINPORTEN_KEY`) or read from Secrets Manager
/// (`MASKINPORTEN_KEY_SECRET_ARN`).
pub async fn maskinporten_key_text(
    source: &MaskinportenKeySource,
    config: &SdkConfig,
) -> Result<Secret, SecretError> {
    match source {
        MaskinportenKeySource::Inline(secret) => Ok(secret.clone()),
        MaskinportenKeySource::SecretArn(arn) => read_secret(config, arn).await,
    }
}

/// Why a secret could not be read. Never contains the secret's value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("could not read secret {arn}: {reason}")]
    Read { arn: String, reason: String },
    #[error("secret {arn} has no string value")]
    NotAString { arn: String },
}

/// Reads the `AWSCURRENT` string value of a Secrets Manager secret.
pub async fn read_secret(config: &SdkConfig, arn: &str) -> Result<Secret, SecretError> {
    let client = aws_sdk_secretsmanager::Client::new(config);
    read_secret_stage(&client, arn, "AWSCURRENT")
        .await?
        .ok_or_else(|| SecretError::NotAString {
            arn: arn.to_owned(),
        })
}

/// Reads one version stage (`AWSCURRENT`, `AWSPREVIOUS`, …) of a secret; `Ok(None)` when that
/// stage does not exist (a secret that was never rotated has no `AWSPREVIOUS`).
pub async fn read_secret_stage(
    client: &aws_sdk_secretsmanager::Client,
    arn: &str,
    stage: &str,
) -> Result<Option<Secret>, SecretError> {
    let response = client
        .get_secret_value()
        .secret_id(arn)
        .version_stage(stage)
        .send()
        .await;
    match response {
        Ok(output) => match output.secret_string {
            Some(value) => Ok(Some(Secret::new(value))),
            None => Err(SecretError::NotAString {
                arn: arn.to_owned(),
            }),
        },
        Err(error) => {
            let service_error = error.as_service_error();
            if service_error.is_some_and(|e| e.is_resource_not_found_exception())
                && stage != "AWSCURRENT"
            {
                return Ok(None);
            }
            // The SDK's error text names the operation and the AWS error code, never the value.
            let reason = match service_error {
                Some(e) => e.meta().code().unwrap_or("service error").to_owned(),
                None => error.to_string(),
            };
            Err(SecretError::Read {
                arn: arn.to_owned(),
                reason,
            })
        }
    }
}

/// An AWS SDK client built when it is first used, or passed in built.
///
/// Building an SDK client parses AWS's partition table (JSON and regular expressions, about
/// 0.4 million instructions). A client the function may never need on a given run (SQS for a
/// failed message, SNS for a follow-up alert, EventBridge for a hand-off event) is built at its
/// first call, so a cold start does not pay for it.
pub struct OnFirstUse<C>(std::sync::Arc<Source<C>>);

enum Source<C> {
    Built(C),
    Later {
        sdk: Box<SdkConfig>,
        build: fn(&SdkConfig) -> C,
        client: std::sync::OnceLock<C>,
    },
}

impl<C> OnFirstUse<C> {
    /// A client `build` makes from `sdk` at the first call (e.g. `aws_sdk_sqs::Client::new`).
    pub fn new(sdk: &SdkConfig, build: fn(&SdkConfig) -> C) -> Self {
        OnFirstUse(std::sync::Arc::new(Source::Later {
            sdk: Box::new(sdk.clone()),
            build,
            client: std::sync::OnceLock::new(),
        }))
    }

    /// Whether the client exists yet (always, for one passed in built).
    pub fn is_built(&self) -> bool {
        match &*self.0 {
            Source::Built(_) => true,
            Source::Later { client, .. } => client.get().is_some(),
        }
    }

    /// The client, built now if it is the first call.
    pub fn get(&self) -> &C {
        match &*self.0 {
            Source::Built(client) => client,
            Source::Later { sdk, build, client } => client.get_or_init(|| build(sdk)),
        }
    }
}

impl<C> From<C> for OnFirstUse<C> {
    /// A client built already (tests and tools pass one).
    fn from(client: C) -> Self {
        OnFirstUse(std::sync::Arc::new(Source::Built(client)))
    }
}

impl<C> Clone for OnFirstUse<C> {
    fn clone(&self) -> Self {
        OnFirstUse(std::sync::Arc::clone(&self.0))
    }
}

impl<C> std::fmt::Debug for OnFirstUse<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnFirstUse")
            .field("built", &self.is_built())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::{OnFirstUse, credentials_in_environment, region_in_environment};
    use aws_config::{BehaviorVersion, SdkConfig};

    fn environment(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn lambda_style_credentials_are_taken_from_the_environment() {
        assert!(credentials_in_environment(environment(&[
            ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
        ])));
        // The SDK also accepts the older SECRET_ACCESS_KEY name.
        assert!(credentials_in_environment(environment(&[
            ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
            ("SECRET_ACCESS_KEY", "secret"),
        ])));
    }

    #[test]
    fn a_missing_or_blank_half_leaves_the_default_chain() {
        assert!(!credentials_in_environment(environment(&[])));
        assert!(!credentials_in_environment(environment(&[(
            "AWS_ACCESS_KEY_ID",
            "AKIAEXAMPLE"
        )])));
        assert!(!credentials_in_environment(environment(&[
            ("AWS_ACCESS_KEY_ID", " "),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
        ])));
        assert!(!credentials_in_environment(environment(&[
            ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", ""),
            ("AWS_PROFILE", "dev"),
        ])));
    }

    #[test]
    fn the_region_is_named_only_when_aws_region_is_set() {
        assert!(region_in_environment(environment(&[(
            "AWS_REGION",
            "eu-north-1"
        )])));
        assert!(!region_in_environment(environment(&[])));
        assert!(!region_in_environment(environment(&[("AWS_REGION", " ")])));
        // The default chain reads AWS_DEFAULT_REGION and profiles itself.
        assert!(!region_in_environment(environment(&[(
            "AWS_DEFAULT_REGION",
            "eu-north-1"
        )])));
    }

    #[test]
    fn the_client_is_built_at_the_first_call_and_only_once() {
        let sdk = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(aws_config::Region::new("eu-north-1"))
            .build();
        let lazy = OnFirstUse::new(&sdk, aws_sdk_s3::Client::new);
        let shared = lazy.clone();
        assert!(!lazy.is_built());
        assert_eq!(format!("{lazy:?}"), "OnFirstUse { built: false }");

        let first: *const aws_sdk_s3::Client = shared.get();
        assert!(lazy.is_built(), "clones share the one client");
        assert!(std::ptr::eq(first, lazy.get()), "built once, not per call");
        assert_eq!(
            lazy.get().config().region().map(|r| r.as_ref()),
            Some("eu-north-1")
        );
        assert_eq!(format!("{lazy:?}"), "OnFirstUse { built: true }");

        let given = OnFirstUse::from(aws_sdk_s3::Client::new(&sdk));
        assert!(given.is_built());
    }
}
