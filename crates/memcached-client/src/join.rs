//! `join_all` without an extra crate: polls a set of futures on the current task until all
//! are done, so one request's fan-out to many servers runs concurrently.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

/// Runs all futures concurrently and returns their outputs in order.
pub(crate) async fn join_all<I, F>(futures: I) -> Vec<F::Output>
where
    I: IntoIterator<Item = F>,
    F: Future,
{
    let mut pending: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
    let mut remaining = pending.len();
    std::future::poll_fn(|cx| {
        for (i, future) in pending.iter_mut().enumerate() {
            if outputs[i].is_none() {
                if let Poll::Ready(output) = future.as_mut().poll(cx) {
                    outputs[i] = Some(output);
                    remaining -= 1;
                }
            }
        }
        if remaining == 0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    outputs.into_iter().map(|o| o.expect("every future finished")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_concurrently_and_keeps_order() {
        // Each future waits until all five have reached the barrier: only a concurrent join
        // can finish (a sequential one would wait forever and hit the timeout).
        let barrier = tokio::sync::Barrier::new(5);
        let barrier = &barrier;
        let joined = join_all((0..5u64).map(|i| async move {
            barrier.wait().await;
            i
        }));
        let out = tokio::time::timeout(std::time::Duration::from_secs(10), joined).await;
        assert_eq!(out.expect("join_all ran the futures concurrently"), vec![0, 1, 2, 3, 4]);
    }
}
