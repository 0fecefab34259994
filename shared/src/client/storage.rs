//! The Storage API: an instance, a data element's bytes (streamed), `complete`, and the query
//! for completed instances ([Altinn Storage](https://github.com/Altinn/altinn-storage)).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use reqwest::Method;
use url::Url;

use super::transport::{Call, Payload, parse_instance, parse_json, plain_name};
use super::{AltinnClient, ClientError, DataStream};
use crate::auth::{ScopeSet, describe_transport_error};
use crate::event::InstanceRef;
use crate::instance::{InstanceQueryPage, RawInstance};

/// Which instances a Storage query asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceFilter {
    /// Process ended and not confirmed complete by our org: waiting for us to archive them.
    CompletedNotConfirmed,
    /// Waiting at this process task (e.g. our feedback task).
    AtTask(String),
}

impl AltinnClient {
    /// `GET {platform}storage/api/v1/instances/{partyId}/{guid}` (Storage dialect), raw bytes kept.
    pub async fn get_instance(&self, instance: &InstanceRef) -> Result<RawInstance, ClientError> {
        const OPERATION: &str = "get_instance";
        let url = self.storage_instance_url(OPERATION, instance, &[])?;
        let body = self.buffered(Call::get(OPERATION, url)).await?;
        parse_instance(OPERATION, body)
    }

    /// `GET {platform}storage/api/v1/instances/{partyId}/{guid}/data/{dataId}` as a stream.
    /// Retries apply to getting the response head; a body cut short is reported to the caller.
    ///
    /// Storage returns the stored blob verbatim (the App API re-serializes form data), which
    /// is why archiving downloads from Storage. The body stream ends with a
    /// [`ClientError::Transport`] when the connection fails, stalls longer than the request
    /// timeout between chunks, or ends before `Content-Length` bytes.
    pub async fn download_data(
        &self,
        instance: &InstanceRef,
        data_id: &str,
    ) -> Result<DataStream, ClientError> {
        const OPERATION: &str = "download_data";
        let data_id = uuid::Uuid::parse_str(data_id).map_err(|_| ClientError::InvalidInput {
            operation: OPERATION,
            reason: "the data element id is not a GUID".into(),
        })?;
        let url =
            self.storage_instance_url(OPERATION, instance, &["data", &data_id.to_string()])?;
        self.streamed_as(OPERATION, Call::get(OPERATION, url), ScopeSet::Instances)
            .await
    }

    /// `POST {platform}storage/api/v1/instances/{partyId}/{guid}/complete`; idempotent per org.
    pub async fn complete(&self, instance: &InstanceRef) -> Result<RawInstance, ClientError> {
        const OPERATION: &str = "complete";
        let url = self.storage_instance_url(OPERATION, instance, &["complete"])?;
        let call = Call {
            operation: OPERATION,
            method: Method::POST,
            url,
            payload: Payload::Empty,
            once: false,
        };
        let body = self.buffered(call).await?;
        parse_instance(OPERATION, body)
    }

    /// One page of `GET storage/api/v1/instances?org=&appId=&process.isComplete=true&excludeConfirmedBy={org}&size=`;
    /// pass the previous page's `next` to continue (only an allowlisted `next` is followed).
    pub async fn query_completed_instances(
        &self,
        org: &str,
        app: &str,
        page_size: u32,
        next: Option<&str>,
    ) -> Result<InstanceQueryPage, ClientError> {
        self.query_instances(
            org,
            app,
            &InstanceFilter::CompletedNotConfirmed,
            page_size,
            next,
        )
        .await
    }

    /// One page of the service owner's Storage query for `org/app` instances matching `filter`.
    ///
    /// `next` may be the page's `next` URL (followed as is when [`Allowlist::permits`] it and it
    /// is the Storage instance query; otherwise [`ClientError::NotAllowed`] and nothing is sent)
    /// or a bare `continuationToken`, which is added to a query built from the other arguments.
    ///
    /// [`Allowlist::permits`]: crate::Allowlist::permits
    pub async fn query_instances(
        &self,
        org: &str,
        app: &str,
        filter: &InstanceFilter,
        page_size: u32,
        next: Option<&str>,
    ) -> Result<InstanceQueryPage, ClientError> {
        const OPERATION: &str = "query_instances";
        let org = plain_name(OPERATION, org)?;
        let app = plain_name(OPERATION, app)?;
        let mut query_url = self.platform_url(OPERATION, &["storage", "api", "v1", "instances"])?;
        let url = match next.map(str::trim) {
            Some(next) if next.starts_with("https://") || next.starts_with("http://") => {
                let next_url = Url::parse(next).map_err(|_| ClientError::Decode {
                    operation: OPERATION,
                    reason: "the next link is not a URL".into(),
                })?;
                // The same host checks as every call, plus: it must be the same query.
                if !self.allowlist.permits(&next_url) || next_url.path() != query_url.path() {
                    return Err(ClientError::NotAllowed {
                        operation: OPERATION,
                    });
                }
                next_url
            }
            continuation => {
                {
                    let mut pairs = query_url.query_pairs_mut();
                    pairs
                        .append_pair("org", org)
                        .append_pair("appId", &format!("{org}/{app}"));
                    match filter {
                        InstanceFilter::CompletedNotConfirmed => pairs
                            .append_pair("process.isComplete", "true")
                            .append_pair("excludeConfirmedBy", org),
                        InstanceFilter::AtTask(task) => {
                            pairs.append_pair("process.currentTask", task)
                        }
                    };
                    pairs.append_pair("size", &page_size.max(1).to_string());
                    if let Some(token) = continuation.filter(|t| !t.is_empty()) {
                        pairs.append_pair("continuationToken", token);
                    }
                }
                query_url
            }
        };
        let body = self.buffered(Call::get(OPERATION, url)).await?;
        parse_json(OPERATION, &body)
    }

