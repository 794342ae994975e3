//! Retrying requests the coordinator refused because it was saturated. Such a refusal
//! (RESOURCE_EXHAUSTED with a RetryInfo detail) means nothing was applied, so sending the
//! same request again is safe even without an idempotency key. Other errors, and
//! RESOURCE_EXHAUSTED without the hint (a request too large, say), are returned at once.
use std::future::Future;
use std::time::Duration;
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// Tries before giving up and returning the refusal.
const MAX_TRIES: u32 = 8;
/// The longest wait between two tries, whatever the hint says.
const MAX_WAIT: Duration = Duration::from_secs(2);

/// How long the coordinator asked us to wait, if this is a saturation refusal.
pub fn retry_hint(status: &Status) -> Option<Duration> {
    if status.code() != Code::ResourceExhausted {
        return None;
    }
    status.get_details_retry_info()?.retry_delay
}

/// Runs `call` until it succeeds, fails otherwise than by saturation, or has been refused
/// `MAX_TRIES` times; waits as hinted, doubling each time, at most `MAX_WAIT`.
pub async fn when_saturated<T, Fut>(mut call: impl FnMut() -> Fut) -> Result<T, Status>
where
    Fut: Future<Output = Result<T, Status>>,
{
    let mut tries = 0;
    loop {
        let status = match call().await {
            Ok(answer) => return Ok(answer),
            Err(status) => status,
        };
        tries += 1;
        let Some(hint) = retry_hint(&status) else { return Err(status) };
        if tries >= MAX_TRIES {
            return Err(status);
        }
        let wait = hint.saturating_mul(1 << (tries - 1).min(5)).min(MAX_WAIT);
        tracing::debug!(tries, wait_ms = wait.as_millis() as u64, "coordinator saturated; retrying");
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use tonic_types::ErrorDetails;

    fn saturated() -> Status {
        Status::with_error_details(
            Code::ResourceExhausted,
            "saturated",
            ErrorDetails::with_retry_info(Some(Duration::from_millis(1))),
        )
    }

    #[tokio::test]
    async fn saturation_is_retried_until_it_passes_and_other_errors_are_not() {
        let calls = AtomicU32::new(0);
        let answer = when_saturated(|| async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0..=2 => Err(saturated()),
                n => Ok(n),
            }
        })
        .await;
        assert_eq!(answer.unwrap(), 3, "three refusals, then the answer");

        let calls = AtomicU32::new(0);
        let err = when_saturated(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(Status::resource_exhausted("message too large"))
        })
        .await
        .unwrap_err();
        assert_eq!((err.code(), calls.load(Ordering::SeqCst)), (Code::ResourceExhausted, 1), "no hint: no retry");

        let calls = AtomicU32::new(0);
        let err = when_saturated(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(saturated())
        })
        .await
        .unwrap_err();
        assert_eq!((err.code(), calls.load(Ordering::SeqCst)), (Code::ResourceExhausted, MAX_TRIES), "bounded");
    }
}
