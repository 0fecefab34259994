//! The reconciler's settings, read from environment variables:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `RECONCILE_APPS` | required | comma-separated `org/app` list; every org must be `ALTINN_ORG` |
//! | `QUEUE_URL` | required | the archiver's event queue (FIFO when it ends in `.fifo`) |
//! | `ARCHIVE_BUCKET` | required | the archive bucket |
//! | `ARCHIVE_PREFIX` | `""` | the archive prefix, as the archiver has it |
//! | `RECONCILE_MAX_ENQUEUE` | 500 | most synthetic events one run enqueues (1–10000) |
//! | `RECONCILE_PAGE_SIZE` | 100 | Storage query page size (1–1000; Altinn's default is 100) |
//! | `RECONCILE_REENQUEUE_AFTER_MINUTES` | 1440 | an instance enqueued by us and still not archived is enqueued again after this long (0–10080) |
//! | `DEADLINE_MARGIN_SECS` | 20 | stop this long before the Lambda deadline (0–300) |
//! | `ALTINN_MAX_ATTEMPTS` | 4 | attempts per Altinn request (1–10) |
//! | `ALTINN_REQUEST_TIMEOUT_SECS` | 30 | per Altinn request (1–300) |
//! | `ALTINN_*`, `MASKINPORTEN_*` | | see [`altinn::AltinnConfig`] |

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use altinn::environment::{is_valid_app_name, is_valid_org_code};
use altinn::{AltinnConfig, ConfigError, RetryPolicy};
use lambda_support::settings::{
    Lookup, altinn_retry_policy, feedback_task, in_range, optional, required,
};

/// One Altinn app, `{org}/{app}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct AppId {
    /// The app owner's org code, e.g. `ttd`.
    pub org: String,
    /// The app name, e.g. `archive-demo`.
    pub app: String,
}

/// Why a text is not an `org/app`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppIdError {
    /// No `/`, or more than one.
    #[error("expected org/app, e.g. ttd/archive-demo")]
    Shape,
    /// The org is not 2–20 lowercase letters or digits.
    #[error("the org code must be 2 to 20 lowercase letters or digits")]
    Org,
    /// The app is not 1–100 of `a-z 0-9 -`.
    #[error("the app name must be 1 to 100 lowercase letters, digits or '-'")]
    App,
}

impl FromStr for AppId {
    type Err = AppIdError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (org, app) = text.trim().split_once('/').ok_or(AppIdError::Shape)?;
        if app.contains('/') {
            return Err(AppIdError::Shape);
        }
        if !is_valid_org_code(org) {
            return Err(AppIdError::Org);
        }
        if !is_valid_app_name(app) {
            return Err(AppIdError::App);
        }
        Ok(AppId {
            org: org.to_owned(),
            app: app.to_owned(),
        })
    }
}

impl fmt::Display for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.org, self.app)
    }
}

/// Parses a comma-separated `org/app` list and checks that every org is ours: we may only
/// query (and complete) our own apps' instances.
pub fn parse_apps(text: &str, our_org: &str) -> Result<Vec<AppId>, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        variable: "RECONCILE_APPS",
        reason,
    };
    let mut apps: Vec<AppId> = Vec::new();
    for (position, item) in text.split(',').map(str::trim).enumerate() {
        if item.is_empty() {
            continue;
        }
        let app: AppId = item
            .parse()
            .map_err(|e: AppIdError| invalid(format!("entry {}: {e}", position + 1)))?;
        if app.org != our_org {
            return Err(invalid(format!(
                "entry {}: the org must be ALTINN_ORG",
                position + 1
            )));
        }
        if !apps.contains(&app) {
            apps.push(app);
        }
    }
    if apps.is_empty() {
        return Err(ConfigError::Missing {
            variable: "RECONCILE_APPS",
        });
    }
    Ok(apps)
}

/// Everything the reconciler needs.
#[derive(Debug, Clone)]
pub struct ReconcilerConfig {
    /// `RECONCILE_APPS`.
    pub apps: Vec<AppId>,
    /// `QUEUE_URL`.
    pub queue_url: String,
    /// `ARCHIVE_BUCKET`.
    pub bucket: String,
    /// `ARCHIVE_PREFIX`, normalised (empty or ending in `/`).
    pub prefix: String,
    /// `RECONCILE_MAX_ENQUEUE`.
    pub max_enqueue: usize,
    /// `RECONCILE_PAGE_SIZE`.
    pub page_size: u32,
    /// `RECONCILE_REENQUEUE_AFTER_MINUTES`.
    pub reenqueue_after: Duration,
    /// `DEADLINE_MARGIN_SECS`.
    pub deadline_margin: Duration,
    /// `ALTINN_MAX_ATTEMPTS`, `ALTINN_REQUEST_TIMEOUT_SECS`.
    pub retry: RetryPolicy,
    /// `FEEDBACK_TASK`: the task where the archiver writes its receipt (as the archiver's).
    pub feedback_task: Option<String>,
    /// The Altinn and Maskinporten settings.
    pub altinn: AltinnConfig,
}

