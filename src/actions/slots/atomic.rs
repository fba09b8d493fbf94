//! Moving slots with the server's own atomic slot migration: one server-side job per source
//! and target, which copies the slots like a replica would and hands them over in one step,
//! so clients never see ASK or TRYAGAIN and no key is ever on both sides.
//!
//! - Valkey 9.0+: `CLUSTER MIGRATESLOTS SLOTSRANGE a b … NODE <target>` on the source, followed
//!   with `CLUSTER GETSLOTMIGRATIONS`, cancelled with `CLUSTER CANCELSLOTMIGRATIONS`.
//! - Redis 8.4+: `CLUSTER MIGRATION IMPORT a b …` on the target, followed with
//!   `CLUSTER MIGRATION STATUS ALL`, cancelled with `CLUSTER MIGRATION CANCEL ID <id>`.
//!
//! A job outlives the operator that started it: a pass that finds one in flight between the
//! same two nodes follows it instead of starting another, so a SIGKILL at any point costs
//! nothing. A job that fails leaves the slots at the source, and the target drops what it
//! had copied; the next pass plans again from what it observes.

use std::time::Duration;

use super::super::redis::{failed, run_on};
use super::super::{ActError, Peer};
use crate::observe::ServerKind;
use crate::runtime::context::Context;
use crate::spec::SlotRange;

/// How often a job in flight is asked how it is doing: a job of a few slots ends in tens of
/// milliseconds, and each look is one small command.
const POLL: Duration = Duration::from_millis(20);

/// One slot migration job, as the server reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Job {
    pub(crate) id: String,
    /// `EXPORT`/`IMPORT` (Valkey), `migrate`/`import` (Redis), lower-cased.
    pub(crate) operation: String,
    pub(crate) source: String,
    pub(crate) target: String,
    /// As the server spells it (`0-100 200-300`).
    pub(crate) slots: String,
    pub(crate) state: String,
    /// Why it failed or was cancelled, when it did.
    pub(crate) message: String,
}

/// How a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    Succeeded,
    Failed,
    Cancelled,
}

impl Job {
    /// Its end, once it has ended: Valkey says success/failed/cancelled, Redis
    /// completed/failed/canceled.
    pub(crate) fn end(&self) -> Option<End> {
        match self.state.as_str() {
            "success" | "completed" => Some(End::Succeeded),
            "failed" => Some(End::Failed),
            "cancelled" | "canceled" => Some(End::Cancelled),
            _ => None,
        }
    }

    /// A job moving slots from `from` to `to` that has not ended, as seen by the node that
    /// drives it (the source on Valkey, the target on Redis).
    fn is_live_between(&self, from: &Peer, to: &Peer) -> bool {
        self.end().is_none()
            && self.source == from.id
            && self.target == to.id
            && matches!(self.operation.as_str(), "export" | "import")
    }
}

/// The jobs in a GETSLOTMIGRATIONS or MIGRATION STATUS reply: a list of records, each a
/// flat list of field names and values (RESP2) or a map (RESP3).
pub(crate) fn parse_jobs(reply: &redis::Value) -> Vec<Job> {
    let records = match reply {
        redis::Value::Array(records) | redis::Value::Set(records) => records.as_slice(),
        _ => return Vec::new(),
    };
    records.iter().filter_map(parse_job).collect()
}

fn parse_job(record: &redis::Value) -> Option<Job> {
    let pairs: Vec<(String, String)> = match record {
        redis::Value::Array(flat) => flat
            .chunks(2)
            .filter_map(|kv| Some((text(kv.first()?)?, text(kv.get(1)?).unwrap_or_default())))
            .collect(),
        redis::Value::Map(map) => map
            .iter()
            .filter_map(|(k, v)| Some((text(k)?, text(v).unwrap_or_default())))
            .collect(),
        _ => return None,
    };
    let mut job = Job::default();
    for (field, value) in pairs {
        match field.as_str() {
            "name" | "id" => job.id = value,
            "operation" => job.operation = value.to_ascii_lowercase(),
            "source_node" | "source" => job.source = value,
            "target_node" | "dest" => job.target = value,
            "slot_ranges" | "slots" => job.slots = value,
            "state" => job.state = value.to_ascii_lowercase(),
            "message" | "last_error" => job.message = value,
            _ => {}
        }
    }
    (!job.id.is_empty()).then_some(job)
}

