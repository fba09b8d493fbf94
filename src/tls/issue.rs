//! Making certificates when `[tls].generate` allows it: a CA kept in `<certs_dir>` (made once,
//! then reused), and for each node whose files are missing, or whose generated certificate is
//! within `renew_before_days` of expiry, a certificate naming the node's IP, 127.0.0.1, the
//! node name and its container name.
//!
//! A node whose files were brought by the user (their ca.crt is not the operator's CA) is
//! never overwritten: reissuing it from another CA would split the cluster's trust.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

use super::verify::{verify_node, Verified};
use super::{ca_files, node_files, write_file, CertProblem};
use crate::spec::{ClusterSpec, NodeSpec, TlsSpec};

/// A generated node certificate lives a year; the CA ten.
const NODE_DAYS: u64 = 365;
const CA_DAYS: u64 = 3650;

/// Why a node gets a new certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    Missing,
    Expiring {
        days_left: i64,
    },
    /// A generated certificate that no longer fits: its node's address changed in
    /// cluster.toml, or an earlier run stopped between writing its files.
    Unfit,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Missing => write!(f, "its files are missing"),
            Reason::Expiring { days_left } => write!(f, "it expires in {days_left} days"),
            Reason::Unfit => write!(f, "it no longer fits the node"),
        }
    }
}

/// Which nodes need a certificate made now, and why. Empty unless `generate` is on.
pub(crate) fn due(spec: &ClusterSpec, now: SystemTime) -> Vec<(String, Reason)> {
    let Some(tls) = spec.tls.as_ref().filter(|t| t.generate) else {
        return Vec::new();
    };
    let ours = operator_ca(tls);
    spec.nodes
        .iter()
        .filter_map(|node| {
            let checked = verify_node(tls, node, now);
            let reason = renewal(tls, node, &checked, ours.as_deref(), now)?;
            Some((node.name.clone(), reason))
        })
        .collect()
}

/// The operator's CA certificate as its file holds it, when there is one.
pub(crate) fn operator_ca(tls: &TlsSpec) -> Option<Vec<u8>> {
    std::fs::read(ca_files(tls).0).ok()
}

/// Why `node` needs a certificate made now, given its files' check (`checked`) and the
/// operator's CA file (`ours`): files missing, or, for a node the operator's CA issued, a
/// certificate that no longer fits or is inside `renew_before_days`. None with `generate` off.
pub(crate) fn renewal(
    tls: &TlsSpec,
    node: &NodeSpec,
    checked: &Result<Verified, Vec<CertProblem>>,
    ours: Option<&[u8]>,
    now: SystemTime,
) -> Option<Reason> {
    if !tls.generate {
        return None;
    }
    let files = node_files(tls, &node.name);
    if !(files.cert.exists() && files.key.exists() && files.ca.exists()) {
        return Some(Reason::Missing);
    }
    let generated = ours.is_some() && std::fs::read(&files.ca).ok().as_deref() == ours;
    if !generated {
        return None;
    }
    match checked {
        // Files changed a moment ago may be someone's copy half done: look again later.
        Err(_) if recently_written(&[&files.cert, &files.key], now) => None,
        Err(_) => Some(Reason::Unfit),
        Ok(verified) => {
            let days_left = verified.cert.days_left(now);
            (days_left < i64::from(tls.renew_before_days)).then_some(Reason::Expiring { days_left })
        }
    }
}

/// How long a file is left alone after it changed before it is judged.
const SETTLE: Duration = Duration::from_secs(5);

fn recently_written(paths: &[&std::path::Path], now: SystemTime) -> bool {
    paths.iter().any(|p| {
        std::fs::metadata(p)
            .and_then(|m| m.modified())
            .is_ok_and(|at| now.duration_since(at).map_or(true, |age| age < SETTLE))
    })
}

/// Makes every certificate `due` asks for; returns the nodes it made them for.
pub fn ensure(spec: &ClusterSpec, now: SystemTime) -> Result<Vec<(String, Reason)>, CertProblem> {
    let due = due(spec, now);
    let Some(tls) = spec.tls.as_ref().filter(|_| !due.is_empty()) else {
        return Ok(Vec::new());
    };
    let (ca_pem, issuer) = ca(tls, &spec.name, now)?;
    for (name, _) in &due {
        if let Some(node) = spec.node(name) {
            issue_node(tls, node, &spec.container_name(node), &ca_pem, &issuer, now)?;
        }
    }
    Ok(due)
}

