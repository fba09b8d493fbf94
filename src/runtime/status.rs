//! The operator's status, as data: Kubernetes-style conditions, the last reconcile, and a
//! bounded list of recent events (every action taken: what, why, outcome, duration).
//!
//! `run` keeps it up to date and writes it as JSON to the state folder after every pass;
//! `status` reads it back to show what the operator is doing and did.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

pub use crate::actions::slots::progress::MoveProgress;
use crate::actions::Applied;

/// How many recent events are kept.
pub(crate) const EVENT_LIMIT: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum ConditionType {
    /// The cluster is healthy and as declared.
    Ready,
    /// The operator is acting, or waiting for Redis to settle after acting.
    Progressing,
    /// The operator cannot reach the goal: drift it will not repair, or repeated errors.
    Degraded,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Condition {
    #[serde(rename = "type")]
    pub(crate) kind: ConditionType,
    pub status: bool,
    pub reason: String,
    pub message: String,
    pub last_transition_time: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Event {
    pub at: String,
    /// The kind of action (`start-container`, `forget`, …).
    pub action: String,
    pub message: String,
    pub why: String,
    /// `ok`, or the error.
    pub outcome: String,
    pub took_ms: u64,
    /// How many times this same action ended this same way in a row (a stalled plan is one
    /// event counting up, not a log full of copies); `at` is the latest.
    #[serde(default = "one")]
    pub repeats: u32,
}

fn one() -> u32 {
    1
}

/// How far back an event is looked for to fold a repeat into: the events of a few passes.
const REPEAT_WINDOW: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct LastReconcile {
    pub(crate) at: String,
    pub(crate) took_ms: u64,
    pub(crate) actions: usize,
    pub(crate) result: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OperatorStatus {
    pub(crate) cluster: String,
    pub pid: u32,
    pub started_at: String,
    pub conditions: Vec<Condition>,
    pub(crate) last_reconcile: Option<LastReconcile>,
    /// Reconcile passes since the operator started: on an idle cluster, one per resync.
    #[serde(default)]
    pub reconciles: u64,
    #[schema(value_type = Vec<Event>)]
    pub events: VecDeque<Event>,
    /// The slot moves of the pass in flight, while a long one runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moving: Option<MoveProgress>,
}

pub(crate) fn now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

impl OperatorStatus {
    pub fn new(cluster: &str) -> OperatorStatus {
        let at = now();
        let condition = |kind, reason: &str| Condition {
            kind,
            status: false,
            reason: reason.into(),
            message: String::new(),
            last_transition_time: at.clone(),
        };
        OperatorStatus {
            cluster: cluster.to_string(),
            pid: std::process::id(),
            started_at: at.clone(),
            conditions: vec![
                condition(ConditionType::Ready, "Starting"),
                condition(ConditionType::Progressing, "Starting"),
                condition(ConditionType::Degraded, "Starting"),
            ],
            last_reconcile: None,
            reconciles: 0,
            events: VecDeque::new(),
            moving: None,
        }
    }

    pub fn condition(&self, kind: ConditionType) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.kind == kind)
    }

    /// Sets a condition; its transition time moves only when its status flips.
    pub(crate) fn set(
        &mut self,
        kind: ConditionType,
        status: bool,
        reason: &str,
        message: impl Into<String>,
    ) {
        let at = now();
        if let Some(c) = self.conditions.iter_mut().find(|c| c.kind == kind) {
            if c.status != status {
                c.last_transition_time = at;
            }
            c.status = status;
            c.reason = reason.to_string();
            c.message = message.into();
        }
    }

    /// Records an applied action as an event, keeping the newest [`EVENT_LIMIT`]; returns it.
    /// The same action ending the same way as one of the latest events counts up that event
    /// instead, and moves it to the end.
    pub(crate) fn record(&mut self, applied: &Applied) -> Event {
        let mut event = Event {
            at: now(),
            action: applied.action.kind().to_string(),
            message: applied.action.to_string(),
            why: applied.action.why().to_string(),
            outcome: match &applied.result {
                Ok(()) => "ok".into(),
                Err(e) => format!("error: {e}"),
            },
            took_ms: applied.took.as_millis() as u64,
            repeats: 1,
        };
        let recent = self.events.len().saturating_sub(REPEAT_WINDOW);
        let same = (recent..self.events.len()).rev().find(|&i| {
            let e = &self.events[i];
            e.action == event.action && e.message == event.message && e.outcome == event.outcome
        });
        if let Some(earlier) = same.and_then(|i| self.events.remove(i)) {
            event.repeats = earlier.repeats.saturating_add(1);
        }
        self.events.push_back(event.clone());
        while self.events.len() > EVENT_LIMIT {
            self.events.pop_front();
        }
        event
    }

    pub(crate) fn reconciled(&mut self, took: Duration, actions: usize, result: impl Into<String>) {
        self.reconciles += 1;
        self.last_reconcile = Some(LastReconcile {
            at: now(),
            took_ms: took.as_millis() as u64,
            actions,
            result: result.into(),
        });
    }

    /// Writes the status atomically (a reader never sees half a file).
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        crate::files::write_atomic(path, &text, crate::files::PUBLIC)
    }

    /// [`write`](Self::write) on a blocking thread, so the reconcile loop never waits on the
    /// disk's sync.
    pub(crate) async fn save(&self, path: &Path) -> std::io::Result<()> {
        let (status, path) = (self.clone(), path.to_path_buf());
        tokio::task::spawn_blocking(move || status.write(&path))
            .await
            .map_err(std::io::Error::other)?
    }

    pub fn read(path: &Path) -> Option<OperatorStatus> {
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    }
}

