//! The IAM policies in template.yaml grant nothing beyond what each function uses: for every role
//! the set of (action, resource) pairs is exactly the expected one, no action or resource is a
//! bare wildcard, every function runs under its own explicit role, and every action a function
//! calls itself appears in its source code.
//!
//! The template uses CloudFormation short tags (`!Ref`, `!GetAtt`, `!Sub`) that plain YAML
//! parsers refuse, so this reads the `Policies:` blocks with a small line-based reader that only
//! understands the shapes the template uses, and fails on anything else rather than skipping it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn template() -> String {
    std::fs::read_to_string(workspace().join("template.yaml")).expect("template.yaml")
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// Strips a trailing `# comment` (the template has none inside values containing `#`).
fn value(text: &str) -> String {
    let text = match text.find(" #") {
        Some(at) => &text[..at],
        None => text,
    };
    text.trim().trim_matches('"').to_owned()
}

/// `[a, b]`, `a`, or (when empty) the `- item` lines that follow deeper than `key_indent`.
fn list(inline: &str, lines: &[&str], next: &mut usize, key_indent: usize) -> Vec<String> {
    let inline = value(inline);
    if let Some(inner) = inline.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        return inner.split(',').map(value).collect();
    }
    if !inline.is_empty() {
        return vec![inline];
    }
    let mut items = Vec::new();
    while *next < lines.len() {
        let line = lines[*next];
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            *next += 1;
            continue;
        }
        if indent(line) <= key_indent && !line.trim_start().starts_with("- ") {
            break;
        }
        let Some(item) = line.trim_start().strip_prefix("- ") else {
            break;
        };
        if indent(line) < key_indent {
            break;
        }
        items.push(value(item));
        *next += 1;
    }
    items
}

#[derive(Debug, Default)]
struct Statement {
    effect: String,
    actions: Vec<String>,
    resources: Vec<String>,
}

/// Every top-level resource's `Type`, and the statements of its `Policies:` (if any).
fn parse(template: &str) -> (BTreeMap<String, String>, BTreeMap<String, Vec<Statement>>) {
    let lines: Vec<&str> = template.lines().collect();
    let mut types = BTreeMap::new();
    let mut policies: BTreeMap<String, Vec<Statement>> = BTreeMap::new();
    let mut in_resources = false;
    let mut current = String::new();
    let mut policies_indent: Option<usize> = None;
    let mut statement_indent: Option<usize> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        i += 1;
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let depth = indent(line);
        if depth == 0 {
            in_resources = trimmed.starts_with("Resources:");
            continue;
        }
        if !in_resources {
            continue;
        }
        if depth == 2 {
            current = trimmed.trim_end_matches(':').to_owned();
            policies_indent = None;
            statement_indent = None;
            continue;
        }
        if depth == 4 && trimmed.starts_with("Type:") {
            types.insert(current.clone(), value(&trimmed["Type:".len()..]));
            continue;
        }
        if policies_indent.is_some_and(|at| depth <= at) {
            policies_indent = None;
            statement_indent = None;
        }
        if trimmed.starts_with("Policies:") {
            policies_indent = Some(depth);
            continue;
        }
        if policies_indent.is_none() {
            continue;
        }
        // A statement starts with `- ` right under `Statement:`.
        let (item, body) = match trimmed.strip_prefix("- ") {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        let body_indent = if item { depth + 2 } else { depth };
        if item && (body.starts_with("Sid:") || body.starts_with("Effect:")) {
            statement_indent = Some(body_indent);
            policies
                .entry(current.clone())
                .or_default()
                .push(Statement::default());
        }
        if statement_indent != Some(body_indent) {
            continue;
        }
        let statement = policies
            .get_mut(&current)
            .and_then(|s| s.last_mut())
            .expect("a statement is open");
        if let Some(rest) = body.strip_prefix("Effect:") {
            statement.effect = value(rest);
        } else if let Some(rest) = body.strip_prefix("Action:") {
            statement.actions = list(rest, &lines, &mut i, body_indent);
        } else if let Some(rest) = body.strip_prefix("Resource:") {
            statement.resources = list(rest, &lines, &mut i, body_indent);
        } else if body.starts_with("NotAction:")
            || body.starts_with("NotResource:")
            || body.starts_with("Condition:")
            || body.starts_with("Principal:")
        {
            panic!("{current}: unexpected policy element `{body}`: extend this test");
        }
    }
    (types, policies)
}

