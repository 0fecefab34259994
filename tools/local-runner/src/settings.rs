//! The settings the webhook and the archiver are built from. They read the same variables as
//! in Lambda, but the runner hands them a map instead of the process environment: the demo's
//! settings are its own (a user's `ALTINN_ENV` cannot leak into it), and in `altinn` mode only
//! the Altinn and Maskinporten variables are taken from the environment, so a stray
//! `WEBHOOK_SECRET_ARN` or `QUEUE_URL` there cannot point the run somewhere else.

use std::collections::HashMap;
use std::path::Path;

use altinn::ConfigError;

use crate::error::RunError;

/// Settings by variable name.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Settings {
    values: HashMap<String, String>,
}

impl std::fmt::Debug for Settings {
    /// Names only: values include the Maskinporten key and the webhook secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.values.keys().collect();
        names.sort();
        f.debug_struct("Settings").field("names", &names).finish()
    }
}

/// The variables `altinn` mode takes from the user's environment: how to reach Altinn and
/// Maskinporten, and the archive's tuning knobs. Nothing about queues, buckets or the webhook.
pub const USER_VARIABLES: &[&str] = &[
    "ALTINN_ENV",
    "ALTINN_ORG",
    "ALTINN_PLATFORM_URL",
    "ALTINN_APPS_URL",
    "MASKINPORTEN_URL",
    "MASKINPORTEN_CLIENT_ID",
    "MASKINPORTEN_KID",
    "MASKINPORTEN_KEY",
    "MASKINPORTEN_KEY_SECRET_ARN",
    "MASKINPORTEN_SCOPES",
    "ARCHIVE_PREFIX",
    "PART_SIZE_MIB",
    "ELEMENT_CONCURRENCY",
    "MESSAGE_CONCURRENCY",
    "DOWNLOAD_ATTEMPTS",
    "ALTINN_MAX_ATTEMPTS",
    "ALTINN_REQUEST_TIMEOUT_SECS",
];

impl Settings {
    /// No settings.
    pub fn new() -> Self {
        Settings::default()
    }

    /// Sets `name`, replacing an earlier value.
    pub fn set(&mut self, name: &str, value: impl Into<String>) -> &mut Self {
        self.values.insert(name.to_owned(), value.into());
        self
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<String> {
        self.values.get(name).cloned()
    }

    /// These settings with `overrides` on top.
    pub fn with(&self, overrides: &[(&str, String)]) -> Settings {
        let mut settings = self.clone();
        for (name, value) in overrides {
            settings.set(name, value.clone());
        }
        settings
    }

    /// A lookup function for `WebhookConfig::from_lookup` and friends.
    pub fn lookup(&self) -> impl Fn(&str) -> Option<String> + '_ {
        move |name| self.get(name)
    }

    /// The [`USER_VARIABLES`] found through `environment`, for the app owner `org`:
    ///
    /// - `ALTINN_ORG` defaults to `org` and must equal it when set;
    /// - `MASKINPORTEN_KEY_FILE` names a file holding the key (PEM or JWK), an alternative to
    ///   putting a private key in an environment variable.
    pub fn from_user_environment(
        environment: &dyn Fn(&str) -> Option<String>,
        org: &str,
    ) -> Result<Settings, RunError> {
        let present = |name: &str| environment(name).filter(|v| !v.trim().is_empty());
        let mut settings = Settings::new();
        for name in USER_VARIABLES {
            if let Some(value) = present(name) {
                settings.set(name, value);
            }
        }
        match settings.get("ALTINN_ORG") {
            None => {
                settings.set("ALTINN_ORG", org);
            }
            Some(configured) if configured.trim() == org => {}
            Some(_) => {
                return Err(RunError::Config(ConfigError::Invalid {
                    variable: "ALTINN_ORG",
                    reason: format!("differs from the org of --app ({org})"),
                }));
            }
        }
        if let Some(path) = present("MASKINPORTEN_KEY_FILE") {
            if settings.get("MASKINPORTEN_KEY").is_some() {
                return Err(RunError::Config(ConfigError::Invalid {
                    variable: "MASKINPORTEN_KEY_FILE",
                    reason: "set either MASKINPORTEN_KEY or MASKINPORTEN_KEY_FILE, not both".into(),
                }));
            }
            let path = Path::new(path.trim());
            let key = std::fs::read_to_string(path).map_err(|e| RunError::io(path, e))?;
            settings.set("MASKINPORTEN_KEY", key);
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn environment(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| vars.get(name).cloned()
    }

    #[test]
    fn only_altinn_variables_are_taken_and_the_org_defaults_to_the_app_owner() {
        let env = environment(&[
            ("ALTINN_ENV", "tt02"),
            ("MASKINPORTEN_CLIENT_ID", "client"),
            ("QUEUE_URL", "https://sqs.example/1/q"),
            ("WEBHOOK_SECRET_ARN", "arn:aws:secretsmanager:x"),
            ("ARCHIVE_PREFIX", "  "),
        ]);
        let settings = Settings::from_user_environment(&env, "ttd").expect("settings");
        assert_eq!(settings.get("ALTINN_ENV").as_deref(), Some("tt02"));
        assert_eq!(settings.get("ALTINN_ORG").as_deref(), Some("ttd"));
        assert_eq!(settings.get("QUEUE_URL"), None);
        assert_eq!(settings.get("WEBHOOK_SECRET_ARN"), None);
        assert_eq!(
            settings.get("ARCHIVE_PREFIX"),
            None,
            "blank counts as unset"
        );
        let overridden = settings.with(&[("QUEUE_URL", "http://127.0.0.1/1/q".to_owned())]);
        assert_eq!(
            overridden.lookup()("QUEUE_URL").as_deref(),
            Some("http://127.0.0.1/1/q")
        );
    }

    #[test]
    fn a_different_org_and_two_keys_are_refused() {
        let env = environment(&[("ALTINN_ORG", "skd")]);
        let error = Settings::from_user_environment(&env, "ttd").unwrap_err();
        assert!(
            error.to_string().starts_with("ALTINN_ORG is invalid"),
            "{error}"
        );
        let env = environment(&[
            ("MASKINPORTEN_KEY", "inline"),
            ("MASKINPORTEN_KEY_FILE", "/nowhere"),
        ]);
        let error = Settings::from_user_environment(&env, "ttd").unwrap_err();
        assert!(error.to_string().contains("not both"), "{error}");
    }

    #[test]
    fn the_key_file_is_read_and_never_shown() {
        let path = std::env::temp_dir().join(format!("key-{}.pem", uuid::Uuid::new_v4()));
        std::fs::write(&path, "-----BEGIN PRIVATE KEY-----\nsecret\n").expect("write");
        let path_text = path.display().to_string();
        let env = environment(&[("MASKINPORTEN_KEY_FILE", &path_text)]);
        let settings = Settings::from_user_environment(&env, "ttd").expect("settings");
        std::fs::remove_file(&path).expect("remove");
        assert!(
            settings
                .get("MASKINPORTEN_KEY")
                .is_some_and(|k| k.contains("secret"))
        );
        assert!(!format!("{settings:?}").contains("secret"));
        let missing = environment(&[("MASKINPORTEN_KEY_FILE", "/no/such/key.pem")]);
        let error = Settings::from_user_environment(&missing, "ttd").unwrap_err();
        assert!(error.to_string().starts_with("/no/such/key.pem"), "{error}");
    }
}
