//! The keys of archived Correspondence: a correspondence's folder, the sender's attachments
//! and notification orders (see the picture in the parent module).

use altinn::CorrespondenceRef;

use super::{
    ATTACHMENT_DATA_NAME, ATTACHMENT_OVERVIEW_NAME, ArchiveLayout, FOLLOW_UP_FOLDER,
    HAND_OFF_FOLDER, KeyError, MANIFEST_NAME, RESOURCE_URN_PREFIX, check_component,
};

impl ArchiveLayout {
    /// `{prefix}correspondence/{resourceId}/{resourceinstance}/events/`: one correspondence's
    /// (or attachment's, or notification order's) events.
    pub fn correspondence_events_prefix(
        &self,
        correspondence: &CorrespondenceRef,
    ) -> Result<String, KeyError> {
        let resource_id = correspondence
            .resource
            .strip_prefix(RESOURCE_URN_PREFIX)
            .ok_or(KeyError {
                what: "resource",
                reason: "not an urn:altinn:resource: URN",
            })?;
        check_component("resource id", resource_id)?;
        check_component("resource instance", &correspondence.resourceinstance)?;
        Ok(format!(
            "{}correspondence/{resource_id}/{}/events/",
            self.prefix, correspondence.resourceinstance
        ))
    }

    /// `{prefix}correspondence/{resourceId}/{resourceinstance}/events/{eventId}.json`.
    pub fn correspondence_event(
        &self,
        correspondence: &CorrespondenceRef,
        event_id: &str,
    ) -> Result<String, KeyError> {
        check_component("event id", event_id)?;
        Ok(format!(
            "{}{event_id}.json",
            self.correspondence_events_prefix(correspondence)?
        ))
    }

    /// `{prefix}correspondence/{resourceId}/{correspondenceId}/`: everything archived about one
    /// correspondence. `resource_id` is without the `urn:altinn:resource:` prefix.
    pub fn correspondence_prefix(
        &self,
        resource_id: &str,
        correspondence_id: &str,
    ) -> Result<String, KeyError> {
        check_component("resource id", resource_id)?;
        check_component("correspondence id", correspondence_id)?;
        Ok(format!(
            "{}correspondence/{resource_id}/{correspondence_id}/",
            self.prefix
        ))
    }

    /// `…/events/{eventId}.json` under a correspondence.
    pub fn correspondence_event_under(
        &self,
        resource_id: &str,
        correspondence_id: &str,
        event_id: &str,
    ) -> Result<String, KeyError> {
        check_component("event id", event_id)?;
        Ok(format!(
            "{}events/{event_id}.json",
            self.correspondence_prefix(resource_id, correspondence_id)?
        ))
    }

    /// `…/details/` under a correspondence: every details answer archived for it.
    pub fn correspondence_details_prefix(
        &self,
        resource_id: &str,
        correspondence_id: &str,
    ) -> Result<String, KeyError> {
        Ok(format!(
            "{}details/",
            self.correspondence_prefix(resource_id, correspondence_id)?
        ))
    }

    /// `…/details/{fetchedAt}.json`: one details answer as Altinn sent it. `fetched_at` is
    /// [`fetched_at`]'s form, so the keys sort by time.
    pub fn correspondence_details(
        &self,
        resource_id: &str,
        correspondence_id: &str,
        fetched_at: &str,
    ) -> Result<String, KeyError> {
        check_component("fetchedAt", fetched_at)?;
        Ok(format!(
            "{}{fetched_at}.json",
            self.correspondence_details_prefix(resource_id, correspondence_id)?
        ))
    }

    /// `…/attachments/{attachmentId}/`: one attachment of a correspondence.
    pub fn correspondence_attachment_prefix(
        &self,
        resource_id: &str,
        correspondence_id: &str,
        attachment_id: &str,
    ) -> Result<String, KeyError> {
        check_component("attachment id", attachment_id)?;
        Ok(format!(
            "{}attachments/{attachment_id}/",
            self.correspondence_prefix(resource_id, correspondence_id)?
        ))
    }

    /// `…/attachments/{attachmentId}/{fileName}`, or `…/data` when the file name cannot be a
    /// key component (the manifest keeps the real name).
    pub fn correspondence_attachment(
        &self,
        resource_id: &str,
        correspondence_id: &str,
        attachment_id: &str,
        file_name: Option<&str>,
    ) -> Result<String, KeyError> {
        let name = file_name
            .filter(|name| {
                check_component("file name", name).is_ok() && *name != ATTACHMENT_OVERVIEW_NAME
            })
            .unwrap_or(ATTACHMENT_DATA_NAME);
        Ok(format!(
            "{}{name}",
            self.correspondence_attachment_prefix(resource_id, correspondence_id, attachment_id)?
        ))
    }