fn text(value: &redis::Value) -> Option<String> {
    match value {
        redis::Value::BulkString(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        redis::Value::SimpleString(s) | redis::Value::VerbatimString { text: s, .. } => {
            Some(s.clone())
        }
        redis::Value::Int(n) => Some(n.to_string()),
        redis::Value::Nil => Some(String::new()),
        _ => None,
    }
}

/// The commands of one server's atomic slot migration.
#[derive(Debug, Clone, Copy)]
struct Dialect {
    kind: ServerKind,
}

impl Dialect {
    /// The node that starts, reports and cancels a move's job.
    fn driver<'p>(&self, from: &'p Peer, to: &'p Peer) -> &'p Peer {
        match self.kind {
            ServerKind::Valkey => from,
            ServerKind::Redis => to,
        }
    }

    fn start(&self, to: &Peer, ranges: &[SlotRange]) -> redis::Cmd {
        let mut cmd = redis::cmd("CLUSTER");
        match self.kind {
            ServerKind::Valkey => {
                cmd.arg("MIGRATESLOTS").arg("SLOTSRANGE");
                for r in ranges {
                    cmd.arg(r.start).arg(r.end);
                }
                cmd.arg("NODE").arg(&to.id);
            }
            ServerKind::Redis => {
                cmd.arg("MIGRATION").arg("IMPORT");
                for r in ranges {
                    cmd.arg(r.start).arg(r.end);
                }
            }
        }
        cmd
    }

    fn status(&self) -> redis::Cmd {
        let mut cmd = redis::cmd("CLUSTER");
        match self.kind {
            ServerKind::Valkey => cmd.arg("GETSLOTMIGRATIONS"),
            ServerKind::Redis => cmd.arg("MIGRATION").arg("STATUS").arg("ALL"),
        };
        cmd
    }

    /// Valkey cancels every export of the source at once (it has no per-job cancel); the
    /// operator never runs two moves from one source at a time.
    fn cancel(&self, job: &Job) -> redis::Cmd {
        let mut cmd = redis::cmd("CLUSTER");
        match self.kind {
            ServerKind::Valkey => cmd.arg("CANCELSLOTMIGRATIONS"),
            ServerKind::Redis => cmd.arg("MIGRATION").arg("CANCEL").arg("ID").arg(&job.id),
        };
        cmd
    }

    fn name(&self) -> &'static str {
        match self.kind {
            ServerKind::Valkey => "CLUSTER MIGRATESLOTS",
            ServerKind::Redis => "CLUSTER MIGRATION IMPORT",
        }
    }
}

/// What became of a move done atomically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Moved,
    /// Cancelled because the operator was asked to stop (SIGTERM): the slots stayed at the
    /// source, and the next run moves them.
    Stopped,
    /// The job failed, or someone else cancelled it: the slots stayed at the source.
    Ended(Job),
}

