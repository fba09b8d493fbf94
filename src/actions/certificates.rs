//! TLS certificates: made from the operator's CA when `[tls].generate` asks, and loaded into
//! a running node live.

use std::fmt;

use bollard::query_parameters::UploadToContainerOptionsBuilder;

use super::container_files::{append_tls, tls_material};
use super::redis::run;
use super::{ActError, Kind, Stage};
use crate::docker::DockerError;
use crate::runtime::context::Context;

/// Make new certificates from the operator's CA (`[tls].generate`): missing files, a
/// certificate inside renew_before_days of expiry, or one that no longer fits its node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueCertificates {
    /// Node and why.
    pub(crate) nodes: Vec<(String, String)>,
}

impl Kind for IssueCertificates {
    const NAME: &'static str = "issue-certificates";
    const STAGE: Stage = Stage::Image;

    fn why(&self) -> &'static str {
        "a generated certificate is missing, expiring or no longer fits its node"
    }

    async fn apply(&self, ctx: &Context) -> Result<(), ActError> {
        // Key generation and file writes: on a blocking thread.
        let spec = ctx.spec.clone();
        tokio::task::spawn_blocking(move || {
            crate::tls::issue::ensure(&spec, std::time::SystemTime::now())
        })
        .await??;
        Ok(())
    }
}

impl fmt::Display for IssueCertificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: Vec<String> = self
            .nodes
            .iter()
            .map(|(n, why)| format!("{n} ({why})"))
            .collect();
        write!(f, "issue new certificates for {}", shown.join(", "))
    }
}

/// Write the node's certificate files into its container and have Redis load them live
/// (CONFIG SET of the TLS files): new connections get the new certificate, the cluster-bus
/// links stay up, nothing restarts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadCertificates {
    pub(crate) node: String,
    /// The serial it serves now, and the one its files hold.
    pub(crate) served: String,
    pub(crate) file: String,
}

impl Kind for LoadCertificates {
    const NAME: &'static str = "load-certificates";
    const STAGE: Stage = Stage::Config;

    fn why(&self) -> &'static str {
        "the node serves another certificate than its files hold (renewed or replaced)"
    }

    async fn apply(&self, ctx: &Context) -> Result<(), ActError> {
        let node = &self.node;
        let (Some(spec), Some(material)) = (ctx.spec.node(node), tls_material(ctx, node)?) else {
            return Ok(());
        };
        let name = ctx.spec.container_name(spec);
        let pack = |e: std::io::Error| {
            DockerError::api(format!("pack the certificates of {name}"))(
                bollard::errors::Error::IOError { err: e },
            )
        };
        let mut tar = tar::Builder::new(Vec::new());
        append_tls(&mut tar, &material).map_err(pack)?;
        let tar = tar.into_inner().map_err(pack)?;
        let options = UploadToContainerOptionsBuilder::new().path("/etc").build();
        ctx.docker_of_container(&name)?
            .upload_to_container(&name, Some(options), bollard::body_full(tar.into()))
            .await
            .map_err(DockerError::api(format!(
                "write the certificates into {name}"
            )))?;
        reload(ctx, node).await
    }
}

impl fmt::Display for LoadCertificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "load {}'s certificate {} live in place of {} (CONFIG SET, no restart)",
            self.node, self.file, self.served
        )
    }
}

/// Has the node re-read its TLS files (same paths, new contents): TLS file settings are
/// re-applied by CONFIG SET even when the path is unchanged. All three at once, so the
/// certificate and key never disagree.
async fn reload(ctx: &Context, node: &str) -> Result<(), ActError> {
    let mut cmd = redis::cmd("CONFIG");
    cmd.arg("SET");
    for (setting, file) in [
        ("tls-cert-file", crate::tls::CERT_FILE),
        ("tls-key-file", crate::tls::KEY_FILE),
        ("tls-ca-cert-file", crate::tls::CA_FILE),
    ] {
        cmd.arg(setting)
            .arg(format!("{}/{file}", crate::docker::blueprint::TLS_DIR));
    }
    run(ctx, node, "CONFIG SET tls-*", cmd).await
}
