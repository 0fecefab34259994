use std::collections::HashMap;

use super::*;

fn base() -> HashMap<&'static str, String> {
    HashMap::from([
        ("ARCHIVE_BUCKET", "archive".to_owned()),
        (
            "DEAD_LETTER_QUEUE_URL",
            "http://127.0.0.1:1/q/dlq".to_owned(),
        ),
        ("ALTINN_ENV", "tt02".to_owned()),
        ("ALTINN_ORG", "ttd".to_owned()),
        ("MASKINPORTEN_CLIENT_ID", "client".to_owned()),
        ("MASKINPORTEN_KID", "kid".to_owned()),
        ("MASKINPORTEN_KEY", "-----BEGIN PRIVATE KEY-----".to_owned()),
    ])
}

fn read(map: &HashMap<&'static str, String>) -> Result<ArchiverConfig, ConfigError> {
    ArchiverConfig::from_lookup(|name: &str| map.get(name).cloned())
}

#[test]
fn event_type_filter_matches_exact_types_and_star_prefixes() {
    let filter =
        EventTypeFilter::parse("app.instance.process.completed, app.instance.substatus.*").unwrap();
    assert!(filter.matches("app.instance.process.completed"));
    assert!(filter.matches("app.instance.substatus.changed"));
    assert!(!filter.matches("app.instance.process.completedX"));
    assert!(!filter.matches("app.instance.created"));
    assert!(EventTypeFilter::parse(" ,, ").is_err());
    assert!(EventTypeFilter::parse("app.*.completed").is_err());
    assert!(EventTypeFilter::parse("*").unwrap().matches("anything"));
}

#[test]
fn archive_settings_have_documented_defaults() {
    let map = base();
    let config = read(&map).expect("a minimal configuration is valid");
    assert_eq!(config.bucket, "archive");
    assert_eq!(config.prefix, "");
    assert_eq!(config.queue_url, None);
    assert_eq!(config.message_concurrency, 4);
    assert_eq!(config.element_concurrency, 4);
    assert_eq!(config.part_size, 8 * 1024 * 1024);
    assert_eq!(config.max_receive_count, 5);
    assert!(
        config
            .archive_event_types
            .matches("app.instance.process.completed")
    );
    assert!(!config.archive_event_types.matches("app.instance.created"));
}

#[test]
fn archive_settings_are_validated_and_errors_name_the_variable() {
    let mut map = base();
    map.remove("ARCHIVE_BUCKET");
    assert_eq!(
        read(&map).unwrap_err(),
        ConfigError::Missing {
            variable: "ARCHIVE_BUCKET"
        }
    );

    let mut map = base();
    map.insert("PART_SIZE_MIB", "4".into());
    let error = read(&map).unwrap_err();
    assert!(
        error.to_string().starts_with("PART_SIZE_MIB is invalid"),
        "{error}"
    );

    let mut map = base();
    map.insert("ARCHIVE_PREFIX", "../x".into());
    let error = read(&map).unwrap_err();
    assert!(
        error.to_string().starts_with("ARCHIVE_PREFIX is invalid"),
        "{error}"
    );

    let mut map = base();
    map.insert("MESSAGE_CONCURRENCY", "0".into());
    let error = read(&map).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("MESSAGE_CONCURRENCY is invalid"),
        "{error}"
    );
}

#[test]
fn correspondence_settings() {
    let config = read(&base()).unwrap();
    assert_eq!(
        (
            config.correspondence,
            config.subscription_key,
            config.follow_up_topic_arn
        ),
        (None, None, None)
    );
    let mut map = base();
    map.insert("ALTINN_SUBSCRIPTION_KEY", "apim-key-123".into());
    map.insert(
        "FOLLOW_UP_TOPIC_ARN",
        "arn:aws:sns:eu-north-1:1:follow-up".into(),
    );
    let config = read(&map).unwrap();
    assert!(
        !format!("{config:?}").contains("apim-key-123"),
        "the key is never in Debug"
    );
    assert_eq!(
        config.subscription_key,
        Some(SubscriptionKeySource::Inline(Secret::new("apim-key-123")))
    );
    let arn = "arn:aws:secretsmanager:eu-north-1:1:secret:apim";
    map.insert("ALTINN_SUBSCRIPTION_KEY_SECRET_ARN", arn.into());
    let error = read(&map).unwrap_err().to_string();
    assert!(
        error.starts_with("ALTINN_SUBSCRIPTION_KEY is invalid"),
        "{error}"
    );
    assert!(!error.contains("apim-key-123"), "{error}");
    map.remove("ALTINN_SUBSCRIPTION_KEY");
    assert_eq!(
        read(&map).unwrap().subscription_key,
        Some(SubscriptionKeySource::SecretArn(arn.into()))
    );
    for (variable, bad) in [
        ("ALTINN_SUBSCRIPTION_KEY_SECRET_ARN", "apim"),
        ("FOLLOW_UP_TOPIC_ARN", "arn:aws:sqs:eu-north-1:1:q"),
    ] {
        let mut map = map.clone();
        map.insert(variable, bad.into());
        let error = read(&map).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("{variable} is invalid")),
            "{error}"
        );
    }
}

#[test]
fn write_back_is_off_by_default() {
    let config = read(&base()).unwrap();
    assert_eq!(config.feedback, None);
    assert_eq!(config.substatus, None);
}