    /// `{platform}storage/api/v1/instances/{partyId}/{guid}` + `more`.
    pub(super) fn storage_instance_url(
        &self,
        operation: &'static str,
        instance: &InstanceRef,
        more: &[&str],
    ) -> Result<Url, ClientError> {
        let party_id = instance.party_id.to_string();
        let guid = instance.instance_guid.to_string();
        let mut segments = vec!["storage", "api", "v1", "instances", &party_id, &guid];
        segments.extend_from_slice(more);
        self.platform_url(operation, &segments)
    }
}

/// The download body: reqwest errors become [`ClientError::Transport`], and a body that ends
/// before (or runs past) `Content-Length` ends with one too, so a cut connection can never pass
/// for a complete file.
pub(super) struct LengthCheckedBody {
    operation: &'static str,
    inner: Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
    expected: Option<u64>,
    received: u64,
    finished: bool,
}

impl LengthCheckedBody {
    /// The body of `response`, checked against `Content-Length` when it had one.
    pub(super) fn new(operation: &'static str, response: reqwest::Response) -> Self {
        LengthCheckedBody {
            operation,
            expected: response.content_length(),
            inner: Box::pin(response.bytes_stream()),
            received: 0,
            finished: false,
        }
    }
}

impl Stream for LengthCheckedBody {
    type Item = Result<Bytes, ClientError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.finished {
            return Poll::Ready(None);
        }
        let operation = self.operation;
        match self.inner.as_mut().poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(chunk))) => {
                self.received += chunk.len() as u64;
                if let Some(expected) = self.expected
                    && self.received > expected
                {
                    self.finished = true;
                    return Poll::Ready(Some(Err(ClientError::Transport {
                        operation,
                        reason: format!("the body is longer than its Content-Length of {expected}"),
                    })));
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(error))) => {
                self.finished = true;
                let reason = format!(
                    "the body failed after {} bytes: {}",
                    self.received,
                    describe_transport_error(&error)
                );
                Poll::Ready(Some(Err(ClientError::Transport { operation, reason })))
            }
            Poll::Ready(None) => {
                self.finished = true;
                match self.expected {
                    Some(expected) if self.received < expected => {
                        Poll::Ready(Some(Err(ClientError::Transport {
                            operation,
                            reason: format!(
                                "the body ended after {} of {expected} bytes",
                                self.received
                            ),
                        })))
                    }
                    _ => Poll::Ready(None),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;

    fn body_of(chunks: Vec<reqwest::Result<Bytes>>, expected: Option<u64>) -> LengthCheckedBody {
        LengthCheckedBody {
            operation: "download_data",
            inner: Box::pin(futures_util::stream::iter(chunks)),
            expected,
            received: 0,
            finished: false,
        }
    }

    #[tokio::test]
    async fn download_body_length_is_checked() {
        let chunks = || {
            vec![
                Ok(Bytes::from_static(b"hello ")),
                Ok(Bytes::from_static(b"world")),
            ]
        };

        let complete: Vec<_> = body_of(chunks(), Some(11)).collect().await;
        assert_eq!(complete.len(), 2);
        assert!(complete.iter().all(Result::is_ok));

        let unknown: Vec<_> = body_of(chunks(), None).collect().await;
        assert!(unknown.iter().all(Result::is_ok));

        let short: Vec<_> = body_of(chunks(), Some(20)).collect().await;
        assert_eq!(short.len(), 3);
        let error = short.last().unwrap().as_ref().unwrap_err();
        assert!(error.is_transient());
        assert!(error.to_string().contains("11 of 20"), "{error}");

        let long: Vec<_> = body_of(chunks(), Some(8)).collect().await;
        assert_eq!(long.len(), 2);
        assert!(long[1].is_err());
    }
}
