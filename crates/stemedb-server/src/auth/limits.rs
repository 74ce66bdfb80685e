//! Request rates: one GCRA limiter (governor) per API key at that key's rate, and one shared
//! limiter for requests without a key on open routes. A refusal carries the wait.
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use super::AuthConfig;
use crate::ApiError;

pub struct Limits {
    per_key: Mutex<HashMap<String, (u32, Arc<DefaultDirectRateLimiter>)>>,
    open: Option<(u32, DefaultDirectRateLimiter)>,
    clock: DefaultClock,
}

fn limiter(rate_per_sec: u32) -> Option<DefaultDirectRateLimiter> {
    NonZeroU32::new(rate_per_sec).map(|rate| RateLimiter::direct(Quota::per_second(rate)))
}

impl Limits {
    pub fn new(config: &AuthConfig) -> Limits {
        Limits {
            per_key: Mutex::new(HashMap::new()),
            open: limiter(config.open_rate_per_sec).map(|l| (config.open_rate_per_sec, l)),
            clock: DefaultClock::default(),
        }
    }

    fn verdict(&self, limiter: &DefaultDirectRateLimiter, rate: u32) -> Result<(), ApiError> {
        limiter.check().map_err(|not_until| {
            metrics::counter!("stemedb_rate_limit_rejections_total").increment(1);
            let wait = not_until.wait_time_from(self.clock.now());
            ApiError::RateLimited {
                limit_per_sec: rate,
                retry_after_ms: wait.as_millis() as u64,
            }
        })
    }

    pub fn check_open(&self) -> Result<(), ApiError> {
        match &self.open {
            Some((rate, limiter)) => self.verdict(limiter, *rate),
            None => Ok(()),
        }
    }

    /// Checks one request of a key held to `rate_per_sec` (0: unlimited). A changed rate
    /// starts a fresh limiter.
    pub fn check_key(&self, key_id: &str, rate_per_sec: u32) -> Result<(), ApiError> {
        if rate_per_sec == 0 {
            return Ok(());
        }
        let limiter = {
            let mut map = self
                .per_key
                .lock()
                .map_err(|_| ApiError::Internal("rate limiter lock poisoned".into()))?;
            let entry = map.entry(key_id.to_owned()).or_insert_with(|| {
                (
                    0,
                    Arc::new(RateLimiter::direct(Quota::per_second(NonZeroU32::MIN))),
                )
            });
            if entry.0 != rate_per_sec
                && let Some(fresh) = limiter(rate_per_sec)
            {
                *entry = (rate_per_sec, Arc::new(fresh));
            }
            Arc::clone(&entry.1)
        };
        self.verdict(&limiter, rate_per_sec)
    }
}
