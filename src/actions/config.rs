//! Settings put back live: what cluster.toml's `[redis]` and the operator itself set on every
//! node, where someone changed it with CONFIG SET.

use std::fmt;

use super::redis::run_on;
use super::{ActError, Kind, Peer, Stage};
use crate::runtime::context::Context;

/// CONFIG SET the settings that differ on this node; no restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetConfig {
    pub(crate) node: Peer,
    pub(crate) settings: Vec<(String, String)>,
}

impl Kind for SetConfig {
    const NAME: &'static str = "set-config";
    const STAGE: Stage = Stage::Config;

    fn why(&self) -> &'static str {
        "a setting differs from what cluster.toml declares"
    }

    async fn apply(&self, ctx: &Context) -> Result<(), ActError> {
        let mut cmd = redis::cmd("CONFIG");
        cmd.arg("SET");
        for (k, v) in &self.settings {
            cmd.arg(k).arg(v);
        }
        run_on(ctx, &self.node, "CONFIG SET", &cmd)
            .await
            .map_err(|e| match e {
                // Redis said no (an unknown parameter, a bad value): retrying will not change
                // that.
                ActError::Redis {
                    node,
                    command,
                    source,
                    ..
                } if matches!(source.kind(), redis::ErrorKind::Server(_)) => ActError::Redis {
                    node,
                    command,
                    source,
                    permanent: true,
                },
                other => other,
            })
    }
}

impl fmt::Display for SetConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: Vec<String> = self
            .settings
            .iter()
            .map(|(k, v)| format!("{k} {}", crate::spec::shown_setting(k, v)))
            .collect();
        write!(
            f,
            "set {} on {} (CONFIG SET, no restart)",
            shown.join(", "),
            self.node.name
        )
    }
}
