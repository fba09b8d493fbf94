//! Which server a node runs and its version, read from the `INFO` reply observation already
//! asks for every pass (no extra round trip): Redis names itself by `redis_version`; Valkey
//! also answers `redis_version:7.2.4` for compatibility, and names itself by `server_name` and
//! `valkey_version`.

use std::collections::BTreeMap;
use std::fmt;

/// The oldest Redis the operator drives: 7.0 brought `CLUSTER ADDSLOTSRANGE` and
/// `CLUSTER SHARDS`, which formation and observation rely on.
pub(crate) const OLDEST_SUPPORTED: (u32, u32) = (7, 0);

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ServerKind {
    Redis,
    Valkey,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ServerVersion {
    pub(crate) kind: ServerKind,
    /// As the server spells it (`8.0.2`).
    pub(crate) version: String,
    #[serde(skip)]
    numbers: (u32, u32, u32),
}

impl ServerVersion {
    /// From INFO's `key:value` fields; None when the reply names no version.
    pub fn from_info(fields: &BTreeMap<String, String>) -> Option<ServerVersion> {
        let (kind, version) = match fields.get("valkey_version") {
            Some(v) => (ServerKind::Valkey, v),
            None if fields.get("server_name").is_some_and(|n| n == "valkey") => {
                (ServerKind::Valkey, fields.get("redis_version")?)
            }
            None => (ServerKind::Redis, fields.get("redis_version")?),
        };
        let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        let numbers = (
            parts.next().unwrap_or(0),
            parts.next().unwrap_or(0),
            parts.next().unwrap_or(0),
        );
        Some(ServerVersion {
            kind,
            version: version.clone(),
            numbers,
        })
    }

    /// From `<kind> <version>` (`valkey 8.1.1`), the form image metadata gives.
    pub(crate) fn from_label(label: &str) -> Option<ServerVersion> {
        let (kind, version) = label.trim().split_once(' ')?;
        let key = match kind.to_ascii_lowercase().as_str() {
            "redis" => "redis_version",
            "valkey" => "valkey_version",
            _ => return None,
        };
        ServerVersion::from_info(&BTreeMap::from([(key.to_string(), version.to_string())]))
    }

    /// Whether the operator can drive it: any Valkey (its first release continues Redis 7.2),
    /// Redis from [`OLDEST_SUPPORTED`] on.
    pub(crate) fn is_supported(&self) -> bool {
        self.kind == ServerKind::Valkey || (self.numbers.0, self.numbers.1) >= OLDEST_SUPPORTED
    }
}

impl ServerVersion {
    /// Whether it moves slots in one server-side job: Valkey 9.0's `CLUSTER MIGRATESLOTS`,
    /// Redis 8.4's `CLUSTER MIGRATION IMPORT`.
    pub(crate) fn moves_slots_atomically(&self) -> bool {
        match self.kind {
            ServerKind::Valkey => self.numbers.0 >= 9,
            ServerKind::Redis => (self.numbers.0, self.numbers.1) >= (8, 4),
        }
    }

    /// Whether, as a master with replicas, it answers `CLUSTER SETSLOT` only once they have
    /// acknowledged it (Valkey 8.0 replicates SETSLOT synchronously).
    pub(crate) fn setslot_waits_for_replicas(&self) -> bool {
        self.kind == ServerKind::Valkey && self.numbers.0 >= 8
    }
}

impl fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.kind {
            ServerKind::Redis => "Redis",
            ServerKind::Valkey => "Valkey",
        };
        write!(f, "{name} {}", self.version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn tells_redis_from_valkey_and_the_old_from_the_supported() {
        let redis = ServerVersion::from_info(&info(&[("redis_version", "8.0.2")])).unwrap();
        assert_eq!(redis.to_string(), "Redis 8.0.2");
        assert!(redis.is_supported());
        let valkey = ServerVersion::from_info(&info(&[
            ("redis_version", "7.2.4"),
            ("server_name", "valkey"),
            ("valkey_version", "8.1.1"),
        ]))
        .unwrap();
        assert_eq!(valkey.to_string(), "Valkey 8.1.1");
        assert!(valkey.is_supported());
        let old = ServerVersion::from_info(&info(&[("redis_version", "6.2.14")])).unwrap();
        assert!(!old.is_supported());
        assert!(
            ServerVersion::from_info(&info(&[("redis_version", "7.0.15")]))
                .unwrap()
                .is_supported()
        );
        assert_eq!(ServerVersion::from_info(&info(&[])), None);
        let labelled = ServerVersion::from_label("valkey 8.0.1").unwrap();
        assert_eq!(labelled.to_string(), "Valkey 8.0.1");
        assert!(!ServerVersion::from_label("redis 6.0.16")
            .unwrap()
            .is_supported());
        assert_eq!(ServerVersion::from_label("keydb 6.3"), None);
    }

    #[test]
    fn atomic_slot_migration_came_with_valkey_9_0_and_redis_8_4() {
        let atomic = |label: &str| {
            ServerVersion::from_label(label)
                .unwrap()
                .moves_slots_atomically()
        };
        assert!(atomic("valkey 9.0.0"));
        assert!(atomic("valkey 9.1.2"));
        assert!(!atomic("valkey 8.1.1"));
        assert!(atomic("redis 8.4.0"));
        assert!(atomic("redis 8.6.3"));
        assert!(!atomic("redis 8.2.1"));
        assert!(!atomic("redis 7.0.15"));
    }
}