#[test]
fn feedback_task_and_receipt_data_type_go_together() {
    let mut map = base();
    map.insert("FEEDBACK_TASK", "Task_2".into());
    map.insert("RECEIPT_DATA_TYPE", "archive-receipt".into());
    let config = read(&map).unwrap();
    assert_eq!(
        config.feedback,
        Some(FeedbackSettings {
            task: "Task_2".into(),
            receipt: ReceiptSettings {
                data_type: "archive-receipt".into(),
                format: ReceiptFormat::Xml,
            },
        })
    );
    map.insert("RECEIPT_FORMAT", "JSON".into());
    assert_eq!(
        read(&map).unwrap().feedback.map(|f| f.receipt.format),
        Some(ReceiptFormat::Json)
    );

    for (only, other) in [
        ("FEEDBACK_TASK", "RECEIPT_DATA_TYPE"),
        ("RECEIPT_DATA_TYPE", "FEEDBACK_TASK"),
    ] {
        let mut map = map.clone();
        map.remove(other);
        let error = read(&map).unwrap_err().to_string();
        assert!(error.starts_with(&format!("{only} is invalid")), "{error}");
        assert!(error.contains(other), "names both: {error}");
    }

    for (variable, bad) in [
        ("RECEIPT_FORMAT", "pdf"),
        ("RECEIPT_DATA_TYPE", "a/b?c"),
        ("FEEDBACK_TASK", "Task 2"),
        ("FEEDBACK_TASK", "2nd"),
        ("FEEDBACK_TASK", "Task_*"),
    ] {
        let mut map = map.clone();
        map.insert(variable, bad.into());
        let error = read(&map).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("{variable} is invalid")),
            "{variable}={bad}: {error}"
        );
    }
}

#[test]
fn the_substatus_needs_its_label() {
    let mut map = base();
    map.insert("ARCHIVED_SUBSTATUS_LABEL", "Mottatt av etaten".into());
    assert_eq!(
        read(&map).unwrap().substatus,
        Some(SubstatusSettings {
            label: "Mottatt av etaten".into(),
            description: None,
        })
    );
    map.insert(
        "ARCHIVED_SUBSTATUS_DESCRIPTION",
        "Arkivert hos etaten".into(),
    );
    assert_eq!(
        read(&map)
            .unwrap()
            .substatus
            .unwrap()
            .description
            .as_deref(),
        Some("Arkivert hos etaten")
    );
    map.remove("ARCHIVED_SUBSTATUS_LABEL");
    let error = read(&map).unwrap_err().to_string();
    assert!(
        error.starts_with("ARCHIVED_SUBSTATUS_DESCRIPTION is invalid")
            && error.contains("ARCHIVED_SUBSTATUS_LABEL"),
        "{error}"
    );
    map.insert("ARCHIVED_SUBSTATUS_LABEL", "a\u{7}b".into());
    assert!(
        read(&map)
            .unwrap_err()
            .to_string()
            .starts_with("ARCHIVED_SUBSTATUS_LABEL is invalid")
    );
}

#[test]
fn the_hand_off_bus_is_a_name_or_an_arn() {
    assert_eq!(
        read(&base()).unwrap().event_bus_name,
        None,
        "off by default"
    );
    for good in [
        "altinn-archive-handoff",
        "arn:aws:events:eu-north-1:123456789012:event-bus/altinn-archive-handoff",
    ] {
        let mut map = base();
        map.insert("EVENT_BUS_NAME", good.into());
        assert_eq!(read(&map).unwrap().event_bus_name.as_deref(), Some(good));
    }
    for bad in [
        "has space",
        "arn:aws:sns:eu-north-1:1:topic",
        "arn:aws:events:eu-north-1:1:rule/x",
    ] {
        let mut map = base();
        map.insert("EVENT_BUS_NAME", bad.into());
        let error = read(&map).unwrap_err().to_string();
        assert!(error.starts_with("EVENT_BUS_NAME is invalid"), "{error}");
    }
}

#[test]
fn scan_settings_default_to_an_hour_and_hold_and_refuse_anything_else() {
    let config = read(&base()).unwrap();
    assert_eq!(config.scan.pending_max_wait, Duration::from_secs(3600));
    assert_eq!(config.scan.infected_policy, InfectedPolicy::Hold);

    let mut map = base();
    map.insert("SCAN_PENDING_MAX_WAIT", "90m".into());
    map.insert("INFECTED_POLICY", "archive".into());
    let config = read(&map).unwrap();
    assert_eq!(config.scan.pending_max_wait, Duration::from_secs(5400));
    assert_eq!(config.scan.infected_policy, InfectedPolicy::Archive);
    map.insert("SCAN_PENDING_MAX_WAIT", "120".into());
    assert_eq!(
        read(&map).unwrap().scan.pending_max_wait,
        Duration::from_secs(120)
    );

    for (variable, value) in [
        ("INFECTED_POLICY", "delete"),
        ("SCAN_PENDING_MAX_WAIT", "an hour"),
        // 5 receives give at most 4 retries of 12 h.
        ("SCAN_PENDING_MAX_WAIT", "49h"),
    ] {
        let mut map = base();
        map.insert(variable, value.into());
        let error = read(&map).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("{variable} is invalid")),
            "{error}"
        );
    }
    let mut map = base();
    map.insert("SCAN_PENDING_MAX_WAIT", "48h".into());
    assert!(read(&map).is_ok(), "exactly (5 - 1) x 12 h fits");
    map.insert("MAX_RECEIVE_COUNT", "1".into());
    map.insert("SCAN_PENDING_MAX_WAIT", "0".into());
    assert!(read(&map).is_ok(), "no retries: only a zero wait fits");
}
