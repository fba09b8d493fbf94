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
use crate::context::Context;
use crate::tls::{self, verify};

/// A handshake on a local bridge takes milliseconds; a node that does not complete one soon
/// is restarting, which the Redis side of observation reports.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_millis(500);

/// One node's certificate: in its files and on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeCertificate {
    /// The serial in the node's files, when they pass every check (nothing else is loaded).
    pub file: Option<String>,
    /// The serial the node presents in a TLS handshake, when it answered one.
    pub served: Option<String>,
    /// Why the operator should make this node a new certificate now (generate = true only).
    pub renew: Option<String>,
    /// Why its files cannot be loaded, when they cannot.
    pub problem: Option<String>,
    /// When the certificate in its files expires, when they can be read.
    pub expires: Option<SystemTime>,
}

/// Every running node's certificates, when `[tls]` is on.
pub(super) async fn observe(
    ctx: &Context,
    containers: &BTreeMap<String, ObservedContainer>,
) -> BTreeMap<String, NodeCertificate> {
    let Some(tls_spec) = &ctx.spec.tls else {
        return BTreeMap::new();
    };
    let connector = ctx.spec.nodes.first().and_then(|n| {
        let material = tls::load(tls_spec, &n.name).ok()?;
        connector(&material)
    });
    let now = SystemTime::now();
    let due = tls::issue::due(&ctx.spec, now);
    let due = &due;
    let asks = ctx.spec.nodes.iter().map(|node| {
        let running = containers
            .get(&node.name)
            .is_some_and(|c| c.state == RunState::Running);
        let connector = connector.clone();
        async move {
            let checked = verify::verify_node(tls_spec, node, now);
            let problem = checked.as_ref().err().map(|p| {
                p.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            });
            let on_disk = verify::read_cert(&tls::node_files(tls_spec, &node.name).cert).ok();
            let expires = on_disk.as_ref().map(|c| c.not_after);
            let file = on_disk.filter(|_| checked.is_ok()).map(|c| c.serial);
            let served = match (running, connector) {
                (true, Some(c)) => served_serial(&c, node.ip, tls_spec.port).await,
                _ => None,
            };
            let renew = due
                .iter()
                .find(|(n, _)| *n == node.name)
                .map(|(_, reason)| reason.to_string());
            let cert = NodeCertificate {
                file,
                served,
                renew,
                problem,
                expires,
            };
            (node.name.clone(), cert)
        }
    });
    join_all(asks).await.into_iter().collect()
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
