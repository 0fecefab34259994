//! The records of `INFECTED_POLICY=hold`: the archiver writes a [`QuarantineReview`] for each
//! `Infected` element it holds, and `archive-ops quarantine release` writes a
//! [`QuarantineRelease`] next to it once a person has decided the element may be archived.
//! The archiver archives a held instance only when every `Infected` element has a release.

use serde::{Deserialize, Serialize};

/// One held `Infected` element, at [`crate::ArchiveLayout::quarantine_review`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuarantineReview {
    pub org: String,
    pub app: String,
    pub party_id: u64,
    pub instance_guid: String,
    pub data_element_id: String,
    pub data_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    pub size: u64,
    /// Lower-case hex SHA-256 of the quarantined bytes.
    pub sha256: String,
    /// Where the bytes are (`…/quarantine/{dataGuid}`).
    pub quarantine_key: String,
    /// The stored event that a release sends to the archive queue again.
    pub event_key: String,
    pub event_id: String,
    /// When the archiver held the instance (RFC 3339, UTC).
    pub held_at: String,
}

impl QuarantineReview {
    /// `{partyId}/{instanceGuid}`, Altinn's instance id.
    pub fn instance_id(&self) -> String {
        format!("{}/{}", self.party_id, self.instance_guid)
    }
}

/// A person's release of one held element, at [`crate::ArchiveLayout::quarantine_release`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuarantineRelease {
    pub data_element_id: String,
    /// Who decided (the operator's name or AWS identity, as given to `archive-ops`).
    pub released_by: String,
    /// When (RFC 3339, UTC).
    pub released_at: String,
    /// Why, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}
