//! The App API: an instance in the App dialect, moving the process on (`process/next`) and the
//! instance's substatus, each on the app's own host
//! ([Altinn app-lib-dotnet](https://github.com/Altinn/app-lib-dotnet)).

use reqwest::Method;
use url::Url;

use super::transport::{Call, Payload, extend_path, parse_instance, parse_json, plain_name};
use super::{AltinnClient, ClientError};
use crate::event::InstanceRef;
use crate::instance::{ProcessState, RawInstance};

impl AltinnClient {
    /// `GET {apps}{org}/{app}/instances/{partyId}/{guid}` (App dialect), raw bytes kept.
    pub async fn get_app_instance(
        &self,
        instance: &InstanceRef,
    ) -> Result<RawInstance, ClientError> {
        const OPERATION: &str = "get_app_instance";
        let url = self.app_instance_url(OPERATION, instance, &[])?;
        let body = self.buffered(Call::get(OPERATION, url)).await?;
        parse_instance(OPERATION, body)
    }

    /// `PUT {apps}{org}/{app}/instances/{partyId}/{guid}/process/next` with `{}`: ends the
    /// current task and moves the process to the next element (app-lib's
    /// `ProcessController.NextElement`). Returns the new process state.
    ///
    /// **Sent once, never retried here.** The call is not idempotent: if an answer is lost after
    /// the app moved the process, a second call would end whatever task comes next (app-lib
    /// checks only that the caller may `write` in the current task). A failure goes back to the
    /// caller, which must look at the instance again before deciding to call it once more.
    /// A 401 is still answered by one retry with a fresh token (nothing was done).
    ///
    /// Answers: 409 when the process has ended ("Process is ended."), has not started, or the
    /// task's validation fails; 403 when the app's policy gives us no `write` in the task.
    pub async fn process_next(&self, instance: &InstanceRef) -> Result<ProcessState, ClientError> {
        const OPERATION: &str = "process_next";
        let url = self.app_instance_url(OPERATION, instance, &["process", "next"])?;
        let call = Call {
            operation: OPERATION,
            method: Method::PUT,
            url,
            payload: Payload::Json(b"{}".to_vec()),
            once: true,
        };
        let body = self.buffered(call).await?;
        parse_json(OPERATION, &body)
    }

    /// `PUT {apps}{org}/{app}/instances/{partyId}/{guid}/substatus` with `{label, description?}`
    /// (app-lib's `InstancesController.UpdateSubstatus`). Idempotent: the same body sets the
    /// same substatus. Allowed after the process has ended; Altinn checks only that the token's
    /// org is the instance's org. Returns the instance as Storage has it afterwards.
    pub async fn update_substatus(
        &self,
        instance: &InstanceRef,
        label: &str,
        description: Option<&str>,
    ) -> Result<RawInstance, ClientError> {
        const OPERATION: &str = "update_substatus";
        let url = self.app_instance_url(OPERATION, instance, &["substatus"])?;
        let mut body = serde_json::json!({ "label": label });
        if let Some(description) = description {
            body["description"] = description.into();
        }
        // Serializing two strings cannot fail.
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let call = Call {
            operation: OPERATION,
            method: Method::PUT,
            url,
            payload: Payload::Json(json),
            once: false,
        };
        let body = self.buffered(call).await?;
        parse_instance(OPERATION, body)
    }

    /// `{apps}{org}/{app}/instances/{partyId}/{guid}` + `more`, for our org only.
    fn app_instance_url(
        &self,
        operation: &'static str,
        instance: &InstanceRef,
        more: &[&str],
    ) -> Result<Url, ClientError> {
        let org = plain_name(operation, &instance.org)?;
        let app = plain_name(operation, &instance.app)?;
        // The org picks the apps host; with a pinned org, no other org's app gets our token,
        // whatever the environment's host pattern (`local` has one apps URL for all orgs).
        if self
            .allowlist
            .pinned_org()
            .is_some_and(|pinned| pinned != org)
        {
            return Err(ClientError::NotAllowed { operation });
        }
        let mut url = self.allowlist.environment().apps_url(org);
        let party_id = instance.party_id.to_string();
        let guid = instance.instance_guid.to_string();
        let mut segments = vec![org, app, "instances", party_id.as_str(), guid.as_str()];
        segments.extend_from_slice(more);
        extend_path(operation, &mut url, &segments)?;
        Ok(url)
    }
}
