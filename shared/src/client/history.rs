//! Storage's record around an instance: its instance events, its process history, and its app's
//! metadata ([Altinn Storage](https://github.com/Altinn/altinn-storage)
//! `InstanceEventsController`, `ProcessController.GetProcessHistory`,
//! `ApplicationsController.GetOne`).
//!
//! Each answer is returned as the bytes Storage sent, for archiving as they are; the client only
//! checks that the body has the shape Storage documents, so an error page or another resource
//! is never archived in its place.

use bytes::Bytes;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::transport::{Call, parse_json, plain_name};
use super::{AltinnClient, ClientError};
use crate::event::InstanceRef;

/// `{"instanceEvents": [...]}`: only the array is required; the events themselves are kept raw.
/// The fields of these shapes are parsed to check the body, never read.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InstanceEventList {
    #[allow(dead_code)]
    instance_events: Vec<IgnoredAny>,
}

/// `{"processHistory": [...]}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProcessHistoryList {
    #[allow(dead_code)]
    process_history: Vec<IgnoredAny>,
}

/// The part of `Application` that says which app it describes.
#[derive(Deserialize)]
struct ApplicationId {
    id: String,
}

impl AltinnClient {
    /// `GET {platform}storage/api/v1/instances/{partyId}/{guid}/events` with no filter: every
    /// instance event Storage has for the instance, as Storage sent them.
    pub async fn get_instance_events(&self, instance: &InstanceRef) -> Result<Bytes, ClientError> {
        const OPERATION: &str = "get_instance_events";
        let url = self.storage_instance_url(OPERATION, instance, &["events"])?;
        let body = self.buffered(Call::get(OPERATION, url)).await?;
        parse_json::<InstanceEventList>(OPERATION, &body)?;
        Ok(body)
    }

    /// `GET {platform}storage/api/v1/instances/{partyId}/{guid}/process/history`: the process
    /// history Storage builds from the `process_*` instance events, as Storage sent it.
    pub async fn get_process_history(&self, instance: &InstanceRef) -> Result<Bytes, ClientError> {
        const OPERATION: &str = "get_process_history";
        let url = self.storage_instance_url(OPERATION, instance, &["process", "history"])?;
        let body = self.buffered(Call::get(OPERATION, url)).await?;
        parse_json::<ProcessHistoryList>(OPERATION, &body)?;
        Ok(body)
    }

    /// `GET {platform}storage/api/v1/applications/{org}/{app}`: the app's metadata (data types,
    /// process id, version), as Storage sent it. Storage serves it anonymously; the call goes
    /// with our token like every Storage call, which it ignores. An answer describing another
    /// app is refused.
    pub async fn get_application(&self, org: &str, app: &str) -> Result<Bytes, ClientError> {
        const OPERATION: &str = "get_application";
        let org = plain_name(OPERATION, org)?;
        let app = plain_name(OPERATION, app)?;
        let url = self.platform_url(
            OPERATION,
            &["storage", "api", "v1", "applications", org, app],
        )?;
        let body = self.buffered(Call::get(OPERATION, url)).await?;
        check_application(OPERATION, &body, org, app)?;
        Ok(body)
    }
}

/// `body` must be an `Application` whose `id` is `{org}/{app}`.
fn check_application(
    operation: &'static str,
    body: &[u8],
    org: &str,
    app: &str,
) -> Result<(), ClientError> {
    let described = parse_json::<ApplicationId>(operation, body)?;
    if described.id != format!("{org}/{app}") {
        return Err(ClientError::Decode {
            operation,
            reason: "the metadata describes another app".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_of_another_shape_are_refused() {
        let events = |body: &[u8]| parse_json::<InstanceEventList>("get_instance_events", body);
        assert!(events(br#"{"instanceEvents":[{"id":"x","eventType":"Created"}]}"#).is_ok());
        assert!(events(br#"{"instanceEvents":[]}"#).is_ok());
        for wrong in [
            &br#"{}"#[..],
            br#"[]"#,
            br#"{"instanceEvents":null}"#,
            b"<html>",
        ] {
            assert!(events(wrong).is_err(), "{}", String::from_utf8_lossy(wrong));
        }
        let history = |body: &[u8]| parse_json::<ProcessHistoryList>("get_process_history", body);
        assert!(history(br#"{"processHistory":[]}"#).is_ok());
        assert!(history(br#"{"instanceEvents":[]}"#).is_err());

        let app = |body: &[u8]| check_application("get_application", body, "ttd", "my-app");
        assert!(app(br#"{"id":"ttd/my-app","org":"ttd"}"#).is_ok());
        let other = app(br#"{"id":"ttd/other-app"}"#).unwrap_err();
        assert!(other.to_string().contains("another app"), "{other}");
        assert!(!other.is_transient());
        assert!(app(br#"{"org":"ttd"}"#).is_err());
    }
}
