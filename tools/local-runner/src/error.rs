//! The runner's one error type. Messages say what to do where they can; none carries a secret
//! (the Altinn and AWS errors they wrap are written not to).

/// Why a run could not go on.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A local part (moto_server, the simulator, the webhook's port) could not start.
    #[error("{0}")]
    Setup(String),
    /// A missing or malformed setting (names the variable, never its value).
    #[error(transparent)]
    Config(#[from] altinn::ConfigError),
    /// A command-line problem.
    #[error("{0}")]
    Usage(String),
    /// An Altinn call failed.
    #[error("Altinn: {0}")]
    Altinn(#[from] altinn::ClientError),
    /// The Maskinporten key could not be used.
    #[error("the Maskinporten key: {0}")]
    Key(#[from] altinn::AuthError),
    /// The webhook could not be built.
    #[error("webhook start-up: {0}")]
    Webhook(#[from] webhook::StartupError),
    /// The archiver could not be built.
    #[error("archiver start-up: {0}")]
    Archiver(#[from] archiver::StartupError),
    /// An S3 or SQS call failed.
    #[error("{operation}: {message}")]
    Aws {
        /// The operation, e.g. `S3 CreateBucket`.
        operation: &'static str,
        /// The SDK's description of the failure.
        message: String,
    },
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: String,
        /// What went wrong.
        source: std::io::Error,
    },
}

impl RunError {
    /// An AWS SDK error with its full context (error code and message, no credentials).
    pub fn aws<E>(operation: &'static str, error: E) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        RunError::Aws {
            operation,
            message: aws_sdk_s3::error::DisplayErrorContext(&error).to_string(),
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        RunError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