fn pairs(statements: &[Statement]) -> BTreeSet<(String, String)> {
    let mut set = BTreeSet::new();
    for statement in statements {
        assert_eq!(statement.effect, "Allow", "{statement:?}");
        assert!(!statement.actions.is_empty(), "{statement:?} has actions");
        assert!(
            !statement.resources.is_empty(),
            "{statement:?} has resources"
        );
        for action in &statement.actions {
            for resource in &statement.resources {
                set.insert((action.clone(), resource.clone()));
            }
        }
    }
    set
}

fn expected(grants: &[(&[&str], &str)]) -> BTreeSet<(String, String)> {
    grants
        .iter()
        .flat_map(|(actions, resource)| {
            actions
                .iter()
                .map(move |a| ((*a).to_owned(), (*resource).to_owned()))
        })
        .collect()
}

const ARCHIVE_OBJECTS: &str = "!Sub ${ArchiveBucket.Arn}/${ArchivePrefix}*";
const LOGS: &[&str] = &["logs:CreateLogStream", "logs:PutLogEvents"];

#[test]
fn every_role_grants_exactly_what_its_function_uses() {
    let (types, policies) = parse(&template());
    let roles: BTreeSet<&String> = types
        .iter()
        .filter(|(_, t)| t.starts_with("AWS::IAM::"))
        .map(|(name, _)| name)
        .collect();
    assert_eq!(
        roles,
        ["ArchiverRole", "ReconcilerRole", "WebhookRole"]
            .iter()
            .map(|s| s.to_string())
            .collect::<BTreeSet<_>>()
            .iter()
            .collect(),
        "exactly one IAM role per function, and no other IAM resources"
    );
    let want: BTreeMap<&str, BTreeSet<(String, String)>> = [
        (
            "WebhookRole",
            expected(&[
                (LOGS, "!GetAtt WebhookLogGroup.Arn"),
                (&["secretsmanager:GetSecretValue"], "!Ref WebhookSecret"),
                (&["sqs:SendMessage"], "!GetAtt EventQueue.Arn"),
            ]),
        ),
        (
            "ArchiverRole",
            expected(&[
                (LOGS, "!GetAtt ArchiverLogGroup.Arn"),
                (
                    &[
                        "sqs:ReceiveMessage",
                        "sqs:DeleteMessage",
                        "sqs:GetQueueAttributes",
                        "sqs:ChangeMessageVisibility",
                    ],
                    "!GetAtt EventQueue.Arn",
                ),
                (&["sqs:SendMessage"], "!GetAtt DeadLetterQueue.Arn"),
                (
                    &[
                        "s3:PutObject",
                        "s3:GetObject",
                        "s3:DeleteObject",
                        "s3:AbortMultipartUpload",
                        "s3:PutObjectTagging",
                    ],
                    ARCHIVE_OBJECTS,
                ),
                (&["s3:ListBucket"], "!GetAtt ArchiveBucket.Arn"),
                (
                    &["secretsmanager:GetSecretValue"],
                    "!Ref MaskinportenKeySecret",
                ),
                (&["sns:Publish"], "!Ref CorrespondenceFollowUpTopic"),
                (&["events:PutEvents"], "!GetAtt HandOffBus.Arn"),
                // Conditional on HasAltinnSubscriptionKeySecret (see the test below).
                (
                    &["secretsmanager:GetSecretValue"],
                    "!Ref AltinnSubscriptionKeySecretArn",
                ),
            ]),
        ),
        (
            "ReconcilerRole",
            expected(&[
                (LOGS, "!GetAtt ReconcilerLogGroup.Arn"),
                (&["sqs:SendMessage"], "!GetAtt EventQueue.Arn"),
                (&["s3:GetObject"], ARCHIVE_OBJECTS),
                (
                    &["s3:PutObject"],
                    "!Sub ${ArchiveBucket.Arn}/${ArchivePrefix}*/reconcile-enqueued.json",
                ),
                (
                    &["s3:PutObject"],
                    "!Sub ${ArchiveBucket.Arn}/${ArchivePrefix}*/reconcile-feedback.json",
                ),
                (&["s3:ListBucket"], "!GetAtt ArchiveBucket.Arn"),
                (
                    &["secretsmanager:GetSecretValue"],
                    "!Ref MaskinportenKeySecret",
                ),
            ]),
        ),
    ]
    .into_iter()
    .collect();
    for (role, grants) in &want {
        let statements = policies
            .get(*role)
            .unwrap_or_else(|| panic!("{role} has Policies"));
        let got = pairs(statements);
        for (action, resource) in &got {
            assert!(!action.contains('*'), "{role}: wildcard action {action}");
            assert!(
                resource != "*" && !resource.ends_with(":*") && !resource.contains("arn:aws"),
                "{role}: resource {resource} is a wildcard or a hard-coded ARN"
            );
        }
        assert_eq!(&got, grants, "{role}: granted (left) vs expected (right)");
    }
    assert_eq!(
        policies.keys().collect::<BTreeSet<_>>(),
        want.keys()
            .map(|k| k.to_string())
            .collect::<BTreeSet<_>>()
            .iter()
            .collect(),
        "no other resource carries inline policies"
    );
}

