//! What `up` shows while it works: step by step on a terminal, plain log lines otherwise.

use std::io::{IsTerminal, Write};

use crate::actions::Applied;
use crate::plan::Plan;
use crate::runtime::reconcile::Observer;

pub(crate) enum Progress {
    /// A person is watching: one line per action, and a live "waiting for" line.
    Terminal { waiting: Option<String> },
    /// Logs (or a machine) are watching: tracing events, waiting logged when it changes.
    Log { waiting: Vec<String> },
}

impl Progress {
    pub(crate) fn for_stderr(json_logs: bool) -> Progress {
        if !json_logs && std::io::stderr().is_terminal() {
            Progress::Terminal { waiting: None }
        } else {
            Progress::Log {
                waiting: Vec::new(),
            }
        }
    }

    /// Clears the live line before the final message.
    pub(crate) fn finish(&mut self) {
        if let Progress::Terminal { waiting: Some(_) } = self {
            eprint!("\r\x1b[2K");
        }
    }
}

impl Observer for Progress {
    fn planned(&mut self, plan: &Plan) {
        if !plan.actions.is_empty() {
            return;
        }
        match self {
            Progress::Terminal { waiting } => {
                let line = plan.waiting.first().map(|w| {
                    let more = plan.waiting.len() - 1;
                    if more > 0 {
                        format!("{w} (+{more} more)")
                    } else {
                        w.clone()
                    }
                });
                if line != *waiting {
                    match &line {
                        Some(l) => eprint!("\r\x1b[2K  … waiting: {l}"),
                        None => eprint!("\r\x1b[2K"),
                    }
                    let _ = std::io::stderr().flush();
                    *waiting = line;
                }
            }
            Progress::Log { waiting } => {
                if plan.waiting != *waiting {
                    if !plan.waiting.is_empty() {
                        tracing::info!(waiting = ?plan.waiting, "waiting for the cluster to settle");
                    }
                    *waiting = plan.waiting.clone();
                }
            }
        }
    }

    fn applied(&mut self, applied: &Applied) {
        let ms = applied.took.as_millis();
        match self {
            Progress::Terminal { waiting } => {
                if waiting.take().is_some() {
                    eprint!("\r\x1b[2K");
                }
                match &applied.result {
                    Ok(()) => eprintln!("  ✓ {} ({ms} ms)", applied.action),
                    Err(e) => eprintln!("  ✗ {}: {e}", applied.action),
                }
            }
            Progress::Log { .. } => match &applied.result {
                Ok(()) => tracing::info!(
                    action = applied.action.kind(),
                    took_ms = ms as u64,
                    "{}",
                    applied.action
                ),
                Err(e) => {
                    tracing::warn!(action = applied.action.kind(), took_ms = ms as u64, error = %e, "{}", applied.action)
                }
            },
        }
    }
}
