//! The archive receipt steps: judge whether the instance holds our receipt, claim the upload in
//! the archive so concurrent runs upload it once, and upload it (see [`crate::receipt`]).

use std::time::{Duration, SystemTime};

use altinn::{Instance, InstanceRef};
use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::instance::now_rfc3339;
use super::{JSON, Pipeline};
use crate::error::{ArchiveError, FailureReason};
use crate::manifest::Manifest;
use crate::receipt::{Receipt, ReceiptSettings, has_our_receipt};
use crate::seams::{AltinnSource, ArchiveTarget};
use crate::store::ConditionalPut;

impl<A: AltinnSource, T: ArchiveTarget> Pipeline<A, T> {
    /// Uploads the archive receipt unless `current` (the instance as Storage has it now)
    /// already holds one of ours, under a claim in S3 so that concurrent runs for the same
    /// instance (a duplicate delivery, e.g. during a secret rotation) upload it only once (see
    /// [`crate::receipt`]).
    pub(super) async fn ensure_receipt(
        &self,
        receipts: &ReceiptSettings,
        instance: &InstanceRef,
        current: &Instance,
        manifest: &Manifest,
        manifest_key: &str,
        manifest_sha256: &str,
    ) -> Result<(), ArchiveError> {
        let data_type = receipts.data_type.as_str();
        if has_our_receipt(current, data_type, instance) {
            tracing::info!(data_type, "the instance already holds our archive receipt");
            return Ok(());
        }
        let layout = &self.settings.layout;
        let claim_key = layout.receipt_claim(instance)?;
        self.claim_receipt_upload(receipts, &claim_key, instance)
            .await?;
        let location = self.target.location(&layout.instance_prefix(instance)?);
        let receipt = Receipt::for_manifest(manifest, manifest_key, manifest_sha256, location);
        match self
            .altinn
            .upload_receipt(instance, receipts, &receipt)
            .await
        {
            Ok(element_id) => {
                // The claim stays: a duplicate run that fetched the instance just before the
                // upload finds it and waits instead of uploading a second receipt.
                tracing::info!(
                    data_type,
                    data_element_id = element_id.as_deref().unwrap_or("unknown"),
                    "archive receipt uploaded"
                );
                Ok(())
            }
            Err(error) => {
                // Released so the retry can look at the instance again at once, instead of
                // waiting out the claim.
                if let Err(release) = self.target.delete(&claim_key).await {
                    tracing::warn!(error = %release, "could not release the receipt claim; the retry waits for it to expire");
                }
                Err(error)
            }
        }
    }

    /// Takes the receipt claim: creates it (`If-None-Match: *`), or takes over one older than
    /// the claim TTL ([`crate::receipt::claim_ttl`]; its run died before uploading). A younger claim means
    /// another run is uploading right now: a transient failure asking to come back after it.
    async fn claim_receipt_upload(
        &self,
        receipts: &ReceiptSettings,
        claim_key: &str,
        instance: &InstanceRef,
    ) -> Result<(), ArchiveError> {
        let store_error = |e: crate::store::StoreError| ArchiveError::from_store(&e);
        let claim = serde_json::json!({
            "instanceId": instance.instance_id(),
            "dataType": receipts.data_type,
            "claimedAt": now_rfc3339(),
        });
        let claim = Bytes::from(serde_json::to_vec(&claim).unwrap_or_default());
        if let ConditionalPut::Created(_) = self
            .target
            .put_small_if_absent(claim_key, claim.clone(), JSON)
            .await
            .map_err(store_error)?
        {
            return Ok(());
        }
        let age = self
            .target
            .last_modified(claim_key)
            .await
            .map_err(store_error)?
            .map(|modified| {
                SystemTime::now()
                    .duration_since(modified)
                    .unwrap_or(Duration::ZERO)
            });
        let ttl = self.settings.receipt_claim_ttl;
        if let Some(age) = age
            && age < ttl
        {
            let mut error = ArchiveError::transient(
                FailureReason::ReceiptInProgress,
                format!(
                    "another run claimed the receipt upload {} s ago",
                    age.as_secs()
                ),
            );
            error.retry_after = Some(ttl - age);
            return Err(error);
        }
        tracing::warn!(
            claim_key,
            "taking over a stale (or just released) receipt claim"
        );
        self.target
            .put_small(claim_key, claim, JSON)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    /// The stored manifest and the SHA-256 of its bytes as stored.
    pub(super) async fn stored_manifest(
        &self,
        key: &str,
    ) -> Result<(Manifest, String), ArchiveError> {
        let bytes = self
            .target
            .get_bytes(key)
            .await
            .map_err(|e| ArchiveError::from_store(&e))?
            .ok_or_else(|| {
                ArchiveError::transient(
                    FailureReason::StorageUnavailable,
                    format!("{key} disappeared while it was being read"),
                )
            })?;
        let manifest = serde_json::from_slice::<Manifest>(&bytes).map_err(|e| {
            ArchiveError::permanent(
                FailureReason::InvalidInput,
                format!("{key} is not a manifest: {e}"),
            )
        })?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        Ok((manifest, sha256))
    }
}
