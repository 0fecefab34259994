//! The simulator's shared state: seeded instances, issued tokens, subscriptions, fault rules and
//! the request log. One mutex guards it; it is never held across an `.await`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::task::AbortHandle;
use url::Url;
use uuid::Uuid;

use crate::config::SimConfig;
use crate::correspondence::CorrespondenceStore;
use crate::events::Subscription;
use crate::faults::{Fault, FaultRule, Route};
use crate::jwt::Keys;
use crate::platform::DataTypeSpec;
use crate::seed::StoredInstance;

/// One request as it reached the simulator.
#[derive(Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// Path, without the query.
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// The `Host` header.
    pub host: Option<String>,
    /// The full `Authorization` header value, so tests can assert which token reached which
    /// route. It is left out of the `Debug` output.
    pub authorization: Option<String>,
    /// The `Accept` header.
    pub accept: Option<String>,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The `Ocp-Apim-Subscription-Key` header (Altinn's API gateway key), so tests can assert
    /// which calls carried it. It is left out of the `Debug` output.
    pub subscription_key: Option<String>,
    /// The simulated route (`None` for paths the simulator does not serve).
    pub route: Option<Route>,
    /// The status answered; `0` while the request is in flight and when an injected fault
    /// dropped the connection without a response.
    pub status: u16,
}

impl std::fmt::Debug for RequestRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestRecord")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("host", &self.host)
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .field("accept", &self.accept)
            .field("content_type", &self.content_type)
            .field(
                "subscription_key",
                &self.subscription_key.as_ref().map(|_| "<redacted>"),
            )
            .field("route", &self.route)
            .field("status", &self.status)
            .finish()
    }
}

impl RequestRecord {
    /// The bearer token of the `Authorization` header, if any.
    pub fn bearer_token(&self) -> Option<&str> {
        crate::jwt::bearer_token(self.authorization.as_deref())
    }
}

/// One attempt to push an event (or a subscription's validation event) to a webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// The subscription pushed to.
    pub subscription_id: i64,
    /// The CloudEvent's `id`.
    pub event_id: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// The webhook's status; `None` when the request failed (connection error, timeout).
    pub status: Option<u16>,
    /// `true` for the `platform.events.validatesubscription` event.
    pub validation: bool,
    /// When the attempt was made (to check the retry schedule).
    pub sent_at: Instant,
}

/// An event (or validation event) that exhausted its retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The subscription it was for.
    pub subscription_id: i64,
    /// The CloudEvent's `id`.
    pub event_id: String,
    /// `true` for a validation event (the subscription stays unvalidated).
    pub validation: bool,
}

pub(crate) struct Inner {
    pub next_seq: u64,
    pub instances: HashMap<Uuid, StoredInstance>,
    /// `jti`s of Maskinporten grants already used (MP-012).
    pub used_grant_jtis: HashSet<String>,
    /// `jti`s of Altinn tokens issued and not revoked.
    pub issued_altinn_jtis: HashSet<String>,
    /// `jti`s of revoked Altinn tokens.
    pub revoked_altinn_jtis: HashSet<String>,
    pub subscriptions: BTreeMap<i64, Subscription>,
    pub next_subscription_id: i64,
    pub deliveries: Vec<DeliveryRecord>,
    pub dead_letters: Vec<DeadLetter>,
    /// Fault rules in insertion order; `times` counts down as they fire.
    pub faults: Vec<FaultRule>,
    pub requests: Vec<RequestRecord>,
    /// The data types of each known app (`{org}/{app}`): apps get the defaults when first
    /// seeded, and tests declare more.
    pub apps: HashMap<String, Vec<DataTypeSpec>>,
    /// Correspondences, their attachments and notification orders, and the events pushed.
    pub correspondence: CorrespondenceStore,
}

/// Everything handlers and background tasks share.
pub(crate) struct Shared {
    pub config: SimConfig,
    pub base_url: Url,
    pub keys: Keys,
    pub push_client: reqwest::Client,
    pub runtime: tokio::runtime::Handle,
    inner: Mutex<Inner>,
    background: Mutex<Vec<AbortHandle>>,
}

impl Shared {
    pub(crate) fn new(
        config: SimConfig,
        base_url: Url,
        keys: Keys,
        push_client: reqwest::Client,
        runtime: tokio::runtime::Handle,
    ) -> Arc<Shared> {
        Arc::new(Shared {
            config,
            base_url,
            keys,
            push_client,
            runtime,
            inner: Mutex::new(Inner {
                next_seq: 1,
                instances: HashMap::new(),
                used_grant_jtis: HashSet::new(),
                issued_altinn_jtis: HashSet::new(),
                revoked_altinn_jtis: HashSet::new(),
                subscriptions: BTreeMap::new(),
                next_subscription_id: 1,
                deliveries: Vec::new(),
                dead_letters: Vec::new(),
                faults: Vec::new(),
                requests: Vec::new(),
                apps: HashMap::new(),
                correspondence: CorrespondenceStore::default(),
            }),
            background: Mutex::new(Vec::new()),
        })
    }

    /// The state; a panic in another thread while holding the lock does not make it unusable
    /// (tests that fail should not cascade into every other test).
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `{base}maskinporten/`
    pub(crate) fn maskinporten_issuer(&self) -> String {
        format!("{}maskinporten/", self.base_url)
    }

    /// `{base}authentication/api/v1/openid/`
    pub(crate) fn altinn_issuer(&self) -> String {
        format!("{}authentication/api/v1/openid/", self.base_url)
    }

    /// Runs a background task (event pushes) that [`Shared::abort_background`] can stop.
    pub(crate) fn spawn_background<F>(&self, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let handle = self.runtime.spawn(task);
        let mut background = self.background.lock().unwrap_or_else(|p| p.into_inner());
        background.retain(|h| !h.is_finished());
        background.push(handle.abort_handle());
    }

    pub(crate) fn abort_background(&self) {
        let mut background = self.background.lock().unwrap_or_else(|p| p.into_inner());
        for handle in background.drain(..) {
            handle.abort();
        }
    }

    /// Records the arrival of a request; returns its index for [`Shared::set_status`].
    pub(crate) fn record_request(&self, record: RequestRecord) -> usize {
        let mut inner = self.lock();
        inner.requests.push(record);
        inner.requests.len() - 1
    }

    pub(crate) fn set_status(&self, index: usize, status: u16) {
        if let Some(record) = self.lock().requests.get_mut(index) {
            record.status = status;
        }
    }

    /// The fault to apply to a request, if a rule fires (counting it down).
    pub(crate) fn take_fault(&self, route: Option<Route>, instance: Option<Uuid>) -> Option<Fault> {
        let mut inner = self.lock();
        for rule in &mut inner.faults {
            if !rule.matches(route, instance) {
                continue;
            }
            if rule.probability < 1.0 && fastrand::f64() >= rule.probability {
                continue;
            }
            if let Some(times) = rule.times.as_mut() {
                *times -= 1;
            }
            return Some(rule.fault.clone());
        }
        None
    }
}
