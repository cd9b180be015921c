//! Each write's operation record, found by its write id.
//!
//! A write id is its client and that client's sequence number
//! ([`WriteId::new`]), and a client's writes take a good share of its
//! sequence numbers (its reads take the rest). A table per client indexed
//! by sequence number finds a record in one memory access, where a binary
//! search of every write of a long run took ~23 probes, a dozen of them
//! cache misses: the checker looks writes up several times an operation,
//! and at 10 M operations it was a quarter of the run.

use super::history::OpRecord;
use crate::protocol::WriteId;

/// Bits of a write id below its client.
const SEQUENCE_BITS: u32 = 40;

/// A client's table may hold this many slots a write (plus a few) before
/// its writes are kept sorted instead: a table slot (8 bytes) costs half a
/// sorted entry (16), so a table never costs more than four times the
/// sorted list, and a client gets the sorted list only when its reads
/// outnumber its writes about seven to one.
const SLOTS_PER_WRITE: u64 = 8;

/// Every write's record, by write id.
#[derive(Debug, Default)]
pub struct WriteIndex<'a> {
    /// (client, its writes), sorted by client; a run's clients are dense,
    /// so client `c` is usually at index `c`.
    clients: Vec<(u64, ClientWrites<'a>)>,
    /// True when no write id was named by two records (as in every run:
    /// only hand-made histories repeat one); false in an empty default.
    named_once: bool,
    /// How many records named a write (repeats included).
    records_named: usize,
}

