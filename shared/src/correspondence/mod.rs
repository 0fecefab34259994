//! Altinn 3 Correspondence, as far as an archive needs it: which role we play, which API
//! published an event, and the JSON the details and attachment calls answer
//! (<https://github.com/Altinn/altinn-correspondence>, `src/Altinn.Correspondence.API/Models`).
//!
//! Correspondence writes JSON with System.Text.Json: camelCase names and enums as strings. The
//! models keep statuses as strings, so a status Altinn adds later never makes a details answer
//! unreadable, and the archive keeps the exact bytes anyway ([`RawJson`]).
//!
//! Facts the archive is built around (from the API's handlers):
//! - Once a correspondence is `Published`, its sender gets an empty `content` and can no longer
//!   download its attachments (400 with `errorCode` 2016). A sender must archive bytes before
//!   that; afterwards only status and metadata are there.
//! - A recipient's overview and details calls add a `Fetched` status the sender can see; the
//!   body (`/content`) marks the correspondence `Read`, `markasread` and `confirm` change its
//!   state. The client has no method for those three, on purpose.
//! - An event's `resourceinstance` is the correspondence id, the attachment id or the
//!   notification order id, depending on which API published it ([`CorrespondenceTopic`]).

mod model;
mod topic;

pub use model::{
    AttachmentOverview, CorrespondenceAttachment, CorrespondenceContent, CorrespondenceDetails,
    NotificationDetails, RawJson, StatusEntry,
};
pub use topic::{CorrespondenceTopic, correspondence_event_suffix};

/// The URN prefix of an organisation party, as Correspondence writes an event's `subject`.
pub const ORGANIZATION_SUBJECT_PREFIX: &str = "urn:altinn:organization:identifier-no:";
/// The URN prefix of a resource id.
pub const RESOURCE_URN_PREFIX: &str = "urn:altinn:resource:";
/// ProblemDetails `errorCode` of an attachment download refused because a linked
/// correspondence is already published: the sender can no longer read the bytes.
pub const ERROR_ATTACHMENT_NOT_AVAILABLE_TO_SENDER: i64 = 2016;

/// Which side of a correspondence a call is made as. Each gets its own token: a token carrying
/// `altinn:correspondence.write` is always treated as the sender's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CorrespondenceRole {
    /// The service owner that sent it.
    Sender,
    /// The organisation it was sent to.
    Recipient,
}

impl CorrespondenceRole {
    /// `sender` or `recipient`.
    pub const fn name(self) -> &'static str {
        match self {
            CorrespondenceRole::Sender => "sender",
            CorrespondenceRole::Recipient => "recipient",
        }
    }
}

/// What this deployment archives of Correspondence (`CORRESPONDENCE_ROLE` and its companions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorrespondenceMode {
    /// We are the service owner of these resources (ids without `urn:altinn:resource:`).
    Sender { resources: Vec<String> },
    /// We are the organisation with this organisation number (9 digits).
    Recipient { orgno: String },
}

impl CorrespondenceMode {
    /// The role our calls are made as.
    pub fn role(&self) -> CorrespondenceRole {
        match self {
            CorrespondenceMode::Sender { .. } => CorrespondenceRole::Sender,
            CorrespondenceMode::Recipient { .. } => CorrespondenceRole::Recipient,
        }
    }

    /// Our organisation's subject URN in recipient mode.
    pub fn recipient_subject(&self) -> Option<String> {
        match self {
            CorrespondenceMode::Recipient { orgno } => {
                Some(format!("{ORGANIZATION_SUBJECT_PREFIX}{orgno}"))
            }
            CorrespondenceMode::Sender { .. } => None,
        }
    }

    /// True when `resource` (`urn:altinn:resource:{id}`) is ours to archive: in sender mode one
    /// of the configured resources, in recipient mode any (the subject decides there).
    pub fn is_our_resource(&self, resource: &str) -> bool {
        match self {
            CorrespondenceMode::Sender { resources } => resource
                .strip_prefix(RESOURCE_URN_PREFIX)
                .is_some_and(|id| resources.iter().any(|ours| ours == id)),
            CorrespondenceMode::Recipient { .. } => true,
        }
    }

    /// True when an event with this `subject` is addressed to us: in recipient mode exactly our
    /// organisation's URN; a sender archives every event of its resources.
    pub fn is_addressed_to_us(&self, subject: Option<&str>) -> bool {
        match self.recipient_subject() {
            Some(ours) => subject == Some(ours.as_str()),
            None => true,
        }
    }

