//! `events.jsonl` (`--events`): the node-level events of a run, one JSON
//! object per line, streamed to disk as they happen.
//!
//! A long run has millions of events, so nothing is kept in memory: lines
//! go through a `BufWriter` into `.dynasim-partial/events.jsonl.partial`,
//! which is renamed into place when the run ends ([`EventLog::finish`]).
//! Each line is `{"t_us", "kind", "src", "dst", "key", "detail"}`; `src`,
//! `dst` and `key` are null when the event has none.

use super::PartialFile;
use crate::protocol::Message;
use crate::types::{Endpoint, NodeId, Time};
use std::io::Write;
use std::path::Path;

/// The event stream of one run.
#[derive(Debug)]
pub struct EventLog {
    file: PartialFile,
    /// The first write error; later events are skipped and `finish` reports it.
    error: Option<std::io::Error>,
}

/// Names of the protocol's messages, by [`Message::code`] (stable: the digest pins the codes).
const MESSAGE_NAMES: [&str; 26] = [
    "?",
    "Get",
    "Put",
    "GetReply",
    "PutReply",
    "ReplicaRead",
    "ReplicaReadReply",
    "ReplicaWrite",
    "ReplicaWriteAck",
    "MembershipRequest",
    "MembershipReply",
    "ReadRepair",
    "Handoff",
    "HandoffAck",
    "Ping",
    "Pong",
    "ForwardAck",
    "TreeCompare",
    "LeafDigests",
    "KeyVersions",
    "Gossip",
    "GossipReply",
    "JoinRequest",
    "FetchRange",
    "RangeData",
    "TransferAck",
];

/// The name of a message kind, as events.jsonl and key traces show it.
pub fn message_name(message: &Message) -> &'static str {
    MESSAGE_NAMES.get(usize::from(message.code())).copied().unwrap_or("?")
}

impl EventLog {
    /// Starts streaming to `path` (through its partial file).
    pub fn create(path: &Path) -> std::io::Result<EventLog> {
        Ok(EventLog { file: PartialFile::create(path)?, error: None })
    }

    /// Appends one event line.
    pub fn record(
        &mut self,
        now: Time,
        kind: &str,
        source: Option<Endpoint>,
        destination: Option<Endpoint>,
        key: Option<u64>,
        detail: &str,
    ) {
        if self.error.is_some() {
            return;
        }
        if let Err(error) = self.write_line(now, kind, source, destination, key, detail) {
            self.error = Some(error);
        }
    }

    fn write_line(
        &mut self,
        now: Time,
        kind: &str,
        source: Option<Endpoint>,
        destination: Option<Endpoint>,
        key: Option<u64>,
        detail: &str,
    ) -> std::io::Result<()> {
        let out = self.file.writer();
        write!(out, "{{\"t_us\":{},\"kind\":\"{kind}\",\"src\":", now.0)?;
        write_endpoint(out, source)?;
        out.write_all(b",\"dst\":")?;
        write_endpoint(out, destination)?;
        match key {
            Some(key) => write!(out, ",\"key\":{key},\"detail\":")?,
            None => out.write_all(b",\"key\":null,\"detail\":")?,
        }
        serde_json::to_writer(&mut *out, detail)?;
        out.write_all(b"}\n")
    }

    /// A message handed to the network: `send`, or `drop` when the network
    /// lost it or a partition blocked it.
    pub fn sent(&mut self, now: Time, from: Endpoint, to: Endpoint, message: &Message, delivered: bool) {
        let kind = if delivered { "send" } else { "drop" };
        self.record(now, kind, Some(from), Some(to), message.key_id(), message_name(message));
    }

    /// A message arriving, with what it means when it stores a hint, hands
    /// one off or repairs a replica; `drop` when its receiver is down.
    pub fn delivered(&mut self, now: Time, from: Endpoint, to: Endpoint, message: &Message, receiver_up: bool) {
        let key = message.key_id();
        let name = message_name(message);
        if !receiver_up {
            return self.record(now, "drop", Some(from), Some(to), key, &format!("{name}: receiver down"));
        }
        self.record(now, "deliver", Some(from), Some(to), key, name);
        let meaning = match message {
            Message::ReplicaWrite { hint: Some(home), .. } => Some(("hint-stored", format!("for {home}"))),
            Message::Handoff { .. } => Some(("hint-handoff", String::new())),
            Message::ReadRepair { .. } => Some(("read-repair", String::new())),
            _ => None,
        };
        if let Some((kind, detail)) = meaning {
            self.record(now, kind, Some(from), Some(to), key, &detail);
        }
    }

    /// A node began to suspect `peer`.
    pub fn suspected(&mut self, now: Time, node: NodeId, peer: NodeId) {
        self.record(now, "suspect", Some(Endpoint::Node(node)), Some(Endpoint::Node(peer)), None, "");
    }

    /// A node's ring view changed.
    pub fn ring_changed(&mut self, now: Time, node: NodeId) {
        self.record(now, "ring-change", Some(Endpoint::Node(node)), None, None, "");
    }

    /// Flushes the stream and renames it into place.
    pub fn finish(self) -> std::io::Result<()> {
        match self.error {
            Some(error) => Err(error),
            None => self.file.commit(),
        }
    }
}

fn write_endpoint(out: &mut impl Write, endpoint: Option<Endpoint>) -> std::io::Result<()> {
    match endpoint {
        Some(endpoint) => write!(out, "\"{endpoint}\""),
        None => out.write_all(b"null"),
    }
}
