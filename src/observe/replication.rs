//! What a node says of its replication (`INFO replication` and `keyspace`): whether a
//! replica's copy is complete and current, and whether a master could become a replica
//! without losing keys.

use std::collections::BTreeMap;

/// A node's replication, as its INFO tells it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Replication {
    /// A replica's link to its master is up (`master_link_status:up`).
    pub(crate) link_up: bool,
    /// A full sync is in flight (`master_sync_in_progress:1`).
    pub(crate) syncing: bool,
    /// Seconds since a replica's link went down; None while it is up, or when it never was
    /// (Redis says -1: the replica never had a copy).
    pub(crate) down_for_s: Option<u64>,
    /// The replication offset: a replica's `slave_repl_offset`, a master's `master_repl_offset`.
    pub(crate) offset: u64,
    /// Keys in all databases (`keyspace`).
    pub(crate) keys: u64,
}

impl Replication {
    pub fn of(info: &BTreeMap<String, String>) -> Replication {
        let number = |key: &str| info.get(key).and_then(|v| v.trim().parse::<i64>().ok());
        let replica = info.get("role").is_some_and(|r| r == "slave");
        let offset = if replica {
            number("slave_repl_offset")
        } else {
            number("master_repl_offset")
        };
        Replication {
            link_up: info.get("master_link_status").is_some_and(|s| s == "up"),
            syncing: number("master_sync_in_progress") == Some(1),
            down_for_s: number("master_link_down_since_seconds")
                .and_then(|s| u64::try_from(s).ok()),
            offset: offset.and_then(|o| u64::try_from(o).ok()).unwrap_or(0),
            keys: keys(info),
        }
    }

    /// Its copy is the master's: the link is up and no full sync is in flight.
    pub fn in_sync(&self) -> bool {
        self.link_up && !self.syncing
    }

    /// Had a complete copy when its master went away at most `within_s` seconds ago, so
    /// promoting it loses nothing a replicated write acknowledged (`WAIT 1`).
    pub(crate) fn was_in_sync(&self, within_s: u64) -> bool {
        self.in_sync() || (!self.syncing && self.down_for_s.is_some_and(|s| s <= within_s))
    }
}

/// The keys of every `dbN:keys=…,expires=…` line.
fn keys(info: &BTreeMap<String, String>) -> u64 {
    info.iter()
        .filter(|(k, _)| k.starts_with("db") && k[2..].chars().all(|c| c.is_ascii_digit()))
        .filter_map(|(_, v)| v.split(',').find_map(|f| f.strip_prefix("keys=")))
        .filter_map(|n| n.parse::<u64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::cluster_nodes::info_fields;

    #[test]
    fn a_replica_with_its_link_up_is_in_sync() {
        let info = info_fields(
            "# Replication\r\nrole:slave\r\nmaster_link_status:up\r\nmaster_sync_in_progress:0\r\nslave_repl_offset:4242\r\n# Keyspace\r\ndb0:keys=12,expires=0,avg_ttl=0\r\n",
        );
        let r = Replication::of(&info);
        assert!(r.in_sync() && r.was_in_sync(0));
        assert_eq!((r.offset, r.keys), (4242, 12));
    }

    #[test]
    fn a_replica_whose_master_just_died_was_in_sync_for_a_while() {
        let info = info_fields(
            "role:slave\r\nmaster_link_status:down\r\nmaster_sync_in_progress:0\r\nmaster_link_down_since_seconds:2\r\n",
        );
        let r = Replication::of(&info);
        assert!(!r.in_sync());
        assert!(r.was_in_sync(5));
        assert!(!r.was_in_sync(1), "down longer than the limit");
    }

    #[test]
    fn a_replica_that_never_synced_or_is_syncing_was_never_in_sync() {
        let never = info_fields("role:slave\r\nmaster_link_status:down\r\nmaster_link_down_since_seconds:-1\r\nmaster_sync_in_progress:0\r\n");
        assert!(!Replication::of(&never).was_in_sync(3600));
        let syncing = info_fields("role:slave\r\nmaster_link_status:down\r\nmaster_link_down_since_seconds:0\r\nmaster_sync_in_progress:1\r\n");
        assert!(!Replication::of(&syncing).was_in_sync(3600));
    }

    #[test]
    fn a_master_counts_its_keys_in_every_database() {
        let info = info_fields("role:master\r\nmaster_repl_offset:7\r\ndb0:keys=3,expires=1\r\ndb1:keys=2,expires=0\r\n");
        let r = Replication::of(&info);
        assert_eq!((r.offset, r.keys), (7, 5));
    }
}