impl ReconcilerConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(lambda_support::settings::process_env)
    }

    /// Reads settings through `lookup` (tests pass a map). The first problem is returned.
    pub fn from_lookup(lookup: impl Lookup) -> Result<Self, ConfigError> {
        let altinn = AltinnConfig::from_lookup(&lookup)?;
        let apps = parse_apps(&required(&lookup, "RECONCILE_APPS")?, &altinn.org)?;
        let queue_url = required(&lookup, "QUEUE_URL")?;
        let bucket = required(&lookup, "ARCHIVE_BUCKET")?;
        let prefix = archive_model::ArchiveLayout::normalise_prefix(
            optional(&lookup, "ARCHIVE_PREFIX").as_deref(),
        )
        .map_err(|reason| ConfigError::Invalid {
            variable: "ARCHIVE_PREFIX",
            reason,
        })?;
        let max_enqueue = in_range(&lookup, "RECONCILE_MAX_ENQUEUE", 500, 1, 10_000)?;
        let page_size = in_range(&lookup, "RECONCILE_PAGE_SIZE", 100, 1, 1000)? as u32;
        let reenqueue_minutes = in_range(
            &lookup,
            "RECONCILE_REENQUEUE_AFTER_MINUTES",
            1440,
            0,
            10_080,
        )?;
        let margin_secs = in_range(&lookup, "DEADLINE_MARGIN_SECS", 20, 0, 300)?;
        let retry = altinn_retry_policy(&lookup, 300)?;
        let feedback_task = feedback_task(&lookup)?;
        Ok(ReconcilerConfig {
            apps,
            queue_url,
            bucket,
            prefix,
            max_enqueue,
            page_size,
            reenqueue_after: Duration::from_secs(reenqueue_minutes as u64 * 60),
            deadline_margin: Duration::from_secs(margin_secs as u64),
            retry,
            feedback_task,
            altinn,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn base() -> HashMap<&'static str, String> {
        HashMap::from([
            ("ALTINN_ENV", "tt02".to_owned()),
            ("ALTINN_ORG", "ttd".to_owned()),
            ("MASKINPORTEN_CLIENT_ID", "client".to_owned()),
            (
                "MASKINPORTEN_KEY_SECRET_ARN",
                "arn:aws:secretsmanager:eu-north-1:123456789012:secret:key".to_owned(),
            ),
            (
                "RECONCILE_APPS",
                "ttd/archive-demo, ttd/other-app".to_owned(),
            ),
            (
                "QUEUE_URL",
                "https://sqs.eu-north-1.amazonaws.com/1/q".to_owned(),
            ),
            ("ARCHIVE_BUCKET", "bucket".to_owned()),
            ("ARCHIVE_PREFIX", "archive".to_owned()),
        ])
    }

    fn read(env: &HashMap<&'static str, String>) -> Result<ReconcilerConfig, ConfigError> {
        ReconcilerConfig::from_lookup(|name: &str| env.get(name).cloned())
    }

    #[test]
    fn reads_the_apps_and_defaults() {
        let config = read(&base()).unwrap();
        assert_eq!(
            config
                .apps
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["ttd/archive-demo", "ttd/other-app"]
        );
        assert_eq!(config.prefix, "archive/");
        assert_eq!(config.max_enqueue, 500);
        assert_eq!(config.page_size, 100);
        assert_eq!(config.reenqueue_after, Duration::from_secs(24 * 3600));
        assert_eq!(config.feedback_task, None);
    }

    #[test]
    fn reads_a_well_formed_feedback_task_only() {
        let mut env = base();
        env.insert("FEEDBACK_TASK", " Task_2 ".into());
        assert_eq!(read(&env).unwrap().feedback_task.as_deref(), Some("Task_2"));
        for bad in ["Task 2", "Task_2&size=1", "../x", &"T".repeat(101)] {
            env.insert("FEEDBACK_TASK", bad.to_owned());
            let error = read(&env).unwrap_err().to_string();
            assert!(error.contains("FEEDBACK_TASK"), "{bad}: {error}");
        }
    }

    #[test]
    fn refuses_foreign_orgs_bad_names_and_out_of_range_numbers() {
        let mut env = base();
        env.insert("RECONCILE_APPS", "ttd/a,skd/b".into());
        let error = read(&env).unwrap_err().to_string();
        assert!(
            error.contains("RECONCILE_APPS") && error.contains("entry 2"),
            "{error}"
        );

        env.insert("RECONCILE_APPS", "ttd/Bad_App".into());
        assert!(read(&env).is_err());
        env.insert("RECONCILE_APPS", " , ".into());
        assert!(matches!(read(&env), Err(ConfigError::Missing { .. })));

        let mut env = base();
        env.insert("RECONCILE_MAX_ENQUEUE", "0".into());
        assert!(
            read(&env)
                .unwrap_err()
                .to_string()
                .contains("RECONCILE_MAX_ENQUEUE")
        );
    }

    #[test]
    fn app_ids_parse_strictly() {
        assert_eq!(
            "ttd/app-1".parse::<AppId>().unwrap().to_string(),
            "ttd/app-1"
        );
        for bad in ["ttd", "ttd/a/b", "TTD/app", "ttd/", "/app", "ttd/a b"] {
            assert!(bad.parse::<AppId>().is_err(), "{bad}");
        }
    }
}