#[test]
fn every_function_runs_under_its_own_role_and_no_managed_policy() {
    let text = template();
    assert!(!text.contains("ManagedPolicyArns"), "no managed policies");
    for policy_template in [
        "SQSPollerPolicy",
        "S3CrudPolicy",
        "S3FullAccessPolicy",
        "AWSSecretsManagerGetSecretValuePolicy",
        "SQSSendMessagePolicy",
    ] {
        assert!(
            !text
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("- {policy_template}"))),
            "SAM policy template {policy_template} is broader than needed"
        );
    }
    for (function, role) in [
        ("WebhookFunction", "WebhookRole"),
        ("ArchiverFunction", "ArchiverRole"),
        ("ReconcilerFunction", "ReconcilerRole"),
    ] {
        let start = text
            .find(&format!("\n  {function}:\n"))
            .unwrap_or_else(|| panic!("{function} in the template"));
        let block: Vec<&str> = text[start + 1..]
            .lines()
            .skip(1)
            .take_while(|l| l.trim().is_empty() || indent(l) > 2)
            .collect();
        assert!(
            block
                .iter()
                .any(|l| l.trim() == format!("Role: !GetAtt {role}.Arn")),
            "{function} uses {role}"
        );
    }
}

/// Every action a function performs itself is called in its source (the event source mapping's
/// receive/delete/get-attributes and the runtime's log writes are Lambda's, not the code's).
#[test]
fn granted_actions_are_called_by_the_functions_code() {
    fn sources(dirs: &[&str]) -> String {
        let mut all = String::new();
        let mut stack: Vec<PathBuf> = dirs.iter().map(|d| workspace().join(d)).collect();
        while let Some(path) = stack.pop() {
            if path.is_dir() {
                for entry in std::fs::read_dir(&path).expect("read dir") {
                    stack.push(entry.expect("entry").path());
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                all.push_str(&std::fs::read_to_string(&path).expect("read"));
            }
        }
        all
    }
    let support = "shared/lambda-support/src";
    let calls: &[(&str, &[&str], &[&str])] = &[
        (
            "webhook",
            &["functions/webhook/src", support],
            &[".send_message()", ".get_secret_value()"],
        ),
        (
            "archiver",
            &["functions/archiver/src", support],
            &[
                ".send_message()",
                ".change_message_visibility()",
                ".put_object()",
                ".head_object()",
                ".delete_object()",
                ".abort_multipart_upload()",
                ".put_object_tagging()",
                ".get_secret_value()",
                ".publish()",
                ".put_events()",
            ],
        ),
        (
            "reconciler",
            &["functions/reconciler/src", support],
            &[
                ".send_message()",
                ".put_object()",
                ".head_object()",
                ".get_secret_value()",
            ],
        ),
    ];
    for (function, dirs, needed) in calls {
        let code = sources(dirs);
        for call in *needed {
            assert!(
                code.contains(call),
                "{function} never calls {call}, yet it is granted"
            );
        }
    }
}

/// Every key the reconciler writes is one its `s3:PutObject` grants cover: the markers come
/// from the shared archive layout, so a marker added there without a grant fails here (moto
/// checks no IAM, so no other test would notice).
#[test]
fn the_reconciler_may_write_every_marker_it_writes() {
    let (_, policies) = parse(&template());
    let patterns: Vec<String> = policies["ReconcilerRole"]
        .iter()
        .filter(|s| s.actions.iter().any(|a| a == "s3:PutObject"))
        .flat_map(|s| s.resources.iter())
        .map(|r| {
            r.strip_prefix("!Sub ${ArchiveBucket.Arn}/")
                .expect("an archive object")
                .replace("${ArchivePrefix}", "archive/")
        })
        .collect();
    let layout = archive_model::ArchiveLayout::new("archive/").unwrap();
    let instance = altinn::InstanceRef {
        org: "ttd".into(),
        app: "app".into(),
        party_id: 50_001,
        instance_guid: "7f6c3f3e-4b0a-4a7e-9d55-0b1f6c2a9e10".parse().unwrap(),
    };
    for key in [
        layout.reconcile_marker(&instance).unwrap(),
        layout.reconcile_feedback_marker(&instance).unwrap(),
    ] {
        assert!(
            patterns.iter().any(|p| glob_matches(p, &key)),
            "no reconciler PutObject grant covers {key}: {patterns:?}"
        );
    }
}

/// IAM's resource match: `*` is any run of characters (`/` included), all else is literal.
fn glob_matches(pattern: &str, key: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == key,
        Some((head, tail)) => {
            key.starts_with(head)
                && (head.len()..=key.len())
                    .any(|at| key.is_char_boundary(at) && glob_matches(tail, &key[at..]))
        }
    }
}

