//! Checking certificate files the way a TLS peer would, before any container uses them: each
//! present and readable, the key matching its certificate, the certificate signed by the CA,
//! within its validity, and naming the node's address; and every node trusting the same CA,
//! or they could not verify each other on the cluster bus.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::PrivateKeyDer;
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;

use super::{node_files, CertProblem};
use crate::spec::{ClusterSpec, NodeSpec, TlsSpec};

/// What the operator needs to know of a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertInfo {
    /// Hex, as `openssl x509 -serial` shows it.
    pub(crate) serial: String,
    pub(crate) not_after: SystemTime,
    pub(crate) der: Vec<u8>,
}

impl CertInfo {
    /// Whole days until expiry (negative once expired).
    pub(crate) fn days_left(&self, now: SystemTime) -> i64 {
        match self.not_after.duration_since(now) {
            Ok(left) => (left.as_secs() / 86_400) as i64,
            Err(past) => -((past.duration().as_secs() / 86_400) as i64) - 1,
        }
    }
}

/// A node's files that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verified {
    /// The node's certificate.
    pub(crate) cert: CertInfo,
    /// Its CA (DER), which every node must share.
    pub(crate) ca: Vec<u8>,
}

/// Every problem with the cluster's certificate files; empty when TLS is off or all is well.
pub(crate) fn verify(spec: &ClusterSpec, now: SystemTime) -> Vec<CertProblem> {
    let Some(tls) = &spec.tls else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    let mut first_ca: Option<(&str, Vec<u8>)> = None;
    for node in &spec.nodes {
        match verify_node(tls, node, now) {
            Ok(Verified { ca, .. }) => match &first_ca {
                None => first_ca = Some((&node.name, ca)),
                Some((first, der)) if *der != ca => problems.push(CertProblem::new(
                    &node_files(tls, &node.name).ca,
                    format!("this CA differs from {first}'s"),
                    "give every node the same ca.crt: nodes verify each other on the cluster bus",
                )),
                Some(_) => {}
            },
            Err(mut found) => problems.append(&mut found),
        }
    }
    problems
}

/// Reads a PEM certificate file.
pub(crate) fn read_cert(path: &Path) -> Result<CertInfo, CertProblem> {
    let bytes = read(path)?;
    let pem = parse_pem(path, &bytes)?;
    let cert = pem.parse_x509().map_err(|e| not_a_cert(path, e))?;
    Ok(info(&cert, &pem.contents))
}

/// The serial of a DER certificate, spelled as [`CertInfo::serial`].
pub(crate) fn serial_of_der(der: &[u8]) -> Option<String> {
    use x509_parser::prelude::FromDer;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der).ok()?;
    Some(info(&cert, der).serial)
}

fn info(cert: &x509_parser::certificate::X509Certificate<'_>, der: &[u8]) -> CertInfo {
    let secs = cert.validity().not_after.timestamp().max(0) as u64;
    CertInfo {
        serial: cert.raw_serial_as_string().replace(':', "").to_uppercase(),
        not_after: UNIX_EPOCH + Duration::from_secs(secs),
        der: der.to_vec(),
    }
}