/// The operator's CA: loaded when present, else made and saved.
fn ca(
    tls: &TlsSpec,
    cluster: &str,
    now: SystemTime,
) -> Result<(String, Issuer<'static, KeyPair>), CertProblem> {
    let (cert_path, key_path) = ca_files(tls);
    let invalid = |path: &std::path::Path, e: rcgen::Error| {
        CertProblem::new(
            path,
            format!("cannot use it as the CA ({e})"),
            "remove ca.crt and ca.key from certs_dir to have a new CA made, or bring every node's files with [tls].generate = false",
        )
    };
    if let (Ok(cert), Ok(key)) = (
        std::fs::read_to_string(&cert_path),
        std::fs::read_to_string(&key_path),
    ) {
        let key = KeyPair::from_pem(&key).map_err(|e| invalid(&key_path, e))?;
        let issuer = Issuer::from_ca_cert_pem(&cert, key).map_err(|e| invalid(&cert_path, e))?;
        return Ok((cert, issuer));
    }
    let key = KeyPair::generate().map_err(|e| invalid(&key_path, e))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = name(&format!("redis-keeper CA ({cluster})"));
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut params, now, CA_DAYS);
    let cert = params
        .self_signed(&key)
        .map_err(|e| invalid(&cert_path, e))?;
    write_file(&key_path, key.serialize_pem().as_bytes(), true)?;
    write_file(&cert_path, cert.pem().as_bytes(), false)?;
    Ok((cert.pem(), Issuer::new(params, key)))
}

fn issue_node(
    tls: &TlsSpec,
    node: &NodeSpec,
    container: &str,
    ca_pem: &str,
    issuer: &Issuer<'static, KeyPair>,
    now: SystemTime,
) -> Result<(), CertProblem> {
    let files = node_files(tls, &node.name);
    let failed = |e: rcgen::Error| {
        CertProblem::new(
            &files.cert,
            format!("cannot issue it ({e})"),
            "bring the node's files yourself with [tls].generate = false",
        )
    };
    let key = KeyPair::generate().map_err(failed)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = name(&node.name);
    // On a host, peers and clients connect by the host's address, not the container's.
    params.subject_alt_names = vec![
        SanType::IpAddress(IpAddr::V4(node.address)),
        SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        SanType::DnsName(node.name.clone().try_into().map_err(failed)?),
        SanType::DnsName(container.to_string().try_into().map_err(failed)?),
    ];
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    // Server for clients, client for its peers on the cluster bus and for the operator.
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    validity(&mut params, now, NODE_DAYS);
    let cert = params.signed_by(&key, issuer).map_err(failed)?;
    // Key first: a certificate is never on disk without its key.
    write_file(&files.key, key.serialize_pem().as_bytes(), true)?;
    write_file(&files.ca, ca_pem.as_bytes(), false)?;
    write_file(&files.cert, cert.pem().as_bytes(), false)
}

/// The API's HTTPS certificate and key (PEM), from `<certs_dir>/api/{api.crt,api.key}`: the
/// files there when present (brought, or made earlier), else made from the operator's CA for
/// `ip`, 127.0.0.1 and localhost when `generate` allows it.
pub(crate) fn api_certificate(
    tls: &TlsSpec,
    cluster: &str,
    ip: IpAddr,
    now: SystemTime,
) -> Result<(Vec<u8>, Vec<u8>), CertProblem> {
    let dir = tls.certs_dir.join("api");
    let (cert_path, key_path) = (dir.join("api.crt"), dir.join("api.key"));
    if let (Ok(cert), Ok(key)) = (std::fs::read(&cert_path), std::fs::read(&key_path)) {
        return Ok((cert, key));
    }
    if !tls.generate {
        return Err(CertProblem::new(
            &cert_path,
            "missing (HTTPS for the API needs it and its key, api.key)",
            "put a certificate for the listen address there, or set [tls].generate = true",
        ));
    }
    let (_, issuer) = ca(tls, cluster, now)?;
    let failed = |e: rcgen::Error| {
        CertProblem::new(
            &cert_path,
            format!("cannot issue it ({e})"),
            "bring it yourself",
        )
    };
    let key = KeyPair::generate().map_err(failed)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = name("redis-keeper API");
    let mut sans = vec![
        SanType::IpAddress(ip),
        SanType::DnsName("localhost".to_string().try_into().map_err(failed)?),
    ];
    if ip != IpAddr::V4(Ipv4Addr::LOCALHOST) {
        sans.push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    }
    params.subject_alt_names = sans;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    validity(&mut params, now, NODE_DAYS);
    let cert = params.signed_by(&key, &issuer).map_err(failed)?;
    write_file(&key_path, key.serialize_pem().as_bytes(), true)?;
    write_file(&cert_path, cert.pem().as_bytes(), false)?;
    Ok((cert.pem().into_bytes(), key.serialize_pem().into_bytes()))
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}

/// Valid from an hour ago (clocks drift) for `days`.
fn validity(params: &mut CertificateParams, now: SystemTime, days: u64) {
    let start = now - Duration::from_secs(3600);
    params.not_before = start.into();
    params.not_after = (now + Duration::from_secs(days * 86_400)).into();
}
