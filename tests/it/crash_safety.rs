//! The operator's own files survive a SIGKILL at any moment: the password and API token, the
//! CA and node keys and certificates, the status file and the lock. A child process (this
//! test binary again) writes them in a loop through the operator's own code; it is killed
//! at a random point, again and again, and after each kill every file is either the old one
//! or a new one, whole, with its mode. No Docker needed.

use std::io::BufRead;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::SystemTime;

use rand::Rng;
use redis_keeper::runtime::status::OperatorStatus;
use redis_keeper::spec::ClusterSpec;

/// Set in the child: the folder it writes into.
const WRITER_ENV: &str = "RK_CRASH_WRITER_DIR";
const KILLS: usize = 40;

/// The same spec in the parent and the child: its name (and so its lock) comes from the
/// folder, not from a pid.
fn spec_in(dir: &Path) -> ClusterSpec {
    let tag: u32 = dir
        .to_string_lossy()
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    let text = format!(
        r#"
[cluster]
name = "crash-{}"
password_file = "secret/password"
[network]
name = "crash"
subnet = "172.20.2.0/24"
[api]
token_file = "secret/token"
[[nodes]]
name = "redis-1"
ip = "172.20.2.13"
slots = ["0-16383"]
[tls]
enabled = true
port = 6390
certs_dir = "certs"
"#,
        tag
    );
    ClusterSpec::parse(&text, &dir.join("cluster.toml")).expect("a valid spec")
}

fn status_file(dir: &Path) -> PathBuf {
    dir.join("status.json")
}

/// Two statuses of very different sizes, so a torn write cannot pass for either.
fn statuses(spec: &ClusterSpec) -> [OperatorStatus; 2] {
    let mut small = OperatorStatus::new(&spec.name);
    small.pid = 1;
    small.started_at = "2026-11-26T00:00:00Z".into();
    for condition in &mut small.conditions {
        condition.last_transition_time = small.started_at.clone();
    }
    let mut large = small.clone();
    large.reconciles = 50;
    large.events = (0..50)
        .map(|i| redis_keeper::runtime::status::Event {
            at: format!("2026-11-26T00:00:{:02}Z", i % 60),
            action: "start-container".into(),
            message: format!("start redis-{i}"),
            why: "the container is stopped".into(),
            outcome: "ok".into(),
            took_ms: i,
            repeats: 1,
        })
        .collect();
    [small, large]
}

/// The child: writes every file over and over until it is killed.
fn write_forever(dir: &Path) -> ! {
    let spec = spec_in(dir);
    let [small, large] = statuses(&spec);
    let password = dir.join("secret/password");
    let token = dir.join("secret/token");
    let mut ready = false;
    for round in 0u64.. {
        let status = if round % 2 == 0 { &small } else { &large };
        status.write(&status_file(dir)).expect("status");
        // A node certificate and key made anew each round; the CA once, then reused.
        std::fs::remove_dir_all(dir.join("certs/redis-1")).ok();
        redis_keeper::tls::issue::ensure(&spec, SystemTime::now()).expect("certificates");
        for secret in [&password, &token] {
            std::fs::remove_file(secret).ok();
            redis_keeper::spec::secret::create(secret).expect("secret");
        }
        drop(redis_keeper::guard::lock::acquire(&spec.name, "run").expect("the lock"));
        let _held = redis_keeper::guard::lock::acquire(&spec.name, "run").expect("the lock");
        if !ready {
            println!("ready");
            ready = true;
        }
    }
    unreachable!()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every file as a crash may leave it: absent where the writer deletes it first, otherwise
/// whole and with its mode.
fn check_files(dir: &Path, spec: &ClusterSpec, kill: usize) {
    let [small, large] = statuses(spec);
    let status = OperatorStatus::read(&status_file(dir))
        .unwrap_or_else(|| panic!("kill {kill}: the status file is torn or gone"));
    assert!(
        status == small || status == large,
        "kill {kill}: the status file is neither"
    );
    for name in ["password", "token"] {
        let path = dir.join("secret").join(name);
        if let Ok(text) = std::fs::read_to_string(&path) {
            assert_eq!(text.len(), 41, "kill {kill}: {name} is torn: {text:?}");
            assert_eq!(mode(&path), 0o600, "kill {kill}: {name}'s mode");
        }
    }
    let tls = spec.tls.as_ref().unwrap();
    let files = redis_keeper::tls::node_files(tls, "redis-1");
    for (path, private) in [
        (dir.join("certs/ca.key"), true),
        (dir.join("certs/ca.crt"), false),
        (files.key.clone(), true),
        (files.cert.clone(), false),
    ] {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue; // the writer removes the node's folder before making it anew
        };
        assert!(
            text.starts_with("-----BEGIN ") && text.trim_end().ends_with("-----"),
            "kill {kill}: {} is torn",
            path.display()
        );
        assert_eq!(
            mode(&path),
            if private { 0o600 } else { 0o644 },
            "kill {kill}: {}'s mode",
            path.display()
        );
    }
    // Temp files a kill left behind are the writer's own, never readable by others.
    for entry in walk(dir) {
        let name = entry.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".tmp")
            && (name.contains("key") || name.contains("password") || name.contains("token"))
        {
            assert_eq!(mode(&entry), 0o600, "kill {kill}: {}", entry.display());
        }
    }
    // The lock died with its holder: nobody is named, and it can be taken at once.
    assert_eq!(
        redis_keeper::guard::lock::holder(&spec.name),
        None,
        "kill {kill}"
    );
    drop(redis_keeper::guard::lock::acquire(&spec.name, "up").expect("the lock is free"));
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn files_survive_a_sigkill_at_any_moment() {
    if let Some(dir) = std::env::var_os(WRITER_ENV) {
        write_forever(Path::new(&dir));
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_in(dir.path());
    let mut rng = rand::rng();
    for kill in 0..KILLS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "crash_safety::files_survive_a_sigkill_at_any_moment",
                "--nocapture",
            ])
            .env(WRITER_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the writer");
        // Killed only once it has written everything once, at a random point after.
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        assert!(
            lines.any(|l| l.is_ok_and(|l| l == "ready")),
            "kill {kill}: the writer never got ready"
        );
        std::thread::sleep(std::time::Duration::from_micros(
            rng.random_range(0..30_000),
        ));
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "kill {kill}: the writer died of something else"
        );
        check_files(dir.path(), &spec, kill);
    }
    std::fs::remove_file(
        std::env::temp_dir()
            .join("redis-keeper-locks")
            .join(format!("{}.lock", spec.name)),
    )
    .ok();
}
