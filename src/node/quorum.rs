//! Quorum bookkeeping for one read, shared by node coordinators and by
//! clients that coordinate their own reads (Dynamo §6.4).

use super::store::reconcile_onto;
use super::versioning::Versioning;
use crate::node::vclock::VectorClock;
use crate::protocol::{ReadResult, Version, Versions};
use crate::types::NodeId;
use smallvec::SmallVec;

/// The replicas a read asked: N, and a fallback now and then; inline up to
/// four, so a read's bookkeeping allocates one list fewer.
type Asked = SmallVec<[NodeId; 4]>;

/// Collects replica replies until R have answered.
#[derive(Clone, Debug)]
pub struct ReadQuorum {
    needed: usize,
    asked: Asked,
    replies: Vec<(NodeId, Versions)>,
    answered: bool,
    versioning: Versioning,
}

impl ReadQuorum {
    /// A read that asked `asked` and needs `needed` (R) replies, ordering
    /// versions by `versioning`.
    pub fn new(needed: usize, asked: impl IntoIterator<Item = NodeId>, versioning: Versioning) -> Self {
        let asked: Asked = asked.into_iter().collect();
        assert!(needed >= 1 && needed <= asked.len(), "R must be between 1 and the replicas asked");
        ReadQuorum { needed, replies: Vec::with_capacity(asked.len()), asked, answered: false, versioning }
    }

    /// Also waits for `node` (a fallback asked after a replica timed out).
    pub fn ask(&mut self, node: NodeId) {
        if !self.asked.contains(&node) {
            self.asked.push(node);
        }
    }

    /// The nodes asked so far.
    pub fn asked(&self) -> &[NodeId] {
        &self.asked
    }

    /// True when `node` has replied.
    pub fn has_replied(&self, node: NodeId) -> bool {
        self.replies.iter().any(|(n, _)| *n == node)
    }

    /// Records one replica's versions. Returns the read's result when this is
    /// the R-th reply: the syntactically reconciled siblings and their merged
    /// clock as context; the fastest replica is the first that replied.
    pub fn record(&mut self, from: NodeId, versions: Versions) -> Option<ReadResult> {
        if self.has_replied(from) || !self.asked.contains(&from) {
            return None; // a duplicate or unexpected reply counts once, or not at all
        }
        self.replies.push((from, versions));
        if self.answered || self.replies.len() < self.needed {
            return None;
        }
        self.answered = true;
        let versions = reconcile_replies(&self.replies, self.versioning);
        let context = VectorClock::merge_all(versions.iter().map(|v| self.versioning.history(v)));
        Some(ReadResult { versions, context, fastest: self.replies.first().map(|(n, _)| *n) })
    }

    /// True once every asked replica has replied.
    pub fn all_replied(&self) -> bool {
        self.replies.len() >= self.asked.len()
    }

    /// True once the result was produced.
    pub fn answered(&self) -> bool {
        self.answered
    }

    /// The replies so far (for read repair).
    pub fn replies(&self) -> &[(NodeId, Versions)] {
        &self.replies
    }
}

/// The replies' versions, reconciled: each reply is a replica's versions,
/// reconciled already, so the first is kept whole ([`reconcile_onto`]).
pub fn reconcile_replies(replies: &[(NodeId, Versions)], versioning: Versioning) -> Vec<Version> {
    let Some(((_, first), rest)) = replies.split_first() else { return Vec::new() };
    reconcile_onto(first, rest.iter().flat_map(|(_, vs)| vs.iter()), versioning)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Stamp, Version};
    use crate::types::Time;

    fn version(write: u64, node: u32, counter: u64) -> Version {
        let mut clock = VectorClock::new();
        clock.set(NodeId(node), counter, Time(0));
        let dot = crate::node::vclock::Dot { actor: NodeId(node).into(), counter };
        Version::of_write(write, dot, clock, Stamp::default())
    }

    #[test]
    fn answers_at_the_rth_reply_with_reconciled_siblings() {
        let mut q = ReadQuorum::new(2, vec![NodeId(4), NodeId(5), NodeId(6)], Versioning::VectorClocks);
        assert!(q.record(NodeId(4), smallvec::smallvec![version(1, 0, 1)]).is_none());
        assert!(q.record(NodeId(4), smallvec::smallvec![]).is_none(), "duplicates do not count");
        assert!(q.record(NodeId(9), smallvec::smallvec![]).is_none(), "nodes not asked do not count");
        let result = q.record(NodeId(5), smallvec::smallvec![version(2, 0, 2), version(3, 1, 1)]).expect("R reached");
        let writes: Vec<u64> = result.versions.iter().map(|v| v.write.0).collect();
        assert_eq!(writes, vec![2, 3], "version 1 is an ancestor of version 2");
        assert_eq!(result.context.counter(NodeId(0)), 2);
        assert_eq!(result.context.counter(NodeId(1)), 1);
        assert_eq!(result.fastest, Some(NodeId(4)));
        assert!(!q.all_replied());
        assert!(q.record(NodeId(6), smallvec::smallvec![]).is_none(), "answers once");
        assert!(q.all_replied());
    }

    #[test]
    fn a_fallback_asked_later_counts_toward_r() {
        let mut q = ReadQuorum::new(2, vec![NodeId(1), NodeId(2)], Versioning::VectorClocks);
        assert!(q.record(NodeId(1), smallvec::smallvec![]).is_none());
        q.ask(NodeId(3));
        assert!(q.record(NodeId(3), smallvec::smallvec![]).is_some());
    }
}
