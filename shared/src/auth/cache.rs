//! The Altinn token cache: refreshed a minute before expiry, one refresh at a time.
//!
//! Readers take a shared lock and return the cached token while it is fresh. A caller that finds
//! it stale queues on the refresh mutex and checks again once inside (double-checked), so a burst
//! of callers causes one grant and one exchange. Callers that queued while a refresh *failed*
//! get that failure too instead of each trying again, so an outage costs one round trip per
//! burst, not one per caller.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use tokio::sync::{Mutex, RwLock};

use super::{AltinnToken, AuthError};

/// Refresh this long before the token's `exp`, so a token handed out is still valid for the
/// request that uses it (and for clock skew between us and Altinn).
pub(super) const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// Tokens living less than this are refreshed at half-life instead: a one-minute margin would
/// leave little or nothing of them (only test set-ups issue such tokens).
pub(super) const SHORT_LIFETIME: Duration = Duration::from_secs(120);

/// When a token received at `received_at` and expiring at `expires_at` should be replaced.
pub(super) fn refresh_time(received_at: SystemTime, expires_at: SystemTime) -> SystemTime {
    let lifetime = expires_at
        .duration_since(received_at)
        .unwrap_or(Duration::ZERO);
    if lifetime >= SHORT_LIFETIME {
        expires_at - REFRESH_MARGIN
    } else {
        received_at + lifetime / 2
    }
}

struct Cached {
    token: AltinnToken,
    refresh_at: SystemTime,
}

/// The outcome of the latest refresh, read by callers that waited for it.
#[derive(Default)]
struct RefreshState {
    last_error: Option<AuthError>,
}

/// The cache and its single-flight refresh.
#[derive(Default)]
pub(super) struct TokenCache {
    cached: RwLock<Option<Cached>>,
    refresh: Mutex<RefreshState>,
    /// Refresh attempts finished so far (changed only while holding `refresh`).
    finished_refreshes: AtomicU64,
}

impl TokenCache {
    /// The cached token when it is still fresh.
    async fn fresh(&self, now: SystemTime) -> Option<AltinnToken> {
        let cached = self.cached.read().await;
        cached
            .as_ref()
            .filter(|c| now < c.refresh_at)
            .map(|c| c.token.clone())
    }

    /// A fresh token from the cache, or from `fetch` run by exactly one of the concurrent callers.
    pub(super) async fn get_or_refresh<F, Fut>(&self, fetch: F) -> Result<AltinnToken, AuthError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<AltinnToken, AuthError>>,
    {
        if let Some(token) = self.fresh(SystemTime::now()).await {
            return Ok(token);
        }
        let finished_before_waiting = self.finished_refreshes.load(Ordering::Acquire);
        let mut state = self.refresh.lock().await;
        if let Some(token) = self.fresh(SystemTime::now()).await {
            return Ok(token);
        }
        if self.finished_refreshes.load(Ordering::Acquire) != finished_before_waiting
            && let Some(error) = &state.last_error
        {
            // A refresh ran and failed while we waited: share its outcome.
            return Err(error.clone());
        }
        let result = fetch().await;
        match &result {
            Ok(token) => {
                let refresh_at = refresh_time(SystemTime::now(), token.expires_at);
                *self.cached.write().await = Some(Cached {
                    token: token.clone(),
                    refresh_at,
                });
                state.last_error = None;
            }
            Err(error) => state.last_error = Some(error.clone()),
        }
        self.finished_refreshes.fetch_add(1, Ordering::Release);
        result
    }

    /// Drops the cached token.
    pub(super) async fn clear(&self) {
        *self.cached.write().await = None;
    }

