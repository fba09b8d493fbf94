//! The TLS side of observation: which certificate each node serves now (a TLS handshake, as
//! any client would make), beside the one its files hold, so the planner can see a
//! certificate renewed or replaced on disk that a node has not loaded yet.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::future::join_all;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::TlsConnector;

use super::{ObservedContainer, RunState};
use crate::runtime::context::Context;
use crate::spec::ClusterSpec;
use crate::tls;
use crate::tls::verify::{self, CertInfo};

/// A handshake on a local bridge takes milliseconds; a node that does not complete one soon
/// is restarting, which the Redis side of observation reports.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_millis(500);

/// One node's certificate: in its files and on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct NodeCertificate {
    /// The certificate in the node's files (serial, expiry), when it can be read.
    pub(crate) file: Option<CertInfo>,
    /// Why its files cannot be loaded, when they cannot (a readable certificate may still be
    /// unusable: another CA's, a key that is not its own…).
    pub(crate) problem: Option<String>,
    /// The serial the node presents in a TLS handshake, when it answered one.
    pub(crate) served: Option<String>,
    /// Why the operator should make this node a new certificate now (generate = true only).
    pub(crate) renew: Option<String>,
}

impl NodeCertificate {
    /// The serial of the files, when they pass every check: nothing else is loaded.
    pub(crate) fn loadable(&self) -> Option<&str> {
        self.file
            .as_ref()
            .filter(|_| self.problem.is_none())
            .map(|c| c.serial.as_str())
    }
}

/// Every running node's certificates, when `[tls]` is on.
pub(super) async fn observe(
    ctx: &Context,
    containers: &BTreeMap<String, ObservedContainer>,
) -> BTreeMap<String, NodeCertificate> {
    let Some(tls_spec) = &ctx.spec.tls else {
        return BTreeMap::new();
    };
    // The files are read and checked on a blocking thread, not on the async runtime.
    let spec = ctx.spec.clone();
    let Ok((material, mut on_disk)) =
        tokio::task::spawn_blocking(move || files(&spec, SystemTime::now())).await
    else {
        return BTreeMap::new();
    };
    let connector = material.as_ref().and_then(connector);
    let asks = ctx.spec.nodes.iter().map(|node| {
        let running = containers
            .get(&node.name)
            .is_some_and(|c| c.state == RunState::Running);
        let connector = connector.clone();
        let mut cert = on_disk.remove(&node.name).unwrap_or_default();
        async move {
            cert.served = match (running, connector) {
                (true, Some(c)) => {
                    let port = node.tls_port.unwrap_or(tls_spec.port);
                    served_serial(&c, node.address, port).await
                }
                _ => None,
            };
            (node.name.clone(), cert)
        }
    });
    join_all(asks).await.into_iter().collect()
}

/// What each node's files hold and whether they are due renewal, plus the first node's
/// material, which the operator presents in its own handshakes.
fn files(
    spec: &ClusterSpec,
    now: SystemTime,
) -> (Option<tls::NodeMaterial>, BTreeMap<String, NodeCertificate>) {
    let Some(tls_spec) = &spec.tls else {
        return (None, BTreeMap::new());
    };
    let material = spec
        .nodes
        .first()
        .and_then(|n| tls::load(tls_spec, &n.name).ok());
    let ours = tls::issue::operator_ca(tls_spec);
    let certs = spec
        .nodes
        .iter()
        .map(|node| {
            // Checked once a pass; the same result says what to load and what to renew.
            let checked = verify::verify_node(tls_spec, node, now);
            let renew = tls::issue::renewal(tls_spec, node, &checked, ours.as_deref(), now)
                .map(|reason| reason.to_string());
            let (file, problem) = match checked {
                Ok(verified) => (Some(verified.cert), None),
                Err(problems) => {
                    let why: Vec<String> = problems.iter().map(ToString::to_string).collect();
                    let path = tls::node_files(tls_spec, &node.name).cert;
                    (verify::read_cert(&path).ok(), Some(why.join("; ")))
                }
            };
            let cert = NodeCertificate {
                file,
                problem,
                served: None,
                renew,
            };
            (node.name.clone(), cert)
        })
        .collect();
    (material, certs)
}

/// A TLS client that trusts the cluster's CA and presents a node's certificate.
fn connector(material: &tls::NodeMaterial) -> Option<TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&material.ca) {
        roots.add(cert.ok()?).ok()?;
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&material.cert)
        .collect::<Result<_, _>>()
        .ok()?;
    let key = PrivateKeyDer::from_pem_slice(&material.key).ok()?;
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .ok()?;
    Some(TlsConnector::from(Arc::new(config)))
}

async fn served_serial(
    connector: &TlsConnector,
    ip: std::net::Ipv4Addr,
    port: u16,
) -> Option<String> {
    let handshake = async {
        let stream = tokio::net::TcpStream::connect((ip, port)).await.ok()?;
        let server = ServerName::IpAddress(std::net::IpAddr::V4(ip).into());
        let tls = connector.connect(server, stream).await.ok()?;
        let leaf = tls.get_ref().1.peer_certificates()?.first()?.clone();
        verify::serial_of_der(&leaf)
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake)
        .await
        .ok()
        .flatten()
}
