//! What keeps one server standing under many students: a bearer token, a rate per client,
//! a bound on model work in flight, and one turn at a time per session.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, Weak};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use tokio::sync::{OwnedMutexGuard, OwnedSemaphorePermit, Semaphore};

use crate::{ApiError, AppState};

/// Seconds a refused client is told to wait when the server is full: about one tutor turn
/// of the default model on a laptop.
const FULL_RETRY_AFTER: u64 = 2;

/// A bound on model-running requests in flight. Acquiring never waits: a full server
/// answers `429` at once, so memory and latency stay bounded whatever arrives.
#[derive(Clone)]
pub struct Admission(Arc<Semaphore>);

impl Admission {
    pub fn new(max_in_flight: usize) -> Self {
        Self(Arc::new(Semaphore::new(max_in_flight)))
    }

    /// A permit held for the whole of one request's model work.
    pub fn admit(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.0.clone().try_acquire_owned().map_err(|_| ApiError::TooMany {
            why: "the server is at its limit of requests in flight".into(),
            retry_after: FULL_RETRY_AFTER,
        })
    }
}

/// One lock per session, so two messages to the same session are answered one after the
/// other, each seeing the other's turn (without it, both would load the same state and the
/// second save would drop the first turn).
#[derive(Clone, Default)]
pub struct SessionLocks(Arc<Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>>);

impl SessionLocks {
    pub async fn lock(&self, id: &str) -> OwnedMutexGuard<()> {
        let lock = {
            let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
            // Locks nobody holds are dropped, so the map stays as small as the sessions
            // being worked on right now.
            if map.len() > 256 {
                map.retain(|_, weak| weak.strong_count() > 0);
            }
            match map.get(id).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    let lock = Arc::new(tokio::sync::Mutex::new(()));
                    map.insert(id.to_string(), Arc::downgrade(&lock));
                    lock
                }
            }
        };
        lock.lock_owned().await
    }
}

/// Requests per minute per client address.
pub struct RateLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(per_minute.max(1)).expect("at least 1"));
        Self { limiter: DefaultKeyedRateLimiter::keyed(quota) }
    }

    fn check(&self, client: IpAddr) -> Result<(), ApiError> {
        if self.limiter.len() > 10_000 {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(&client).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::TooMany {
                why: format!("more than the allowed requests per minute from {client}"),
                retry_after: wait.as_secs() + 1,
            }
        })
    }
}

/// The API's gate: the bearer token (when one is configured), then the client's rate.
pub async fn guard(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if let Some(token) = state.config.token.as_deref() {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| same_secret(g.trim(), token)) {
            return Err(ApiError::Unauthorized);
        }
    }
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    state.limiter.check(client)?;
    Ok(next.run(request).await)
}

/// Compares in time that does not depend on where the strings differ.
fn same_secret(given: &str, expected: &str) -> bool {
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_exactly() {
        assert!(same_secret("s3cret", "s3cret"));
        assert!(!same_secret("s3cret", "s3cres"));
        assert!(!same_secret("s3cre", "s3cret"));
        assert!(!same_secret("", "s3cret"));
    }

    #[test]
    fn admission_refuses_beyond_its_bound_and_frees_on_drop() {
        let admission = Admission::new(2);
        let a = admission.admit().unwrap();
        let _b = admission.admit().unwrap();
        assert!(matches!(admission.admit(), Err(ApiError::TooMany { retry_after: 2, .. })));
        drop(a);
        assert!(admission.admit().is_ok());
    }

    #[test]
    fn rate_limit_counts_per_client() {
        let limiter = RateLimiter::new(3);
        let (a, b) = (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
        for _ in 0..3 {
            limiter.check(a).unwrap();
        }
        match limiter.check(a) {
            Err(ApiError::TooMany { retry_after, .. }) => assert!((1..=21).contains(&retry_after)),
            other => panic!("expected 429, got {other:?}"),
        }
        limiter.check(b).unwrap();
    }

    #[tokio::test]
    async fn a_session_lock_serializes_and_is_forgotten_when_free() {
        let locks = SessionLocks::default();
        let guard = locks.lock("s1").await;
        let other = locks.clone();
        let waiter = tokio::spawn(async move { other.lock("s1").await });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "a second turn must wait for the first");
        drop(guard);
        drop(waiter.await.unwrap());
        let map = locks.0.lock().unwrap();
        assert!(map.values().all(|w| w.strong_count() == 0));
    }
}
