//! A node's local store: the versions it holds for each key.
//!
//! A key holds only versions that are pairwise concurrent: storing a version
//! drops the ones it descends from, and a version that an existing one
//! already descends from is ignored (it is old news).

use super::vclock::Causality;
use crate::protocol::Version;
use std::collections::BTreeMap;

/// The versions of every key a node stores.
#[derive(Clone, Debug, Default)]
pub struct Store {
    keys: BTreeMap<u64, Vec<Version>>,
}

/// What storing a version did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutEffect {
    /// The version was added (possibly replacing ancestors).
    Stored,
    /// An equal or descendant version was already there.
    Obsolete,
}

impl Store {
    /// An empty store.
    pub fn new() -> Self {
        Store::default()
    }

    /// The versions held for `key` (empty if none).
    pub fn get(&self, key: u64) -> &[Version] {
        self.keys.get(&key).map_or(&[], Vec::as_slice)
    }

    /// Stores `version` for `key`, keeping only pairwise concurrent versions.
    pub fn put(&mut self, key: u64, version: Version) -> PutEffect {
        let versions = self.keys.entry(key).or_default();
        if versions.iter().any(|v| v.clock.descends(&version.clock)) {
            return PutEffect::Obsolete;
        }
        versions.retain(|v| version.clock.compare(&v.clock) != Causality::After);
        versions.push(version);
        PutEffect::Stored
    }

    /// Number of keys with at least one version.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Every key with its versions, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &[Version])> {
        self.keys.iter().map(|(k, v)| (*k, v.as_slice()))
    }
}

/// Syntactic reconciliation (Dynamo §4.4): from versions gathered from
/// several replicas, keep those no other version descends from, once each.
pub fn reconcile<'a>(versions: impl IntoIterator<Item = &'a Version>) -> Vec<Version> {
    let mut kept: Vec<Version> = Vec::new();
    for candidate in versions {
        if kept.iter().any(|k| k.clock.descends(&candidate.clock)) {
            continue;
        }
        kept.retain(|k| candidate.clock.compare(&k.clock) != Causality::After);
        kept.push(candidate.clone());
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::vclock::VectorClock;
    use crate::protocol::{Value, WriteId};
    use crate::types::{NodeId, Time};

    fn version(write: u64, pairs: &[(u32, u64)]) -> Version {
        let mut clock = VectorClock::new();
        for &(n, c) in pairs {
            clock.set(NodeId(n), c, Time(0));
        }
        Version {
            clock,
            value: Value {
                write: WriteId(write),
                bytes: 10,
            },
        }
    }

    #[test]
    fn a_descendant_replaces_its_ancestor() {
        let mut store = Store::new();
        assert_eq!(store.put(1, version(1, &[(0, 1)])), PutEffect::Stored);
        assert_eq!(store.put(1, version(2, &[(0, 2)])), PutEffect::Stored);
        assert_eq!(store.get(1).len(), 1);
        assert_eq!(store.get(1)[0].value.write, WriteId(2));
    }

    #[test]
    fn concurrent_versions_are_kept_as_siblings_and_old_ones_ignored() {
        let mut store = Store::new();
        store.put(1, version(1, &[(0, 1)]));
        store.put(1, version(2, &[(1, 1)]));
        assert_eq!(store.get(1).len(), 2);
        assert_eq!(store.put(1, version(1, &[(0, 1)])), PutEffect::Obsolete);
        // A version descending from both replaces both.
        store.put(1, version(3, &[(0, 1), (1, 1), (2, 1)]));
        assert_eq!(store.get(1).len(), 1);
    }

    #[test]
    fn reconcile_drops_ancestors_and_duplicates() {
        let a = version(1, &[(0, 1)]);
        let b = version(2, &[(0, 1), (1, 1)]);
        let c = version(3, &[(0, 1), (2, 1)]);
        let kept = reconcile([&a, &b, &b.clone(), &c]);
        let writes: Vec<u64> = kept.iter().map(|v| v.value.write.0).collect();
        assert_eq!(writes, vec![2, 3]);
    }
}