/// Moves `ranges` from `from` to `to` in one job, or follows the job already moving slots
/// between them (started by an operator that died); returns once it has ended.
pub(crate) async fn move_slots(
    ctx: &Context,
    kind: ServerKind,
    from: &Peer,
    to: &Peer,
    ranges: &[SlotRange],
) -> Result<Outcome, ActError> {
    let dialect = Dialect { kind };
    let driver = dialect.driver(from, to);
    let before = jobs(ctx, &dialect, driver).await?;
    let job = match before.iter().find(|j| j.is_live_between(from, to)) {
        Some(live) => {
            tracing::info!(job = %live.id, slots = %live.slots, from = %from.name, to = %to.name,
                "following a slot migration job already in flight");
            live.clone()
        }
        None => {
            run_on::<redis::Value>(ctx, driver, dialect.name(), &dialect.start(to, ranges)).await?;
            let after = jobs(ctx, &dialect, driver).await?;
            let started = after.into_iter().find(|j| {
                j.source == from.id && j.target == to.id && !before.iter().any(|b| b.id == j.id)
            });
            let Some(job) = started else {
                let e = redis::RedisError::from((
                    redis::ErrorKind::Client,
                    "the server accepted the migration but lists no job for it",
                ));
                return Err(failed(&driver.name, dialect.name(), e));
            };
            tracing::info!(job = %job.id, slots = %job.slots, from = %from.name, to = %to.name,
                "slot migration job started");
            job
        }
    };
    follow(ctx, &dialect, driver, job).await
}

/// Polls `job` on `driver` until it ends; cancels it when the operator is asked to stop.
async fn follow(
    ctx: &Context,
    dialect: &Dialect,
    driver: &Peer,
    mut job: Job,
) -> Result<Outcome, ActError> {
    let mut cancelled = false;
    loop {
        match job.end() {
            Some(End::Succeeded) => return Ok(Outcome::Moved),
            Some(End::Cancelled) if cancelled => return Ok(Outcome::Stopped),
            Some(_) => return Ok(Outcome::Ended(job)),
            None => {}
        }
        if ctx.moves.stopping() && !cancelled {
            tracing::info!(job = %job.id, "stopping: cancelling the slot migration job");
            run_on::<redis::Value>(ctx, driver, "cancel slot migration", &dialect.cancel(&job))
                .await?;
            cancelled = true;
        }
        tokio::time::sleep(POLL).await;
        let previous = std::mem::take(&mut job.state);
        let now = jobs(ctx, dialect, driver).await?;
        job = match now.into_iter().find(|j| j.id == job.id) {
            Some(j) => j,
            // Jobs are kept after they end; one that vanished went with a restart of its node.
            None => Job {
                state: "failed".into(),
                message: format!("{} no longer lists the job", driver.name),
                ..job
            },
        };
        if job.state != previous {
            tracing::debug!(job = %job.id, state = %job.state, "slot migration job");
        }
        let state = job.end().is_none().then_some(job.state.as_str());
        ctx.moves.job_state(&job.id, state);
    }
}

