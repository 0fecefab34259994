//! `Infected` elements (see [`crate::scan`]): their objects are tagged, and under
//! `INFECTED_POLICY=hold` the instance is held with a review record per element until
//! `archive-ops quarantine release` has released every one of them.

use altinn::{DataElement, InstanceRef};
use bytes::Bytes;

use super::element::ElementResult;
use super::instance::now_rfc3339;
use super::{JSON, Pipeline, ReceivedEvent};
use crate::error::{ArchiveError, FailureReason};
use crate::quarantine::QuarantineReview;
use crate::scan::{InfectedPolicy, SCAN_TAG};
use crate::seams::{AltinnSource, ArchiveTarget};

impl<A: AltinnSource, T: ArchiveTarget> Pipeline<A, T> {
    /// Tags every quarantined object (again on a retry: a crash may have come between the
    /// upload and the tag), then, under `hold`, holds the instance unless each `Infected`
    /// element has a person's release.
    pub(super) async fn settle_infected(
        &self,
        event: &ReceivedEvent,
        instance: &InstanceRef,
        quarantined: &[(&ElementResult, &DataElement)],
    ) -> Result<(), ArchiveError> {
        if quarantined.is_empty() {
            return Ok(());
        }
        for (result, _) in quarantined {
            self.target
                .tag_object(&result.object.key, &[(SCAN_TAG, "Infected")])
                .await
                .map_err(|e| ArchiveError::from_store(&e))?;
        }
        if self.settings.scan.infected_policy == InfectedPolicy::Archive
            || self.all_released(instance, quarantined).await?
        {
            return Ok(());
        }
        self.hold(event, instance, quarantined).await
    }

    /// True when a release marker exists for every quarantined element.
    async fn all_released(
        &self,
        instance: &InstanceRef,
        quarantined: &[(&ElementResult, &DataElement)],
    ) -> Result<bool, ArchiveError> {
        for (_, element) in quarantined {
            let marker = self
                .settings
                .layout
                .quarantine_release(instance, &element.id)?;
            if !self
                .target
                .exists(&marker)
                .await
                .map_err(|e| ArchiveError::from_store(&e))?
            {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Keeps the event (a release sends it again) and a review record per element (the first
    /// one stays, with the time the instance was first held), then fails as `infected`.
    async fn hold(
        &self,
        event: &ReceivedEvent,
        instance: &InstanceRef,
        quarantined: &[(&ElementResult, &DataElement)],
    ) -> Result<(), ArchiveError> {
        let event_object = self.keep_instance_event(event, instance).await?;
        let layout = &self.settings.layout;
        for (result, element) in quarantined {
            let review = QuarantineReview {
                org: instance.org.clone(),
                app: instance.app.clone(),
                party_id: instance.party_id,
                instance_guid: instance.instance_guid.to_string(),
                data_element_id: element.id.clone(),
                data_type: element.data_type.clone(),
                filename: element.filename.clone(),
                size: result.object.size,
                sha256: result.object.sha256.clone(),
                quarantine_key: result.object.key.clone(),
                event_key: event_object.key.clone(),
                event_id: event.event.id.clone(),
                held_at: now_rfc3339(),
            };
            let bytes = serde_json::to_vec_pretty(&review)
                .map_err(|e| ArchiveError::permanent(FailureReason::InvalidInput, e.to_string()))?;
            let key = layout.quarantine_review(instance, &element.id)?;
            self.target
                .put_small_if_absent(&key, Bytes::from(bytes), JSON)
                .await
                .map_err(|e| ArchiveError::from_store(&e))?;
        }
        let ids: Vec<&str> = quarantined.iter().map(|(_, e)| e.id.as_str()).collect();
        tracing::warn!(data_element_ids = ?ids, "Infected elements quarantined; the instance is held for review");
        Err(ArchiveError::permanent(
            FailureReason::Infected,
            format!(
                "INFECTED_POLICY=hold: {} Infected element(s) quarantined and held for review \
                 ({}); after review: archive-ops quarantine release {}",
                ids.len(),
                ids.join(", "),
                instance.instance_guid
            ),
        ))
    }
}
