//! Hand-written argument parsing: `--name value`, `--name=value` and switches, with every flag
//! checked against the command's list so a typo is a usage error (exit 2), never ignored.

use std::collections::BTreeMap;

/// Flags that take a value.
const VALUE_FLAGS: &[&str] = &[
    "app",
    "max",
    "id",
    "queue-url",
    "dlq-url",
    "bucket",
    "prefix",
    "endpoint",
    "secret-arn",
    "type-filter",
    "source-filter",
    "resource-filter",
    "alternative-subject-filter",
    "timeout",
    "old-id",
    "refresh-wait",
];
/// Flags without a value.
const SWITCHES: &[&str] = &["json", "dry-run", "all", "wait", "help"];

/// Parsed command line: positionals in order, flags with every value given.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Args {
    /// Words that are not flags (command, subcommand, operands).
    pub positionals: Vec<String>,
    /// `--flag value` pairs (a flag may repeat); switches have no values.
    pub flags: BTreeMap<String, Vec<String>>,
}

/// A usage error; the message is printed with a pointer to `--help`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

impl Args {
    /// Parses the arguments after the program name.
    pub fn parse(raw: &[String]) -> Result<Args, UsageError> {
        let mut args = Args::default();
        let mut iter = raw.iter();
        while let Some(word) = iter.next() {
            if word == "-h" {
                args.flags.entry("help".into()).or_default();
                continue;
            }
            let Some(flag) = word.strip_prefix("--") else {
                args.positionals.push(word.clone());
                continue;
            };
            let (name, inline) = match flag.split_once('=') {
                Some((name, value)) => (name, Some(value.to_owned())),
                None => (flag, None),
            };
            if SWITCHES.contains(&name) {
                if inline.is_some() {
                    return Err(UsageError(format!("--{name} takes no value")));
                }
                args.flags.entry(name.to_owned()).or_default();
            } else if VALUE_FLAGS.contains(&name) {
                let value = match inline {
                    Some(value) => value,
                    None => iter
                        .next()
                        .cloned()
                        .ok_or_else(|| UsageError(format!("--{name} needs a value")))?,
                };
                args.flags.entry(name.to_owned()).or_default().push(value);
            } else {
                return Err(UsageError(format!("unknown option --{name}")));
            }
        }
        Ok(args)
    }

    /// True when the switch (or flag) was given.
    pub fn has(&self, name: &str) -> bool {
        self.flags.contains_key(name)
    }

    /// The flag's single value.
    pub fn value(&self, name: &str) -> Result<Option<&str>, UsageError> {
        match self.flags.get(name).map(Vec::as_slice) {
            None | Some([]) => Ok(None),
            Some([value]) => Ok(Some(value)),
            Some(_) => Err(UsageError(format!("--{name} given more than once"))),
        }
    }

    /// Every value of a repeatable flag.
    pub fn values(&self, name: &str) -> &[String] {
        self.flags.get(name).map(Vec::as_slice).unwrap_or_default()
    }

    /// A whole number flag, or `default`.
    pub fn number(&self, name: &str, default: usize) -> Result<usize, UsageError> {
        match self.value(name)? {
            None => Ok(default),
            Some(text) => text
                .parse()
                .map_err(|_| UsageError(format!("--{name} must be a whole number"))),
        }
    }

    /// Fails when a flag outside `allowed` (plus `json` and `help`) was given.
    pub fn only(&self, allowed: &[&str]) -> Result<(), UsageError> {
        for name in self.flags.keys() {
            if name != "json" && name != "help" && !allowed.contains(&name.as_str()) {
                return Err(UsageError(format!(
                    "--{name} is not an option of this command"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(words: &[&str]) -> Result<Args, UsageError> {
        Args::parse(&words.iter().map(|w| w.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn flags_positionals_and_errors() {
        let args = parse(&["dlq", "redrive", "--id", "a", "--id=b", "--json"]).unwrap();
        assert_eq!(args.positionals, ["dlq", "redrive"]);
        assert_eq!(args.values("id"), ["a", "b"]);
        assert!(args.has("json"));
        assert!(args.value("id").is_err());
        assert!(args.only(&["id"]).is_ok());
        assert!(args.only(&["all"]).is_err());
        assert_eq!(parse(&["--bogus"]).unwrap_err().0, "unknown option --bogus");
        assert!(parse(&["--app"]).is_err());
        assert!(parse(&["--json=1"]).is_err());
        assert!(parse(&["-h"]).unwrap().has("help"));
        assert!(parse(&["--max", "x"]).unwrap().number("max", 1).is_err());
    }
}