    /// Drops the cached token only if it is `rejected`: when many requests see the same 401,
    /// the first one's refresh is kept instead of each caller throwing away the new token.
    pub(super) async fn clear_if(&self, rejected: &AltinnToken) {
        let mut cached = self.cached.write().await;
        if cached
            .as_ref()
            .is_some_and(|c| c.token.value == rejected.value)
        {
            *cached = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::secret::Secret;

    fn token(name: &str, lifetime: Duration) -> AltinnToken {
        AltinnToken {
            value: Secret::new(name),
            expires_at: SystemTime::now() + lifetime,
        }
    }

    #[test]
    fn refresh_a_minute_early_or_at_half_life() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let thirty_min = t0 + Duration::from_secs(1800);
        assert_eq!(
            refresh_time(t0, thirty_min),
            thirty_min - Duration::from_secs(60)
        );
        let two_min = t0 + Duration::from_secs(120);
        assert_eq!(refresh_time(t0, two_min), t0 + Duration::from_secs(60));
        let ten_s = t0 + Duration::from_secs(10);
        assert_eq!(refresh_time(t0, ten_s), t0 + Duration::from_secs(5));
        // Already expired (clock skew): refresh on the next call.
        assert_eq!(refresh_time(t0, t0 - Duration::from_secs(5)), t0);
    }

    #[tokio::test]
    async fn fresh_tokens_are_reused_and_clear_forces_a_refresh() {
        let cache = TokenCache::default();
        let fetches = AtomicUsize::new(0);
        let fetch = || async {
            let n = fetches.fetch_add(1, Ordering::SeqCst);
            Ok(token(&format!("t{n}"), Duration::from_secs(1800)))
        };
        let first = cache.get_or_refresh(fetch).await.unwrap();
        let second = cache.get_or_refresh(fetch).await.unwrap();
        assert_eq!(first.value, second.value);
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        cache.clear().await;
        let third = cache.get_or_refresh(fetch).await.unwrap();
        assert_eq!(third.value.expose(), "t1");
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn clear_if_only_drops_the_rejected_token() {
        let cache = TokenCache::default();
        let fetches = AtomicUsize::new(0);
        let fetch = || async {
            let n = fetches.fetch_add(1, Ordering::SeqCst);
            Ok(token(&format!("t{n}"), Duration::from_secs(1800)))
        };
        let old = cache.get_or_refresh(fetch).await.unwrap();
        cache.clear_if(&old).await;
        let new = cache.get_or_refresh(fetch).await.unwrap();
        assert_ne!(old.value, new.value);
        // A late 401 for the old token must not throw away the new one.
        cache.clear_if(&old).await;
        let again = cache.get_or_refresh(fetch).await.unwrap();
        assert_eq!(again.value, new.value);
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn short_lived_tokens_are_refreshed() {
        let cache = TokenCache::default();
        let fetches = AtomicUsize::new(0);
        let fetch = || async {
            let n = fetches.fetch_add(1, Ordering::SeqCst);
            Ok(token(&format!("t{n}"), Duration::from_millis(400)))
        };
        let first = cache.get_or_refresh(fetch).await.unwrap();
        assert_eq!(
            cache.get_or_refresh(fetch).await.unwrap().value,
            first.value
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        let later = cache.get_or_refresh(fetch).await.unwrap();
        assert_ne!(later.value, first.value);
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_share_one_refresh_and_its_failure() {
        let cache = Arc::new(TokenCache::default());
        let fetches = Arc::new(AtomicUsize::new(0));
        let calls = (0..50).map(|_| {
            let cache = cache.clone();
            let fetches = fetches.clone();
            tokio::spawn(async move {
                cache
                    .get_or_refresh(|| async {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        Err::<AltinnToken, _>(AuthError::Transport {
                            service: "Maskinporten",
                            reason: "connection refused".into(),
                        })
                    })
                    .await
            })
        });
        let results: Vec<_> = futures_util::future::join_all(calls).await;
        assert!(results.into_iter().all(|r| r.unwrap().is_err()));
        // Callers that arrived while the first refresh was running shared its failure; a
        // straggler that arrived after it finished may have tried once more.
        assert!(
            fetches.load(Ordering::SeqCst) <= 2,
            "{}",
            fetches.load(Ordering::SeqCst)
        );

        let calls = (0..50).map(|_| {
            let cache = cache.clone();
            let fetches = fetches.clone();
            tokio::spawn(async move {
                cache
                    .get_or_refresh(|| async {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        Ok(token("fresh", Duration::from_secs(1800)))
                    })
                    .await
            })
        });
        let before = fetches.load(Ordering::SeqCst);
        let results: Vec<_> = futures_util::future::join_all(calls).await;
        assert!(
            results
                .into_iter()
                .all(|r| r.unwrap().unwrap().value.expose() == "fresh")
        );
        assert_eq!(fetches.load(Ordering::SeqCst) - before, 1);
    }
}