    /// Parses the settings: `role` is `sender` or `recipient` (any case); `resources` is a
    /// comma-separated list of resource ids (a `urn:altinn:resource:` prefix is accepted and
    /// dropped); `orgno` is 9 digits. Each error names what is wrong, never a secret.
    pub fn parse(
        role: &str,
        resources: Option<&str>,
        orgno: Option<&str>,
    ) -> Result<Self, ModeError> {
        match role.trim().to_ascii_lowercase().as_str() {
            "sender" => {
                let resources: Vec<String> = resources
                    .unwrap_or_default()
                    .split(',')
                    .map(str::trim)
                    .filter(|id| !id.is_empty())
                    .map(|id| {
                        id.strip_prefix(RESOURCE_URN_PREFIX)
                            .unwrap_or(id)
                            .to_owned()
                    })
                    .collect();
                if resources.is_empty() {
                    return Err(ModeError::NoResources);
                }
                if let Some(bad) = resources.iter().find(|id| !is_resource_id(id)) {
                    return Err(ModeError::BadResource(bad.clone()));
                }
                if resources.iter().any(|id| id.starts_with("app_")) {
                    return Err(ModeError::AppResource);
                }
                Ok(CorrespondenceMode::Sender { resources })
            }
            "recipient" => {
                let orgno = orgno.map(str::trim).unwrap_or_default();
                if orgno.len() != 9 || !orgno.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(ModeError::BadOrgNo);
                }
                Ok(CorrespondenceMode::Recipient {
                    orgno: orgno.to_owned(),
                })
            }
            _ => Err(ModeError::BadRole),
        }
    }
}

/// Why the Correspondence settings are not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModeError {
    #[error("must be `sender` or `recipient`")]
    BadRole,
    #[error("sender mode needs at least one resource id")]
    NoResources,
    #[error("`{0}` is not a resource id (letters, digits, `-` and `_`)")]
    BadResource(String),
    #[error("app resources (`app_…`) are archived as instances, not as Correspondence")]
    AppResource,
    #[error("must be an organisation number of 9 digits")]
    BadOrgNo,
}

/// A resource id as Altinn's resource registry forms them: letters, digits, `-` and `_`, at most
/// 100 long. The id becomes part of an archive key and of an Events filter.
pub fn is_resource_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 100
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_answer_for_their_events() {
        let sender = CorrespondenceMode::parse(
            "Sender",
            Some(" urn:altinn:resource:corr-a , corr_b,"),
            None,
        )
        .unwrap();
        assert_eq!(
            sender,
            CorrespondenceMode::Sender {
                resources: vec!["corr-a".into(), "corr_b".into()]
            }
        );
        assert_eq!(sender.role(), CorrespondenceRole::Sender);
        assert!(sender.is_our_resource("urn:altinn:resource:corr-a"));
        assert!(!sender.is_our_resource("urn:altinn:resource:corr-c"));
        assert!(!sender.is_our_resource("corr-a"));
        assert!(sender.is_addressed_to_us(None));

        let recipient = CorrespondenceMode::parse("recipient", None, Some("910000001")).unwrap();
        assert_eq!(
            recipient.recipient_subject().as_deref(),
            Some("urn:altinn:organization:identifier-no:910000001")
        );
        assert!(
            recipient.is_addressed_to_us(Some("urn:altinn:organization:identifier-no:910000001"))
        );
        assert!(
            !recipient.is_addressed_to_us(Some("urn:altinn:organization:identifier-no:910000002"))
        );
        assert!(!recipient.is_addressed_to_us(None));
        assert!(recipient.is_our_resource("urn:altinn:resource:anything"));
    }

    #[test]
    fn bad_settings_say_what_is_wrong() {
        use ModeError::*;
        assert_eq!(CorrespondenceMode::parse("both", None, None), Err(BadRole));
        assert_eq!(
            CorrespondenceMode::parse("sender", None, None),
            Err(NoResources)
        );
        assert_eq!(
            CorrespondenceMode::parse("sender", Some(" , "), None),
            Err(NoResources)
        );
        assert_eq!(
            CorrespondenceMode::parse("sender", Some("a/b"), None),
            Err(BadResource("a/b".into()))
        );
        assert_eq!(
            CorrespondenceMode::parse("sender", Some("app_ttd_x"), None),
            Err(AppResource)
        );
        for orgno in [
            None,
            Some("12345678"),
            Some("1234567890"),
            Some("12345678a"),
        ] {
            assert_eq!(
                CorrespondenceMode::parse("recipient", None, orgno),
                Err(BadOrgNo)
            );
        }
    }
}
