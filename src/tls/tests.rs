//! Certificates made, checked and broken on disk, in a temporary folder.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::issue::{due, ensure, Reason};
use super::verify::{read_cert, verify};
use super::*;
use crate::spec::ClusterSpec;

const DAY: Duration = Duration::from_secs(86_400);

fn spec_in(dir: &Path) -> ClusterSpec {
    let text = crate::spec::test_support::REFERENCE_TOML
        .replace("[tls]\n", "[tls]\ncerts_dir = \"certs\"\n");
    ClusterSpec::parse(&text, &dir.join("cluster.toml")).expect("valid spec")
}

fn problems_for(spec: &ClusterSpec, now: SystemTime) -> Vec<String> {
    verify(spec, now).iter().map(ToString::to_string).collect()
}

#[test]
fn generated_certificates_verify_and_the_ca_is_reused() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_in(dir.path());
    let now = SystemTime::now();
    let made = ensure(&spec, now).unwrap();
    assert_eq!(made.len(), 3);
    assert!(made.iter().all(|(_, r)| *r == Reason::Missing));
    assert_eq!(problems_for(&spec, now), Vec::<String>::new());
    let tls = spec.tls.as_ref().unwrap();
    for node in &spec.nodes {
        let mode = std::fs::metadata(node_files(tls, &node.name).key)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{}'s key is private", node.name);
    }
    assert_eq!(
        std::fs::metadata(dir.path().join("certs/ca.key"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let ca = std::fs::read(dir.path().join("certs/ca.crt")).unwrap();
    std::fs::remove_dir_all(dir.path().join("certs/redis-2")).unwrap();
    let again = ensure(&spec, now).unwrap();
    assert_eq!(again, vec![("redis-2".to_string(), Reason::Missing)]);
    assert_eq!(
        std::fs::read(dir.path().join("certs/ca.crt")).unwrap(),
        ca,
        "CA reused"
    );
    assert_eq!(problems_for(&spec, now), Vec::<String>::new());
    assert!(
        ensure(&spec, now).unwrap().is_empty(),
        "nothing left to make"
    );
}

/// A crash between writing a certificate and renaming it once left a world-readable temp file
/// that the next key was written into and renamed into place.
#[test]
fn a_key_is_private_even_when_a_crash_left_a_readable_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_in(dir.path());
    let tls = spec.tls.as_ref().unwrap();
    let files = node_files(tls, "redis-1");
    std::fs::create_dir_all(files.key.parent().unwrap()).unwrap();
    for leftover in [
        files.key.with_extension("tmp"),
        files.cert.with_extension("tmp"),
    ] {
        std::fs::write(&leftover, "torn").unwrap();
        std::fs::set_permissions(&leftover, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    ensure(&spec, SystemTime::now()).unwrap();
    for node in &spec.nodes {
        let key = node_files(tls, &node.name).key;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}'s key is private", node.name);
    }
}

#[test]
fn every_bad_certificate_is_named_by_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_in(dir.path());
    let now = SystemTime::now();
    ensure(&spec, now).unwrap();
    let tls = spec.tls.as_ref().unwrap();
    let (one, two, three) = (
        node_files(tls, "redis-1"),
        node_files(tls, "redis-2"),
        node_files(tls, "redis-3"),
    );
    // redis-1: a key that is not its certificate's.
    std::fs::copy(&two.key, &one.key).unwrap();
    // redis-3: its certificate gone.
    std::fs::remove_file(&three.cert).unwrap();
    let found = problems_for(&spec, now);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(found[0].starts_with(&format!(
        "{}: this key does not match the certificate",
        one.key.display()
    )));
    assert!(found[1].starts_with(&format!("{}: missing", three.cert.display())));
}

#[test]
fn a_certificate_from_another_ca_expired_or_for_another_address_is_refused() {
    let (mine, theirs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (spec, other) = (spec_in(mine.path()), spec_in(theirs.path()));
    let now = SystemTime::now();
    ensure(&spec, now).unwrap();
    ensure(&other, now - 400 * DAY).unwrap();
    let tls = spec.tls.as_ref().unwrap();
    let foreign = node_files(other.tls.as_ref().unwrap(), "redis-2");
    let two = node_files(tls, "redis-2");
    // Another CA's (and long expired) certificate with its own key, under our CA.
    std::fs::copy(&foreign.cert, &two.cert).unwrap();
    std::fs::copy(&foreign.key, &two.key).unwrap();
    let found = problems_for(&spec, now);
    assert!(
        found
            .iter()
            .any(|p| p.contains("redis-2/redis.crt: not signed by the CA")),
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .any(|p| p.contains("redis-2/redis.crt: expired on")),
        "{found:#?}"
    );
    // An address cluster.toml moved the node to, that its certificate does not name.
    let mut moved = spec.clone();
    moved.nodes[0].ip = "172.20.2.99".parse().unwrap();
    moved.nodes[0].address = moved.nodes[0].ip;
    let found = problems_for(&moved, now);
    assert!(
        found.iter().any(|p| p.contains(
            "redis-1/redis.crt: its subject alternative names do not include IP 172.20.2.99"
        )),
        "{found:#?}"
    );
}

#[test]
fn generated_certificates_are_renewed_before_expiry_and_brought_ones_never() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_in(dir.path());
    let now = SystemTime::now();
    // Issued 340 days ago: 25 days left, inside the 30-day window.
    ensure(&spec, now - 340 * DAY).unwrap();
    let before = read_cert(&node_files(spec.tls.as_ref().unwrap(), "redis-1").cert).unwrap();
    assert!((24..=25).contains(&before.days_left(now)));
    let renewed = ensure(&spec, now).unwrap();
    assert_eq!(renewed.len(), 3);
    assert!(matches!(renewed[0].1, Reason::Expiring { days_left } if days_left < 30));
    let after = read_cert(&node_files(spec.tls.as_ref().unwrap(), "redis-1").cert).unwrap();
    assert_ne!(after.serial, before.serial);
    assert!(after.days_left(now) >= 364);
    // Without the operator's CA, the files are the user's: never reissued.
    std::fs::remove_file(dir.path().join("certs/ca.crt")).unwrap();
    assert!(due(&spec, now + 400 * DAY).is_empty());
}
