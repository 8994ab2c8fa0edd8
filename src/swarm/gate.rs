//! A first-come, first-served async lock for one instance's calls, without an executor crate:
//! git cannot add two worktrees to one repository at the same time, so spawns take turns.
//! A gate of capacity `n` lets `n` holders in at once (starts being prepared, say).
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::task::{Poll, Waker};

pub(crate) struct Gate {
    state: RefCell<GateState>,
}

impl Default for Gate {
    fn default() -> Self {
        Self::with_capacity(1)
    }
}

struct GateState {
    /// Holders in, and how many may be.
    held: u32,
    capacity: u32,
    /// Waiters in arrival order, by ticket; the first is woken when the gate opens.
    queue: VecDeque<(u64, Option<Waker>)>,
    next_ticket: u64,
}

/// Opens the gate for the next waiter when dropped.
pub(crate) struct Pass<'a>(&'a Gate);

impl Gate {
    pub fn with_capacity(capacity: u32) -> Self {
        Self {
            state: RefCell::new(GateState {
                held: 0,
                capacity: capacity.max(1),
                queue: VecDeque::new(),
                next_ticket: 0,
            }),
        }
    }

    pub async fn enter(&self) -> Pass<'_> {
        let ticket = {
            let mut s = self.state.borrow_mut();
            if s.held < s.capacity && s.queue.is_empty() {
                s.held += 1;
                return Pass(self);
            }
            s.next_ticket += 1;
            let t = s.next_ticket;
            s.queue.push_back((t, None));
            t
        };
        poll_fn(|cx| {
            let mut s = self.state.borrow_mut();
            if s.held < s.capacity && s.queue.front().map(|(t, _)| *t) == Some(ticket) {
                s.queue.pop_front();
                s.held += 1;
                return Poll::Ready(());
            }
            if let Some(slot) = s.queue.iter_mut().find(|(t, _)| *t == ticket) {
                slot.1 = Some(cx.waker().clone());
            }
            Poll::Pending
        })
        .await;
        Pass(self)
    }
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        let waker = {
            let mut s = self.0.state.borrow_mut();
            s.held -= 1;
            s.queue.front_mut().and_then(|(_, w)| w.take())
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{block_on, join, yield_now};
    use std::cell::RefCell;

    /// Three holders that each go in, yield once and leave, started in that order: when each
    /// went in and out.
    fn three_through(gate: &Gate) -> Vec<(u32, &'static str)> {
        let order = RefCell::new(Vec::new());
        let task = |n: u32| {
            let order = &order;
            async move {
                let _pass = gate.enter().await;
                order.borrow_mut().push((n, "in"));
                yield_now().await;
                order.borrow_mut().push((n, "out"));
            }
        };
        block_on(join(task(1), join(task(2), task(3))));
        order.into_inner()
    }

    #[test]
    fn holders_take_turns_in_arrival_order() {
        let order = three_through(&Gate::default());
        assert_eq!(
            order,
            vec![
                (1, "in"),
                (1, "out"),
                (2, "in"),
                (2, "out"),
                (3, "in"),
                (3, "out")
            ]
        );
    }

    #[test]
    fn a_gate_of_two_lets_two_in_and_the_third_waits_for_one_to_leave() {
        let order = three_through(&Gate::with_capacity(2));
        assert_eq!(&order[..2], &[(1, "in"), (2, "in")]);
        let third_in = order.iter().position(|e| *e == (3, "in")).unwrap();
        let first_out = order.iter().position(|e| e.1 == "out").unwrap();
        assert!(first_out < third_in, "{order:?}");
    }
}