async fn jobs(ctx: &Context, dialect: &Dialect, driver: &Peer) -> Result<Vec<Job>, ActError> {
    let reply: redis::Value =
        run_on(ctx, driver, "slot migration status", &dialect.status()).await?;
    Ok(parse_jobs(&reply))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> redis::Value {
        redis::Value::BulkString(s.as_bytes().to_vec())
    }

    fn record(pairs: &[(&str, &str)]) -> redis::Value {
        redis::Value::Array(pairs.iter().flat_map(|(k, v)| [bulk(k), bulk(v)]).collect())
    }

    #[test]
    fn reads_valkey_and_redis_job_lists_alike() {
        let valkey = redis::Value::Array(vec![record(&[
            ("name", "ce9a"),
            ("operation", "EXPORT"),
            ("slot_ranges", "0-8000"),
            ("target_node", "b"),
            ("source_node", "a"),
            ("state", "snapshotting"),
            ("message", ""),
            ("cow_size", "0"),
        ])]);
        let redis_ = redis::Value::Array(vec![record(&[
            ("id", "1051"),
            ("slots", "0-8000"),
            ("source", "a"),
            ("dest", "b"),
            ("operation", "import"),
            ("state", "canceled"),
            ("last_error", "Cancelled due to user request"),
            ("retries", "0"),
        ])]);
        let v = parse_jobs(&valkey);
        assert_eq!(
            v,
            vec![Job {
                id: "ce9a".into(),
                operation: "export".into(),
                source: "a".into(),
                target: "b".into(),
                slots: "0-8000".into(),
                state: "snapshotting".into(),
                message: String::new(),
            }]
        );
        assert_eq!(v[0].end(), None);
        let r = parse_jobs(&redis_);
        assert_eq!((r[0].id.as_str(), r[0].target.as_str()), ("1051", "b"));
        assert_eq!(r[0].end(), Some(End::Cancelled));
        assert_eq!(r[0].message, "Cancelled due to user request");
        let map = redis::Value::Array(vec![redis::Value::Map(vec![
            (bulk("name"), bulk("x")),
            (bulk("state"), bulk("success")),
        ])]);
        assert_eq!(parse_jobs(&map)[0].end(), Some(End::Succeeded));
        assert!(parse_jobs(&redis::Value::Array(vec![])).is_empty());
        assert!(parse_jobs(&bulk("OK")).is_empty());
    }

    #[test]
    fn every_end_state_of_both_servers_is_an_end() {
        let ended = |state: &str| {
            Job {
                state: state.into(),
                ..Job::default()
            }
            .end()
        };
        assert_eq!(ended("success"), Some(End::Succeeded));
        assert_eq!(ended("completed"), Some(End::Succeeded));
        assert_eq!(ended("failed"), Some(End::Failed));
        assert_eq!(ended("cancelled"), Some(End::Cancelled));
        assert_eq!(ended("canceled"), Some(End::Cancelled));
        for running in [
            "waiting-to-snapshot",
            "snapshotting",
            "failover-granted",
            "accumulate-buffer",
        ] {
            assert_eq!(ended(running), None, "{running}");
        }
    }

    #[test]
    fn a_live_job_is_found_only_between_the_same_two_nodes() {
        let (a, b, c) = (Peer::test("a", 1), Peer::test("b", 2), Peer::test("c", 3));
        let job = Job {
            id: "j".into(),
            operation: "export".into(),
            source: a.id.clone(),
            target: b.id.clone(),
            state: "snapshotting".into(),
            ..Job::default()
        };
        assert!(job.is_live_between(&a, &b));
        assert!(!job.is_live_between(&a, &c));
        assert!(!job.is_live_between(&b, &a));
        let done = Job {
            state: "success".into(),
            ..job.clone()
        };
        assert!(!done.is_live_between(&a, &b));
    }

    #[test]
    fn valkey_is_driven_from_the_source_and_redis_from_the_target() {
        let (a, b) = (Peer::test("a", 1), Peer::test("b", 2));
        let ranges = [
            SlotRange { start: 0, end: 10 },
            SlotRange { start: 20, end: 20 },
        ];
        let valkey = Dialect {
            kind: ServerKind::Valkey,
        };
        assert_eq!(valkey.driver(&a, &b).name, "a");
        let args = |cmd: redis::Cmd| -> Vec<String> {
            cmd.args_iter()
                .map(|arg| match arg {
                    redis::Arg::Simple(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                    _ => String::new(),
                })
                .collect()
        };
        assert_eq!(
            args(valkey.start(&b, &ranges)).join(" "),
            format!("CLUSTER MIGRATESLOTS SLOTSRANGE 0 10 20 20 NODE {}", b.id)
        );
        let redis_ = Dialect {
            kind: ServerKind::Redis,
        };
        assert_eq!(redis_.driver(&a, &b).name, "b");
        assert_eq!(
            args(redis_.start(&b, &ranges)).join(" "),
            "CLUSTER MIGRATION IMPORT 0 10 20 20"
        );
        let job = Job {
            id: "77".into(),
            ..Job::default()
        };
        assert_eq!(
            args(redis_.cancel(&job)).join(" "),
            "CLUSTER MIGRATION CANCEL ID 77"
        );
    }
}
