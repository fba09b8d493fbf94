//! Certificates made with openssl, as a user (or Vault, or a corporate CA) would bring them:
//! nothing here goes through the operator's own code.

use std::path::{Path, PathBuf};
use std::process::Command;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is needed for the TLS tests (./dev installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA in `dir/<name>.crt` and `dir/<name>.key`.
pub fn ca(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let (crt, key) = (format!("{name}.crt"), format!("{name}.key"));
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &crt,
            "-days",
            "30",
            "-subj",
            &format!("/CN={name}"),
        ],
    );
    (dir.join(crt), dir.join(key))
}

/// A node certificate issued by `ca` into `dir/<node>/{redis.crt,redis.key,ca.crt}`, valid
/// for `days` (negative: expired), naming `sans` (e.g. "IP:172.30.1.13").
pub fn node(dir: &Path, ca: &(PathBuf, PathBuf), node: &str, sans: &str, days: i32) {
    let at = dir.join(node);
    std::fs::create_dir_all(&at).unwrap();
    std::fs::write(
        at.join("ext.cnf"),
        format!("subjectAltName={sans}\nextendedKeyUsage=serverAuth,clientAuth\n"),
    )
    .unwrap();
    openssl(
        &at,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "redis.key",
            "-out",
            "node.csr",
            "-subj",
            &format!("/CN={node}"),
        ],
    );
    openssl(
        &at,
        &[
            "x509",
            "-req",
            "-in",
            "node.csr",
            "-CA",
            ca.0.to_str().unwrap(),
            "-CAkey",
            ca.1.to_str().unwrap(),
            "-CAcreateserial",
            "-out",
            "redis.crt",
            "-days",
            &days.to_string(),
            "-extfile",
            "ext.cnf",
        ],
    );
    std::fs::copy(&ca.0, at.join("ca.crt")).unwrap();
    for tmp in ["ext.cnf", "node.csr"] {
        let _ = std::fs::remove_file(at.join(tmp));
    }
}

/// The serial of a PEM certificate file, as openssl prints it (upper-case hex).
pub fn serial_of_file(path: &Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-serial", "-in"])
        .arg(path)
        .output()
        .expect("openssl");
    parse_serial(&String::from_utf8_lossy(&out.stdout))
}

/// The serial of the certificate a node serves on `addr` (a TLS handshake with openssl), or
/// why there is none: the handshake can fail for a moment while a key and its certificate
/// are being replaced one file after the other, so callers that poll retry on `Err`.
pub fn served_serial(addr: &str, node_dir: &Path) -> Result<String, String> {
    let handshake = Command::new("openssl")
        .args(["s_client", "-connect", addr, "-CAfile"])
        .arg(node_dir.join("ca.crt"))
        .arg("-cert")
        .arg(node_dir.join("redis.crt"))
        .arg("-key")
        .arg(node_dir.join("redis.key"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl s_client");
    let mut x509 = Command::new("openssl")
        .args(["x509", "-noout", "-serial"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("openssl x509");
    use std::io::Write;
    x509.stdin
        .take()
        .unwrap()
        .write_all(&handshake.stdout)
        .unwrap();
    let out = x509.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    if text.trim().starts_with("serial=") {
        Ok(parse_serial(&text))
    } else {
        Err(format!(
            "no certificate served on {addr}: {}",
            String::from_utf8_lossy(&handshake.stderr).trim()
        ))
    }
}

fn parse_serial(text: &str) -> String {
    text.trim()
        .strip_prefix("serial=")
        .unwrap_or_else(|| panic!("no serial in {text:?}"))
        .to_uppercase()
}

/// Like [`node`], but made aside and then renamed into place (key first), as a careful user
/// replaces a node's certificate. Returns the serial of the certificate put in place.
pub fn replace(
    dir: &Path,
    ca: &(PathBuf, PathBuf),
    node_name: &str,
    sans: &str,
    days: i32,
) -> String {
    let aside = dir.join(format!(".{node_name}.new"));
    node(&aside, ca, node_name, sans, days);
    // Read before it is in place: once it is, a running operator may renew it at once.
    let serial = serial_of_file(&aside.join(node_name).join("redis.crt"));
    for file in ["redis.key", "redis.crt"] {
        std::fs::rename(
            aside.join(node_name).join(file),
            dir.join(node_name).join(file),
        )
        .unwrap();
    }
    std::fs::remove_dir_all(aside).unwrap();
    serial
}

/// `redis-cli --tls` presenting the certificate the operator keeps for a node in `node_dir`
/// (`redis.crt`, `redis.key`) and trusting its `ca.crt`, as the seed's TLS command lines do;
/// the password goes by REDISCLI_AUTH, never on the command line.
pub fn redis_cli_as(node_dir: &Path, password: &str) -> tokio::process::Command {
    let mut cli = tokio::process::Command::new("redis-cli");
    cli.args(["--tls", "--cert"])
        .arg(node_dir.join("redis.crt"))
        .arg("--key")
        .arg(node_dir.join("redis.key"))
        .arg("--cacert")
        .arg(node_dir.join("ca.crt"))
        .env("REDISCLI_AUTH", password);
    cli
}

/// A connection to the node at `addr` over TLS, presenting the certificate the operator keeps
/// for a node in `node_dir` and trusting its `ca.crt`; the node's certificate is verified
/// against the address, as any TLS client does.
pub async fn tls_connection(
    addr: &str,
    node_dir: &Path,
    password: &str,
) -> redis::aio::MultiplexedConnection {
    let read = |name: &str| std::fs::read(node_dir.join(name)).expect("a node's TLS file");
    let certificates = redis::TlsCertificates {
        client_tls: Some(redis::ClientTlsConfig {
            client_cert: read("redis.crt"),
            client_key: read("redis.key"),
        }),
        root_cert: Some(read("ca.crt")),
    };
    // Its commands get 10 s: a pipeline of 2,000 SETs outlasted redis-rs's default 500 ms
    // on a loaded machine (Valkey 8.0's multi-host TLS scenario, a cold run, 2026-12-07).
    let config = redis::AsyncConnectionConfig::new()
        .set_response_timeout(Some(std::time::Duration::from_secs(10)));
    redis::Client::build_with_tls(format!("rediss://:{password}@{addr}"), certificates)
        .expect("TLS client")
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .expect("TLS connection")
}