/// Where `run` writes the status of a cluster.
pub(crate) fn path(state_dir: &Path, cluster: &str) -> PathBuf {
    state_dir.join(format!("{cluster}.status.json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::StartContainer;

    #[test]
    fn transition_time_moves_only_when_the_status_flips() {
        let mut s = OperatorStatus::new("dev");
        s.set(ConditionType::Ready, true, "AsDeclared", "");
        let first = s
            .condition(ConditionType::Ready)
            .unwrap()
            .last_transition_time
            .clone();
        std::thread::sleep(Duration::from_millis(5));
        s.set(ConditionType::Ready, true, "AsDeclared", "still");
        let c = s.condition(ConditionType::Ready).unwrap();
        assert_eq!(c.last_transition_time, first);
        assert_eq!(c.message, "still");
        std::thread::sleep(Duration::from_millis(5));
        s.set(ConditionType::Ready, false, "Repairing", "");
        assert_ne!(
            s.condition(ConditionType::Ready)
                .unwrap()
                .last_transition_time,
            first
        );
    }

    #[test]
    fn a_repeated_action_counts_up_one_event() {
        let mut s = OperatorStatus::new("dev");
        let start = |node: &str| Applied {
            action: StartContainer {
                node: node.into(),
                container: "c".into(),
            }
            .into(),
            took: Duration::from_millis(3),
            result: Ok(()),
        };
        for _ in 0..50 {
            s.record(&start("a"));
            s.record(&start("b"));
        }
        assert_eq!(s.events.len(), 2);
        assert_eq!(s.events[0].repeats, 50);
        assert!(s.events[1].message.contains('b'));
        s.record(&start("a"));
        assert_eq!(s.events.len(), 2);
        assert!(
            s.events[1].message.contains('a'),
            "the latest moves to the end"
        );
        assert_eq!(s.events[1].repeats, 51);
    }

    #[test]
    fn events_are_bounded_and_the_file_round_trips() {
        let mut s = OperatorStatus::new("dev");
        for i in 0..(EVENT_LIMIT + 5) {
            s.record(&Applied {
                action: StartContainer {
                    node: format!("n{i}"),
                    container: "c".into(),
                }
                .into(),
                took: Duration::from_millis(3),
                result: Ok(()),
            });
        }
        assert_eq!(s.events.len(), EVENT_LIMIT);
        assert!(s.events[0].message.contains("n5"));
        let dir = tempfile::tempdir().unwrap();
        let file = path(dir.path(), "dev");
        s.write(&file).unwrap();
        assert_eq!(OperatorStatus::read(&file), Some(s));
    }
}
