//! The storage service queue: a node serves local reads and writes through
//! a fixed number of servers (disks, threads), first come first served, so
//! load and background work show up as queueing delay.

use crate::types::Time;

/// A FIFO multi-server queue tracked by when each server becomes free.
#[derive(Clone, Debug)]
pub struct ServiceQueue {
    free_at: Vec<Time>,
}

impl ServiceQueue {
    /// A queue with `servers` (≥ 1) parallel servers, all idle.
    pub fn new(servers: usize) -> Self {
        assert!(servers >= 1, "a service queue needs a server");
        ServiceQueue { free_at: vec![Time::ZERO; servers] }
    }

    /// Admits a job arriving at `now` that needs `service_us`; returns when it completes.
    pub fn admit(&mut self, now: Time, service_us: u64) -> Time {
        let (index, free) =
            self.free_at.iter().copied().enumerate().min_by_key(|&(i, t)| (t, i)).expect("at least one server");
        let done = free.max(now).plus(service_us);
        self.free_at[index] = done;
        done
    }

    /// Forgets all queued work (a crash empties the queue).
    pub fn reset(&mut self, now: Time) {
        self.free_at.iter_mut().for_each(|t| *t = now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_wait_for_a_free_server() {
        let mut q = ServiceQueue::new(2);
        assert_eq!(q.admit(Time(0), 10), Time(10));
        assert_eq!(q.admit(Time(0), 10), Time(10));
        // both busy until 10: the third waits
        assert_eq!(q.admit(Time(5), 10), Time(20));
        // an arrival after the servers freed starts at once
        assert_eq!(q.admit(Time(100), 1), Time(101));
    }

    #[test]
    fn a_reset_frees_every_server_at_once() {
        let mut q = ServiceQueue::new(2);
        assert_eq!(q.admit(Time(0), 1_000), Time(1_000));
        assert_eq!(q.admit(Time(0), 1_000), Time(1_000));
        // A crash at 10 forgets the queued work: both servers start at once.
        q.reset(Time(10));
        assert_eq!(q.admit(Time(10), 5), Time(15));
        assert_eq!(q.admit(Time(10), 5), Time(15));
        assert_eq!(q.admit(Time(10), 5), Time(20), "then the queue builds up again");
    }
}
