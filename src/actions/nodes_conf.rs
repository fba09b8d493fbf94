//! Repairing a node's `nodes.conf` that its own server refuses to load.
//!
//! Valkey up to 8.1.1 can write a `nodes.conf` where a replica's `shard-id` differs from its
//! primary's, when the node stops before the shard id has settled across the shard (a restart
//! shortly after a replica was attached or a failover). On the next start it stops with
//! "Unrecoverable error: corrupted cluster config file", and Docker's restart policy loops
//! (valkey-io/valkey#774 and #2171, fixed by #2174, which makes the loader take the primary's
//! shard id). The operator makes the same repair in the file, from outside.

use std::fmt;

use bollard::query_parameters::RestartContainerOptionsBuilder;

use super::container_files::{read_file, upload};
use super::{ActError, Kind, Stage};
use crate::docker::blueprint::DATA_DIR;
use crate::docker::{archive, DockerError};
use crate::runtime::context::Context;

/// `text` with every replica's `shard-id=` set to its primary's, or None when no line needed
/// it. Other lines and fields are kept byte for byte.
pub(crate) fn align_shard_ids(text: &str) -> Option<String> {
    let fields = |line: &str| line.split(' ').map(str::to_string).collect::<Vec<String>>();
    let shard_of = |address: &str| {
        address
            .split(',')
            .find_map(|aux| aux.strip_prefix("shard-id="))
            .map(str::to_string)
    };
    let primaries: std::collections::HashMap<String, String> = text
        .lines()
        .map(fields)
        .filter(|f| f.len() > 3 && f[2].split(',').any(|flag| flag == "master"))
        .filter_map(|f| Some((f[0].clone(), shard_of(&f[1])?)))
        .collect();
    let mut changed = false;
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            let mut f = fields(line);
            let is_replica = f.len() > 3 && f[2].split(',').any(|flag| flag == "slave");
            let wanted = is_replica.then(|| primaries.get(&f[3])).flatten();
            match (wanted, f.get(1).and_then(|a| shard_of(a))) {
                (Some(wanted), Some(current)) if *wanted != current => {
                    f[1] = f[1].replace(
                        &format!("shard-id={current}"),
                        &format!("shard-id={wanted}"),
                    );
                    changed = true;
                    f.join(" ")
                }
                _ => line.to_string(),
            }
        })
        .collect();
    let mut out = lines.join("\n");
    if text.ends_with('\n') {
        out.push('\n');
    }
    changed.then_some(out)
}

/// A container that keeps restarting: its `nodes.conf` gets every replica's shard id set to
/// its primary's, and Docker's restart policy starts it on the repaired file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairNodesConf {
    pub(crate) node: String,
    pub(crate) container: String,
}

impl Kind for RepairNodesConf {
    const NAME: &'static str = "repair-nodes-conf";
    const STAGE: Stage = Stage::Containers;

    fn why(&self) -> &'static str {
        "the node's container keeps restarting"
    }

    /// Aligns the shard ids in the container's `nodes.conf`, then restarts it at once rather
    /// than after Docker's restart back-off, which doubles with every crash. Fails when the
    /// file needs no such repair: the container restarts for another reason (`docker logs`
    /// says which).
    async fn apply(&self, ctx: &Context) -> Result<(), ActError> {
        let container = &self.container;
        if !align_in_container(ctx, container).await? {
            let e = redis::RedisError::from((
                redis::ErrorKind::Client,
                "the container keeps restarting",
                format!("not for a shard id in nodes.conf: see `docker logs {container}`"),
            ));
            return Err(super::redis::failed(&self.node, "repair nodes.conf", e));
        }
        let now = RestartContainerOptionsBuilder::new().t(0).build();
        ctx.docker_of_container(container)?
            .restart_container(container, Some(now))
            .await
            .map_err(DockerError::api(format!("restart container {container}")))?;
        Ok(())
    }
}

/// Aligns the shard ids in the container's `nodes.conf` (running or not) in place; true when
/// a line needed it. Run before every start too, so a node stopped with a stale shard id
/// starts cleanly instead of crashing first.
pub(super) async fn align_in_container(ctx: &Context, container: &str) -> Result<bool, ActError> {
    let path = format!("{DATA_DIR}/nodes.conf");
    let text = read_file(ctx, container, &path).await?;
    let Some(fixed) = text.as_deref().and_then(align_shard_ids) else {
        return Ok(false);
    };
    let mut tar = tar::Builder::new(Vec::new());
    let packed = archive::append_owned_file(&mut tar, "nodes.conf", fixed.as_bytes(), 0o644)
        .and_then(|()| tar.into_inner());
    upload(ctx, container, DATA_DIR, packed, "nodes.conf").await?;
    Ok(true)
}

impl fmt::Display for RepairNodesConf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "align the shard ids in {}'s nodes.conf ({} keeps restarting on it)",
            self.container, self.node
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIMARY: &str = "c94c30a6296abc3a7c263b09599515798e0b9a4a 172.29.91.13:6379@16379,,tls-port=0,shard-id=d85985c4ec0505f3e15cbe66332386e8ad121600 myself,master - 0 0 1 connected 0-5460";
    const REPLICA: &str = "925b50384f82d21f26d6ee235540fc3013ae0f12 172.29.91.14:6379@16379,,tls-port=0,shard-id=0000000000000000000000000000000000000abc slave c94c30a6296abc3a7c263b09599515798e0b9a4a 0 1700000000000 1 connected";

    #[test]
    fn a_replica_takes_its_primarys_shard_id_and_nothing_else_changes() {
        let text = format!("{REPLICA}\n{PRIMARY}\nvars currentEpoch 6 lastVoteEpoch 0\n");
        let fixed = align_shard_ids(&text).expect("a repair");
        assert_eq!(
            fixed,
            format!(
                "{}\n{PRIMARY}\nvars currentEpoch 6 lastVoteEpoch 0\n",
                REPLICA.replace(
                    "0000000000000000000000000000000000000abc",
                    "d85985c4ec0505f3e15cbe66332386e8ad121600"
                )
            )
        );
    }

    #[test]
    fn a_consistent_file_or_one_without_shard_ids_needs_no_repair() {
        let aligned = REPLICA.replace(
            "0000000000000000000000000000000000000abc",
            "d85985c4ec0505f3e15cbe66332386e8ad121600",
        );
        assert_eq!(align_shard_ids(&format!("{PRIMARY}\n{aligned}\n")), None);
        let redis_70 = "07c3 172.30.1.13:6379@16379 myself,master - 0 0 1 connected 0-5460\n";
        assert_eq!(align_shard_ids(redis_70), None);
    }
}