/// One client's writes.
#[derive(Debug)]
enum ClientWrites<'a> {
    /// The record of sequence number `first + i` at `records[i]` (None:
    /// not a write).
    Table { first: u64, records: Vec<Option<&'a OpRecord>> },
    /// (sequence, record), sorted by sequence: ids too sparse for a table
    /// (hand-made histories; never a run's).
    Sorted(Vec<(u64, &'a OpRecord)>),
}

impl<'a> WriteIndex<'a> {
    /// The index of `writes` (in any order). Write ids are unique; were one
    /// named twice, its last record would count.
    pub fn new(mut writes: Vec<(WriteId, &'a OpRecord)>) -> WriteIndex<'a> {
        // Reversed, then a stable sort keeping each id's first: the last named.
        writes.reverse();
        writes.sort_by_key(|(write, _)| *write);
        let records_named = writes.len();
        writes.dedup_by_key(|(write, _)| *write);
        let named_once = writes.len() == records_named;
        let clients = writes
            .chunk_by(|(a, _), (b, _)| client_of(*a) == client_of(*b))
            .map(|run| (client_of(run[0].0), ClientWrites::new(run)))
            .collect();
        WriteIndex { clients, named_once, records_named }
    }

    /// How many records named a write (repeats included).
    pub fn records_named(&self) -> usize {
        self.records_named
    }

    /// True when every write id was named by one record only: then the
    /// record of a write is the one record naming it, wherever it is found.
    pub fn named_once(&self) -> bool {
        self.named_once
    }

    /// The record of `write`, if the history names it.
    pub fn get(&self, write: WriteId) -> Option<&'a OpRecord> {
        let client = client_of(write);
        let at = match self.clients.get(client as usize) {
            Some((found, _)) if *found == client => client as usize,
            _ => self.clients.binary_search_by_key(&client, |(client, _)| *client).ok()?,
        };
        self.clients[at].1.get(sequence_of(write))
    }

    /// Every write's record, in write id order.
    pub fn records(&self) -> impl Iterator<Item = &'a OpRecord> + '_ {
        self.clients.iter().flat_map(|(_, writes)| {
            let (table, sorted) = match writes {
                ClientWrites::Table { records, .. } => (Some(records.iter().flatten().copied()), None),
                ClientWrites::Sorted(sorted) => (None, Some(sorted.iter().map(|&(_, op)| op))),
            };
            table.into_iter().flatten().chain(sorted.into_iter().flatten())
        })
    }
}

impl<'a> ClientWrites<'a> {
    /// One client's writes, sorted by id, each named once.
    fn new(run: &[(WriteId, &'a OpRecord)]) -> ClientWrites<'a> {
        let first = sequence_of(run[0].0);
        let span = sequence_of(run[run.len() - 1].0) - first + 1;
        if span > SLOTS_PER_WRITE * run.len() as u64 + 64 {
            return ClientWrites::Sorted(run.iter().map(|&(write, op)| (sequence_of(write), op)).collect());
        }
        let mut records = vec![None; span as usize];
        for &(write, op) in run {
            records[(sequence_of(write) - first) as usize] = Some(op);
        }
        ClientWrites::Table { first, records }
    }

    fn get(&self, sequence: u64) -> Option<&'a OpRecord> {
        match self {
            ClientWrites::Table { first, records } => *records.get(sequence.checked_sub(*first)? as usize)?,
            ClientWrites::Sorted(sorted) => {
                let at = sorted.binary_search_by_key(&sequence, |(sequence, _)| *sequence).ok()?;
                Some(sorted[at].1)
            }
        }
    }
}

fn client_of(write: WriteId) -> u64 {
    write.0 >> SEQUENCE_BITS
}

fn sequence_of(write: WriteId) -> u64 {
    write.0 & ((1 << SEQUENCE_BITS) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::history::OpKind;
    use crate::types::{ClientId, Time};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn record(tag: u64) -> OpRecord {
        OpRecord::invoked(ClientId(0), tag, OpKind::Write, 1, Time(tag))
    }

    proptest! {
        /// Whatever the ids — dense, sparse, repeated, any client — a
        /// write is found as a map of the last record named for it finds
        /// it, and every record is listed once in id order.
        #[test]
        fn a_write_is_found_as_a_map_of_the_last_record_named_finds_it(
            named in proptest::collection::vec(
                (prop_oneof![Just(0u64), Just(1), Just(3), Just((1 << 24) - 1)],
                 prop_oneof![0u64..40, 0u64..2_000, Just((1 << SEQUENCE_BITS) - 1)]),
                0..120),
            probes in proptest::collection::vec((0u64..5, 0u64..2_100), 0..60),
        ) {
            let records: Vec<OpRecord> = (0..named.len() as u64).map(record).collect();
            let ids: Vec<WriteId> = named.iter().map(|&(c, s)| WriteId((c << SEQUENCE_BITS) | s)).collect();
            let index = WriteIndex::new(ids.iter().copied().zip(&records).collect());
            let expected: BTreeMap<WriteId, u64> = ids.iter().zip(&records).map(|(&id, op)| (id, op.sequence)).collect();
            for &id in ids.iter().chain(&probes.iter().map(|&(c, s)| WriteId((c << SEQUENCE_BITS) | s)).collect::<Vec<_>>()) {
                prop_assert_eq!(index.get(id).map(|op| op.sequence), expected.get(&id).copied(), "{:?}", id);
            }
            let listed: Vec<u64> = index.records().map(|op| op.sequence).collect();
            prop_assert_eq!(listed, expected.values().copied().collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_run_s_clients_get_tables_and_sparse_ids_a_sorted_list() {
        let records: Vec<OpRecord> = (0..4).map(record).collect();
        let ids = [
            WriteId::new(ClientId(0), 0),
            WriteId::new(ClientId(0), 2),
            WriteId::new(ClientId(1), 5),
            WriteId::new(ClientId(1), 900),
        ];
        let index = WriteIndex::new(ids.iter().copied().zip(&records).collect());
        assert!(matches!(index.clients[0].1, ClientWrites::Table { first: 0, ref records } if records.len() == 3));
        assert!(matches!(index.clients[1].1, ClientWrites::Sorted(ref sorted) if sorted.len() == 2));
        assert_eq!(index.get(WriteId::new(ClientId(1), 900)).map(|op| op.sequence), Some(3));
        assert!(index.get(WriteId::new(ClientId(0), 1)).is_none(), "a hole in the table");
        assert!(index.get(WriteId::new(ClientId(2), 0)).is_none(), "no such client");
    }
}