/// Checks one node's files; returns its certificate and CA when all is well.
pub(crate) fn verify_node(
    tls: &TlsSpec,
    node: &NodeSpec,
    now: SystemTime,
) -> Result<Verified, Vec<CertProblem>> {
    let files = node_files(tls, &node.name);
    let (cert_bytes, key_bytes, ca_bytes) =
        match (read(&files.cert), read(&files.key), read(&files.ca)) {
            (Ok(c), Ok(k), Ok(a)) => (c, k, a),
            (c, k, a) => return Err([c.err(), k.err(), a.err()].into_iter().flatten().collect()),
        };
    let cert_pem = parse_pem(&files.cert, &cert_bytes).map_err(|p| vec![p])?;
    let ca_pem = parse_pem(&files.ca, &ca_bytes).map_err(|p| vec![p])?;
    let cert = cert_pem
        .parse_x509()
        .map_err(|e| vec![not_a_cert(&files.cert, e)])?;
    let ca = ca_pem
        .parse_x509()
        .map_err(|e| vec![not_a_cert(&files.ca, e)])?;
    let mut problems = Vec::new();
    if let Err(what) = key_matches(&key_bytes, cert.public_key().raw) {
        problems.push(CertProblem::new(
            &files.key,
            what,
            format!("use the key {} was issued for", files.cert.display()),
        ));
    }
    if cert.verify_signature(Some(ca.public_key())).is_err() {
        problems.push(CertProblem::new(
            &files.cert,
            format!("not signed by the CA in {}", files.ca.display()),
            "issue it from that CA, or put the CA that issued it in ca.crt",
        ));
    }
    let info = info(&cert, &cert_pem.contents);
    let not_before = cert.validity().not_before.timestamp();
    if info.not_after < now {
        problems.push(CertProblem::new(
            &files.cert,
            format!(
                "expired on {}",
                humantime::format_rfc3339_seconds(info.not_after)
            ),
            "issue a new one (or delete it and keep [tls].generate = true)",
        ));
    } else if UNIX_EPOCH + Duration::from_secs(not_before.max(0) as u64) > now {
        problems.push(CertProblem::new(
            &files.cert,
            "not valid yet",
            "check the clock of the machine that issued it",
        ));
    }
    if !names_ip(&cert, node.address) {
        problems.push(CertProblem::new(
            &files.cert,
            format!(
                "its subject alternative names do not include IP {}",
                node.address
            ),
            format!(
                "issue it with IP:{} among its SANs: clients and peers connect by address",
                node.address
            ),
        ));
    }
    if problems.is_empty() {
        Ok(Verified {
            cert: info,
            ca: ca_pem.contents.clone(),
        })
    } else {
        Err(problems)
    }
}

fn read(path: &Path) -> Result<Vec<u8>, CertProblem> {
    std::fs::read(path).map_err(|e| {
        let what = if e.kind() == std::io::ErrorKind::NotFound {
            "missing".to_string()
        } else {
            format!("cannot read it ({e})")
        };
        CertProblem::new(
            path,
            what,
            "put the node's file there (certs_dir/<node>/redis.crt, redis.key, ca.crt), or set [tls].generate = true",
        )
    })
}

fn parse_pem(path: &Path, bytes: &[u8]) -> Result<Pem, CertProblem> {
    x509_parser::pem::parse_x509_pem(bytes)
        .map(|(_, pem)| pem)
        .map_err(|_| {
            CertProblem::new(
                path,
                "not a PEM certificate",
                "use the PEM (-----BEGIN CERTIFICATE-----) form",
            )
        })
}

fn not_a_cert(path: &Path, e: impl std::fmt::Display) -> CertProblem {
    CertProblem::new(
        path,
        format!("not a readable X.509 certificate ({e})"),
        "use the PEM form of the certificate",
    )
}

/// The private key's public half is the certificate's.
fn key_matches(key_pem: &[u8], cert_spki: &[u8]) -> Result<(), String> {
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|_| "not a PEM private key (PKCS#8, PKCS#1 or SEC1)".to_string())?;
    let signer = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| format!("a private key of a kind TLS cannot use ({e})"))?;
    let public = signer
        .public_key()
        .ok_or_else(|| "a private key whose public half cannot be derived".to_string())?;
    if public.as_ref() == cert_spki {
        Ok(())
    } else {
        Err("this key does not match the certificate".into())
    }
}

fn names_ip(cert: &x509_parser::certificate::X509Certificate<'_>, ip: Ipv4Addr) -> bool {
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return false;
    };
    san.value
        .general_names
        .iter()
        .any(|n| matches!(n, GeneralName::IPAddress(bytes) if *bytes == ip.octets()))
}
