//! Waiting for the first of three things (a change, a timer, an interrupt) without an
//! executor crate: each is a future, polled in turn with the same waker.
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::task::Poll;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Woken {
    Changed,
    Timer,
    Aborted,
}

/// Resolves with whichever future is ready first. `aborted` is borrowed because it outlives
/// one wait: it is polled again by the next one, and never after it was ready (the caller stops
/// waiting then).
pub(crate) async fn first<A: Future<Output = ()> + ?Sized>(
    changed: impl Future<Output = ()>,
    timer: impl Future<Output = ()>,
    mut aborted: Pin<&mut A>,
) -> Woken {
    let (mut changed, mut timer) = (pin!(changed), pin!(timer));
    poll_fn(|cx| {
        // The interrupt first: a coordinator that was stopped must not wait for anything else.
        if aborted.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Woken::Aborted);
        }
        if changed.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Woken::Changed);
        }
        if timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Woken::Timer);
        }
        Poll::Pending
    })
    .await
}

/// Runs every future to its end, each polled in turn with the same waker: the duties of an
/// instance, or one probe per server, at once and without an executor crate.
pub(crate) async fn join_all(mut futures: Vec<Pin<Box<dyn Future<Output = ()> + '_>>>) {
    poll_fn(|cx| {
        futures.retain_mut(|f| f.as_mut().poll(cx).is_pending());
        if futures.is_empty() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await
}
