//! Which of Correspondence's APIs published an event. Correspondence publishes from
//! `{platform}/correspondence/api/v1/` + `correspondence`, `attachment` or `notification`, and
//! the same word decides what the event's `resourceinstance` is (Altinn's `AltinnEventBus`).

use url::Url;

use crate::environment::AltinnEnvironment;
use crate::event::CORRESPONDENCE_PREFIX;

/// The API an event came from, and so what its `resourceinstance` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CorrespondenceTopic {
    /// `resourceinstance` is a correspondence id.
    Correspondence,
    /// `resourceinstance` is an attachment id.
    Attachment,
    /// `resourceinstance` is a Notifications order id (`notificationcreated`).
    Notification,
}

/// Every event type suffix Correspondence publishes, with the API it comes from. Altinn also
/// defines `attachmentuploadprocessing`, `attachmentpurged`, `attachmentdownloaded`,
/// `correspondencearchived`, `correspondencereceiverreplied` and
/// `correspondencereceiverreserved`, but nothing publishes them.
const KNOWN_TYPES: &[(&str, CorrespondenceTopic)] = &[
    ("attachmentinitialized", CorrespondenceTopic::Attachment),
    ("attachmentpublished", CorrespondenceTopic::Attachment),
    ("attachmentuploadfailed", CorrespondenceTopic::Attachment),
    ("attachmentexpired", CorrespondenceTopic::Attachment),
    (
        "correspondenceinitialized",
        CorrespondenceTopic::Correspondence,
    ),
    (
        "correspondencepublished",
        CorrespondenceTopic::Correspondence,
    ),
    (
        "correspondencepublishfailed",
        CorrespondenceTopic::Correspondence,
    ),
    (
        "correspondencereceiverread",
        CorrespondenceTopic::Correspondence,
    ),
    (
        "correspondencereceiverconfirmed",
        CorrespondenceTopic::Correspondence,
    ),
    (
        "correspondencereceiverneverread",
        CorrespondenceTopic::Correspondence,
    ),
    (
        "correspondencereceiverneverconfirmed",
        CorrespondenceTopic::Correspondence,
    ),
    ("correspondencepurged", CorrespondenceTopic::Correspondence),
    (
        "correspondencenotificationcreationfailed",
        CorrespondenceTopic::Correspondence,
    ),
    (
        "correspondencenotificationfailed",
        CorrespondenceTopic::Correspondence,
    ),
    (
        "correspondencenotificationallfailed",
        CorrespondenceTopic::Correspondence,
    ),
    (
        "correspondencenotificationdelivered",
        CorrespondenceTopic::Correspondence,
    ),
    (
        "correspondencenotificationreminderdelivered",
        CorrespondenceTopic::Correspondence,
    ),
    ("notificationcreated", CorrespondenceTopic::Notification),
];

/// The part of a Correspondence event type after `no.altinn.correspondence.`, e.g.
/// `correspondencepublished`; `None` for any other type.
pub fn correspondence_event_suffix(event_type: &str) -> Option<&str> {
    event_type
        .strip_prefix(CORRESPONDENCE_PREFIX)
        .filter(|suffix| !suffix.is_empty())
}

impl CorrespondenceTopic {
    /// The last segment of the source path.
    pub const fn segment(self) -> &'static str {
        match self {
            CorrespondenceTopic::Correspondence => "correspondence",
            CorrespondenceTopic::Attachment => "attachment",
            CorrespondenceTopic::Notification => "notification",
        }
    }

    /// The API a known event type comes from; `None` for a type Correspondence does not publish
    /// (or not a Correspondence type at all).
    pub fn of_event_type(event_type: &str) -> Option<Self> {
        let suffix = correspondence_event_suffix(event_type)?;
        KNOWN_TYPES
            .iter()
            .find(|(known, _)| *known == suffix)
            .map(|(_, topic)| *topic)
    }

    /// The API a `source` names, when it is exactly
    /// `{platform}correspondence/api/v1/{correspondence|attachment|notification}` of this
    /// environment: the platform base as a literal prefix (no user information, no port, not
    /// even `:443`, no other letter case), no trailing slash, query or fragment, and nothing a
    /// URL parser would normalise. No other origin can legitimately send one.
    pub fn of_source(source: &str, environment: &AltinnEnvironment) -> Option<Self> {
        let prefix = format!("{}correspondence/api/v1/", environment.platform_url());
        let segment = source.strip_prefix(&prefix)?;
        let topic = [
            CorrespondenceTopic::Correspondence,
            CorrespondenceTopic::Attachment,
            CorrespondenceTopic::Notification,
        ]
        .into_iter()
        .find(|topic| topic.segment() == segment)?;
        let url = Url::parse(source).ok()?;
        (url.as_str() == source).then_some(topic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_exact() {
        let tt02 = AltinnEnvironment::Tt02;
        let base = "https://platform.tt02.altinn.no/correspondence/api/v1/";
        for (segment, topic) in [
            ("correspondence", CorrespondenceTopic::Correspondence),
            ("attachment", CorrespondenceTopic::Attachment),
            ("notification", CorrespondenceTopic::Notification),
        ] {
            assert_eq!(
                CorrespondenceTopic::of_source(&format!("{base}{segment}"), &tt02),
                Some(topic)
            );
        }
        for bad in [
            "https://platform.tt02.altinn.no/correspondence/api/v1/",
            "https://platform.tt02.altinn.no/correspondence/api/v1/correspondence/",
            "https://platform.tt02.altinn.no/correspondence/api/v1/other",
            "https://platform.tt02.altinn.no/correspondence/api/v1/correspondence?x=1",
            "https://platform.tt02.altinn.no/correspondence/api/v1/correspondence#x",
            "https://platform.altinn.no/correspondence/api/v1/correspondence",
            "http://platform.tt02.altinn.no/correspondence/api/v1/correspondence",
            "https://platform.tt02.altinn.no:443/correspondence/api/v1/correspondence",
            "https://user@platform.tt02.altinn.no/correspondence/api/v1/correspondence",
            "https://PLATFORM.tt02.altinn.no/correspondence/api/v1/correspondence",
            "https://platform.tt02.altinn.no.evil.example/correspondence/api/v1/correspondence",
        ] {
            assert_eq!(CorrespondenceTopic::of_source(bad, &tt02), None, "{bad}");
        }
    }

    #[test]
    fn event_types_name_their_api() {
        assert_eq!(
            CorrespondenceTopic::of_event_type("no.altinn.correspondence.attachmentpublished"),
            Some(CorrespondenceTopic::Attachment)
        );
        assert_eq!(
            CorrespondenceTopic::of_event_type("no.altinn.correspondence.notificationcreated"),
            Some(CorrespondenceTopic::Notification)
        );
        assert_eq!(
            CorrespondenceTopic::of_event_type(
                "no.altinn.correspondence.correspondencereceiverneverread"
            ),
            Some(CorrespondenceTopic::Correspondence)
        );
        assert_eq!(
            CorrespondenceTopic::of_event_type("no.altinn.correspondence.attachmentpurged"),
            None
        );
        assert_eq!(
            CorrespondenceTopic::of_event_type("app.instance.process.completed"),
            None
        );
        assert_eq!(
            correspondence_event_suffix("no.altinn.correspondence."),
            None
        );
        assert_eq!(
            correspondence_event_suffix("no.altinn.correspondence.correspondencepurged"),
            Some("correspondencepurged")
        );
    }
}