/// The subscription key secret is optional: its grant exists only when the parameter is set, so
/// a stack without it grants no read on any secret but its own Maskinporten key.
#[test]
fn the_subscription_key_grant_exists_only_when_a_secret_is_configured() {
    let text = template();
    let lines: Vec<&str> = text.lines().collect();
    let grant = lines
        .iter()
        .position(|l| l.trim() == "Resource: !Ref AltinnSubscriptionKeySecretArn")
        .expect("the subscription key grant");
    let opening: Vec<&str> = lines[..grant]
        .iter()
        .rev()
        .take(5)
        .map(|l| l.trim())
        .collect();
    assert!(
        opening.contains(&"- HasAltinnSubscriptionKeySecret") && opening.contains(&"- !If"),
        "the grant sits in `!If [HasAltinnSubscriptionKeySecret, …, !Ref AWS::NoValue]`: {opening:?}"
    );
    assert_eq!(
        lines.get(grant + 1).map(|l| l.trim()),
        Some("- !Ref AWS::NoValue"),
        "without the parameter the statement is dropped"
    );
    assert!(
        text.contains(
            "ALTINN_SUBSCRIPTION_KEY_SECRET_ARN: !If [HasAltinnSubscriptionKeySecret, \
             !Ref AltinnSubscriptionKeySecretArn, !Ref AWS::NoValue]"
        ),
        "the archiver is told the ARN only when it may read it"
    );
}

/// Every SNS topic the stack creates is encrypted at rest, with the AWS-managed key (no kms:*
/// grants needed, like the rest of the stack).
#[test]
fn every_topic_is_encrypted_with_the_aws_managed_key() {
    let text = template();
    let (types, _) = parse(&text);
    let topics: Vec<&String> = types
        .iter()
        .filter(|(_, t)| *t == "AWS::SNS::Topic")
        .map(|(name, _)| name)
        .collect();
    assert_eq!(topics, ["CorrespondenceFollowUpTopic"]);
    for topic in topics {
        let start = text
            .find(&format!("\n  {topic}:\n"))
            .expect("the topic's block");
        let encrypted = text[start + 1..]
            .lines()
            .skip(1)
            .take_while(|l| l.trim().is_empty() || indent(l) > 2)
            .any(|l| l.trim() == "KmsMasterKeyId: alias/aws/sns");
        assert!(encrypted, "{topic} has KmsMasterKeyId: alias/aws/sns");
    }
}
