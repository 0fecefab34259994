//! Step 8 for a Correspondence event: where it comes from and whom it is for.
//!
//! - **Origin.** The Correspondence API publishes each event with the `source`
//!   `{platform}correspondence/api/v1/{correspondence|attachment|notification}` of its
//!   environment, spelled exactly ([`CorrespondenceTopic::of_source`]). For a type we know, the
//!   last segment must be the one that type is published from: an attachment event claiming
//!   to come from `…/correspondence` is forged or garbled. An unknown type (Altinn adds some
//!   now and then) is judged by its source alone.
//! - **Addressee** (`CORRESPONDENCE_ROLE`). As `recipient` we archive only what is addressed
//!   to our organisation: `subject` must be `urn:altinn:organization:identifier-no:{orgno}`.
//!   As `sender` we archive only our own resources: `resource` must be
//!   `urn:altinn:resource:{id}` for an id in `CORRESPONDENCE_RESOURCES`. Unset: events are
//!   stored as JSON only, for any subject and resource.
//!
//! Every refusal is a 403 whose detail says which attribute failed and what it must be (our
//! environment's platform base, our organisation number and the variable names are
//! configuration, not secrets).

use altinn::{AltinnEnvironment, CloudEvent, CorrespondenceMode, CorrespondenceTopic};
use lambda_http::http::StatusCode;

use crate::problem::Problem;

/// Checks the origin and, in a correspondence mode, the addressee of a Correspondence event
/// whose `resource` is `resource`.
pub(crate) fn check_correspondence(
    event: &CloudEvent,
    resource: &str,
    environment: &AltinnEnvironment,
    mode: Option<&CorrespondenceMode>,
) -> Result<(), Problem> {
    check_origin(event, environment)?;
    match mode {
        Some(mode) => check_addressee(event, resource, mode),
        None => Ok(()),
    }
}

fn check_origin(event: &CloudEvent, environment: &AltinnEnvironment) -> Result<(), Problem> {
    let api = format!("{}correspondence/api/v1/", environment.platform_url());
    let Some(topic) = CorrespondenceTopic::of_source(&event.source, environment) else {
        return Err(forbidden(
            "forbidden_source",
            format!(
                "a Correspondence event's source must be exactly {api}correspondence, \
                 {api}attachment or {api}notification"
            ),
        ));
    };
    match CorrespondenceTopic::of_event_type(&event.event_type) {
        Some(expected) if expected != topic => Err(forbidden(
            "forbidden_source",
            format!(
                "an event of this type comes from {api}{}, not {api}{}",
                expected.segment(),
                topic.segment()
            ),
        )),
        _ => Ok(()),
    }
}

fn check_addressee(
    event: &CloudEvent,
    resource: &str,
    mode: &CorrespondenceMode,
) -> Result<(), Problem> {
    if !mode.is_addressed_to_us(event.subject.as_deref()) {
        let ours = mode.recipient_subject().unwrap_or_default();
        return Err(forbidden(
            "forbidden_subject",
            format!(
                "with CORRESPONDENCE_ROLE=recipient the event's subject must be {ours}, \
                 our organisation"
            ),
        ));
    }
    if !mode.is_our_resource(resource) {
        return Err(forbidden(
            "forbidden_resource",
            "with CORRESPONDENCE_ROLE=sender the event's resource must be \
             urn:altinn:resource:{id} for an id in CORRESPONDENCE_RESOURCES",
        ));
    }
    Ok(())
}