    /// `…/attachments/{attachmentId}/overview.json` under a correspondence (sender: the
    /// attachment's overview record, linked from `correspondenceIds`).
    pub fn correspondence_attachment_overview(
        &self,
        resource_id: &str,
        correspondence_id: &str,
        attachment_id: &str,
    ) -> Result<String, KeyError> {
        Ok(format!(
            "{}{ATTACHMENT_OVERVIEW_NAME}",
            self.correspondence_attachment_prefix(resource_id, correspondence_id, attachment_id)?
        ))
    }

    /// `…/follow-up/{typeSuffix}.json`: the claim that one follow-up alert per
    /// (correspondence, event type) is sent; not part of the manifest.
    pub fn follow_up_claim(
        &self,
        resource_id: &str,
        correspondence_id: &str,
        type_suffix: &str,
    ) -> Result<String, KeyError> {
        check_component("event type", type_suffix)?;
        Ok(format!(
            "{}{FOLLOW_UP_FOLDER}{type_suffix}.json",
            self.correspondence_prefix(resource_id, correspondence_id)?
        ))
    }

    /// `…/hand-off/archived-{eventId}.json`: the claim that the `CorrespondenceArchived`
    /// event for one Correspondence event is put on the hand-off bus once; not part of the
    /// manifest.
    pub fn correspondence_hand_off_claim(
        &self,
        resource_id: &str,
        correspondence_id: &str,
        event_id: &str,
    ) -> Result<String, KeyError> {
        check_component("event id", event_id)?;
        Ok(format!(
            "{}{HAND_OFF_FOLDER}archived-{event_id}.json",
            self.correspondence_prefix(resource_id, correspondence_id)?
        ))
    }

    /// `…/hand-off/follow-up-{typeSuffix}.json`: the claim that one
    /// `CorrespondenceNeedsFollowUp` event per (correspondence, event type) is put on the
    /// hand-off bus; not part of the manifest.
    pub fn follow_up_hand_off_claim(
        &self,
        resource_id: &str,
        correspondence_id: &str,
        type_suffix: &str,
    ) -> Result<String, KeyError> {
        check_component("event type", type_suffix)?;
        Ok(format!(
            "{}{HAND_OFF_FOLDER}follow-up-{type_suffix}.json",
            self.correspondence_prefix(resource_id, correspondence_id)?
        ))
    }

    /// `…/manifest.json` of a correspondence.
    pub fn correspondence_manifest(
        &self,
        resource_id: &str,
        correspondence_id: &str,
    ) -> Result<String, KeyError> {
        Ok(format!(
            "{}{MANIFEST_NAME}",
            self.correspondence_prefix(resource_id, correspondence_id)?
        ))
    }

    /// `{prefix}correspondence-attachments/{attachmentId}/`: the sender's record of one
    /// attachment (an attachment can serve several correspondences).
    pub fn attachment_prefix(&self, attachment_id: &str) -> Result<String, KeyError> {
        check_component("attachment id", attachment_id)?;
        Ok(format!(
            "{}correspondence-attachments/{attachment_id}/",
            self.prefix
        ))
    }

    /// `{prefix}correspondence-attachments/{attachmentId}/events/{eventId}.json`.
    pub fn attachment_event(
        &self,
        attachment_id: &str,
        event_id: &str,
    ) -> Result<String, KeyError> {
        check_component("event id", event_id)?;
        Ok(format!(
            "{}events/{event_id}.json",
            self.attachment_prefix(attachment_id)?
        ))
    }

    /// `{prefix}correspondence-attachments/{attachmentId}/overview.json`.
    pub fn attachment_overview(&self, attachment_id: &str) -> Result<String, KeyError> {
        Ok(format!(
            "{}{ATTACHMENT_OVERVIEW_NAME}",
            self.attachment_prefix(attachment_id)?
        ))
    }

    /// `{prefix}correspondence-attachments/{attachmentId}/data`: the bytes the sender could
    /// still download.
    pub fn attachment_data(&self, attachment_id: &str) -> Result<String, KeyError> {
        Ok(format!(
            "{}{ATTACHMENT_DATA_NAME}",
            self.attachment_prefix(attachment_id)?
        ))
    }

    /// `{prefix}correspondence-notifications/{orderId}/events/{eventId}.json`.
    pub fn notification_event(&self, order_id: &str, event_id: &str) -> Result<String, KeyError> {
        check_component("notification order id", order_id)?;
        check_component("event id", event_id)?;
        Ok(format!(
            "{}correspondence-notifications/{order_id}/events/{event_id}.json",
            self.prefix
        ))
    }
}
