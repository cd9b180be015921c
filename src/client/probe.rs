//! PBS probes (Bailis et al., "Probabilistically Bounded Staleness for
//! Practical Partial Quorums", VLDB 2012): how likely is a read issued t
//! after a write commits to return that write?
//!
//! A probe is a blind write to a key nobody wrote before; once the write
//! commits at the client (W acknowledgements, or the coordinator's reply),
//! the client reads the key once at each probe delay t after the commit.
//! Each read is an operation of its own, judged by the checker like any
//! other, so P(consistent read | t) uses the one definition of a stale read.
//!
//! A read for delay t is issued at commit + t + 1 µs: the checker counts
//! only writes acknowledged strictly before a read is invoked, and 1 µs is
//! the clock's resolution. Against the paper's millisecond-scale delays the
//! shift is negligible (the WARS test in tests/pbs.rs agrees within the
//! probe's confidence interval).

use super::{Client, ClientOutbox, ClientTimer, Role};
use crate::protocol::Key;
use crate::types::{ClientId, Time};

/// The key of a client's `index`-th probe: unique per (client, probe), so
/// never written before. Client ids stay below 2^32 and a run holds far
/// fewer than 2^32 probes per client (the memory limit refuses more).
pub fn probe_key(client: ClientId, index: u64) -> u64 {
    debug_assert!(index < 1 << 32, "probe index {index} overflows its key bits");
    (u64::from(client.0) << 32) | index
}

/// How long after a probe write's commit the read for a delay of
/// `delay_us` is invoked, µs (see the module doc for the 1 µs).
pub fn read_offset_us(delay_us: u64) -> u64 {
    delay_us + 1
}

impl Client {
    /// Starts a probe: a blind write to a fresh key.
    pub(super) fn issue_probe(&mut self, now: Time, out: &mut ClientOutbox) {
        let key = Key::new(probe_key(self.id, self.probes_started));
        self.probes_started += 1;
        self.issue_write(now, key, None, Role::ProbeWrite, out);
    }

    /// A probe's write committed at `now`: one read of `key` per delay.
    pub(super) fn schedule_probe_reads(&self, now: Time, key: u64, out: &mut ClientOutbox) {
        for &delay_us in &self.config.probe_delays_us {
            out.set_timer(now.plus(read_offset_us(delay_us)), ClientTimer::ProbeRead { key });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_keys_of_different_clients_and_probes_differ() {
        let keys = [probe_key(ClientId(0), 0), probe_key(ClientId(0), 1), probe_key(ClientId(1), 0)];
        assert_eq!(keys.iter().collect::<std::collections::BTreeSet<_>>().len(), 3);
    }
}