fn forbidden(reason: &'static str, detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::FORBIDDEN, reason, detail)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const RESOURCE: &str = "urn:altinn:resource:ttd-archive-correspondence";
    const OURS: &str = "urn:altinn:organization:identifier-no:313725138";

    fn event(event_type: &str, source: &str, subject: &str) -> CloudEvent {
        let text = json!({
            "specversion": "1.0", "id": "0b6f8a2e-4c1d-4e3f-9a5b-7c8d9e0f1a2b",
            "type": format!("no.altinn.correspondence.{event_type}"), "source": source,
            "resource": RESOURCE, "resourceinstance": "a4f1c7e2-9b3d-4f6a-8e2c-1d5b7a9c3e0f",
            "subject": subject,
        })
        .to_string();
        CloudEvent::parse(text.as_bytes()).expect("a CloudEvent")
    }

    fn check(event: &CloudEvent, mode: Option<&CorrespondenceMode>) -> Result<(), String> {
        check_correspondence(event, RESOURCE, &AltinnEnvironment::Tt02, mode).map_err(|problem| {
            assert_eq!(problem.status(), StatusCode::FORBIDDEN);
            format!("{}: {}", problem.reason(), problem.detail())
        })
    }

    const API: &str = "https://platform.tt02.altinn.no/correspondence/api/v1/";

    #[test]
    fn each_topic_is_accepted_from_its_own_source_only() {
        for (suffix, segment) in [
            ("correspondencepublished", "correspondence"),
            ("attachmentpublished", "attachment"),
            ("notificationcreated", "notification"),
        ] {
            let from_its_own = event(suffix, &format!("{API}{segment}"), OURS);
            assert_eq!(check(&from_its_own, None), Ok(()), "{suffix}");
            for other in ["correspondence", "attachment", "notification"] {
                if other == segment {
                    continue;
                }
                let forged = event(suffix, &format!("{API}{other}"), OURS);
                let refusal = check(&forged, None).unwrap_err();
                assert_eq!(
                    refusal,
                    format!(
                        "forbidden_source: an event of this type comes from {API}{segment}, \
                         not {API}{other}"
                    )
                );
            }
        }
        // A type we do not know yet is judged by its source alone.
        let unknown = event(
            "correspondencesomethingnew",
            &format!("{API}attachment"),
            OURS,
        );
        assert_eq!(check(&unknown, None), Ok(()));
    }

    #[test]
    fn sources_off_the_exact_spelling_are_refused() {
        for source in [
            "https://platform.altinn.no/correspondence/api/v1/correspondence",
            "http://platform.tt02.altinn.no/correspondence/api/v1/correspondence",
            "https://platform.tt02.altinn.no:443/correspondence/api/v1/correspondence",
            "https://user@platform.tt02.altinn.no/correspondence/api/v1/correspondence",
            "https://PLATFORM.tt02.altinn.no/correspondence/api/v1/correspondence",
            "https://platform.tt02.altinn.no.evil.example/correspondence/api/v1/correspondence",
            "https://platform.tt02.altinn.no/correspondence/api/v1/correspondence/",
            "https://platform.tt02.altinn.no/correspondence/api/v1/correspondence?x=1",
            "https://platform.tt02.altinn.no/correspondence/api/v1/correspondence#x",
            "https://platform.tt02.altinn.no/correspondence/api/v1/other",
            "https://platform.tt02.altinn.no/correspondence/api/v1/../../../storage/api/v1/x",
            "https://platform.tt02.altinn.no/storage/api/v1/instances",
            "not a url",
        ] {
            let refusal =
                check(&event("correspondencepublished", source, OURS), None).expect_err(source);
            assert!(
                refusal.starts_with(&format!(
                    "forbidden_source: a Correspondence event's source must be exactly \
                     {API}correspondence, {API}attachment or {API}notification"
                )),
                "{source}: {refusal}"
            );
        }
    }

    #[test]
    fn recipient_mode_requires_our_organisation_as_subject() {
        let mode = CorrespondenceMode::Recipient {
            orgno: "313725138".into(),
        };
        let source = format!("{API}correspondence");
        assert_eq!(
            check(
                &event("correspondencepublished", &source, OURS),
                Some(&mode)
            ),
            Ok(())
        );
        for subject in [
            "urn:altinn:organization:identifier-no:999999999",
            "urn:altinn:organization:identifier-no:3137251380",
            "/organisation/313725138",
            "urn:altinn:person:identifier-no:01017012345",
        ] {
            let refusal = check(
                &event("correspondencepublished", &source, subject),
                Some(&mode),
            )
            .unwrap_err();
            assert_eq!(
                refusal,
                format!(
                    "forbidden_subject: with CORRESPONDENCE_ROLE=recipient the event's \
                     subject must be {OURS}, our organisation"
                ),
                "{subject}"
            );
        }
    }

    #[test]
    fn sender_mode_requires_one_of_our_resources() {
        let ours = CorrespondenceMode::Sender {
            resources: vec!["other-resource".into(), "ttd-archive-correspondence".into()],
        };
        let source = format!("{API}correspondence");
        let foreign_subject = "urn:altinn:organization:identifier-no:999999999";
        assert_eq!(
            check(
                &event("correspondencereceiverread", &source, foreign_subject),
                Some(&ours)
            ),
            Ok(())
        );
        let not_ours = CorrespondenceMode::Sender {
            resources: vec!["other-resource".into()],
        };
        assert_eq!(
            check(
                &event("correspondencereceiverread", &source, foreign_subject),
                Some(&not_ours)
            ),
            Err(
                "forbidden_resource: with CORRESPONDENCE_ROLE=sender the event's resource \
                 must be urn:altinn:resource:{id} for an id in CORRESPONDENCE_RESOURCES"
                    .into()
            )
        );
    }
}
