//! Several Docker hosts on one machine, as the multi-host tests need them: each host is a
//! network namespace on a private bridge, with its own `dockerd` reached over TCP at the
//! host's address (one of them with TLS client certificates), so cutting its link cuts off
//! its Docker API and its Redis nodes alike, as losing a VM would.
//!
//! Everything is made here and removed on drop: daemons, namespaces, links, the bridge and
//! the one firewall rule that lets the hosts talk across the bridge.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One simulated host.
pub struct TestHost {
    pub name: String,
    /// Its address on the test bridge: where its Docker API and its nodes' ports are.
    pub address: String,
    /// The `docker = "…"` of its `[[hosts]]` entry.
    pub endpoint: String,
    /// Its client certificate folder, for the TLS host.
    pub cert_path: Option<PathBuf>,
    /// The machine's end of its link: down is a cut.
    link: String,
    dir: PathBuf,
    /// dockerd's own flags, to start it again the same way.
    daemon_args: Vec<String>,
    daemon: Option<Child>,
    /// The host's own containerd, apart from dockerd as on a real host: a killed dockerd
    /// leaves it, and the containers, running.
    containerd: Option<Child>,
    /// The SSH server of the host reached over SSH.
    sshd: Option<Child>,
}

pub struct TestHosts {
    pub hosts: Vec<TestHost>,
    bridge: String,
    /// Holds the daemons' data and the docker CLI config with the contexts; kept until the
    /// daemons are gone.
    dir: tempfile::TempDir,
}

fn sh(args: &[&str]) -> std::process::Output {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    out
}

/// Runs a setup command and fails the test with its output when it fails.
fn must(args: &[&str]) {
    let out = sh(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The multi-host tests make namespaces, links and daemons: they need root, and say so.
fn require_root() {
    let uid = sh(&["id", "-u"]);
    assert_eq!(
        String::from_utf8_lossy(&uid.stdout).trim(),
        "0",
        "the multi-host tests simulate hosts with network namespaces and their own dockerd: run them as root (CI does)"
    );
    for tool in [
        "ip",
        "nsenter",
        "dockerd",
        "iptables",
        "openssl",
        "ssh",
        "ssh-keygen",
        "/usr/sbin/sshd",
    ] {
        assert!(
            sh(&["sh", "-c", &format!("command -v {tool}")])
                .status
                .success(),
            "the multi-host tests need {tool} on PATH"
        );
    }
}

/// The machine's storage driver: each host's daemon uses the same one.
fn storage_driver() -> String {
    let out = sh(&["docker", "info", "--format", "{{.Driver}}"]);
    assert!(out.status.success(), "docker info: the tests need Docker");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl TestHosts {
    /// `count` hosts named `vm-a`, `vm-b` … for the test numbered `test` (each test of the
    /// file its own), on 10.77.N.0/24 with N = `test` + 10 per matrix server after the
    /// host's Redis, so every server's run has its own: the machine at .1 and host i at
    /// .11 + i. The second host's API is TLS with client certificates, the third is named by
    /// a docker context, the others are plain TCP. A matrix server's image is loaded into
    /// the first host, as a user without a registry would (`docker save | docker load`).
    /// Leftovers of a killed earlier run of the same test and server are removed first.
    pub fn start(test: u8, count: usize) -> TestHosts {
        require_root();
        let server = super::server();
        let tag = format!("{test}{}", server.tag.trim_end_matches('-'));
        let tag = tag.as_str();
        let net = test + 10 * (30 - server.net);
        let bridge = format!("rkhb{tag}");
        teardown_leftovers(tag, &bridge, count);
        let dir = tempfile::tempdir().expect("temp dir");
        must(&["ip", "link", "add", &bridge, "type", "bridge"]);
        must(&[
            "ip",
            "addr",
            "add",
            &format!("10.77.{net}.1/24"),
            "dev",
            &bridge,
        ]);
        must(&["ip", "link", "set", &bridge, "up"]);
        // Docker's FORWARD policy drops bridged traffic that no rule accepts.
        must(&[
            "iptables",
            "-I",
            "DOCKER-USER",
            "-i",
            &bridge,
            "-o",
            &bridge,
            "-j",
            "ACCEPT",
        ]);
        let driver = storage_driver();
        let ca = super::certs::ca(&dir.path().join("ca"), "docker-ca");
        let mut hosts = Vec::new();
        for i in 0..count {
            let name = format!("vm-{}", (b'a' + i as u8) as char);
            let address = format!("10.77.{net}.{}", 11 + i);
            let netns = format!("rk{tag}-{i}");
            let link = format!("rk{tag}{i}h");
            let inside = format!("rk{tag}{i}n");
            must(&["ip", "netns", "add", &netns]);
            must(&[
                "ip", "link", "add", &link, "type", "veth", "peer", "name", &inside,
            ]);
            must(&["ip", "link", "set", &link, "master", &bridge, "up"]);
            must(&["ip", "link", "set", &inside, "netns", &netns]);
            must(&[
                "ip",
                "-n",
                &netns,
                "addr",
                "add",
                &format!("{address}/24"),
                "dev",
                &inside,
            ]);
            must(&["ip", "-n", &netns, "link", "set", &inside, "up"]);
            must(&["ip", "-n", &netns, "link", "set", "lo", "up"]);
            // No default route: nothing a host's daemon or nodes send leaves the test bridge.
            let home = dir.path().join(&name);
            std::fs::create_dir_all(&home).expect("host dir");
            std::fs::write(
                home.join("daemon.json"),
                format!("{{\"storage-driver\":\"{driver}\"}}"),
            )
            .expect("daemon.json");
            let path = |p: &str| home.join(p).display().to_string();
            std::fs::write(
                home.join("containerd.toml"),
                format!(
                    "version = 2\nroot = \"{}\"\nstate = \"{}\"\n\
                     disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
                     [grpc]\n  address = \"{}\"\n[ttrpc]\n  address = \"{}.ttrpc\"\n\
                     [debug]\n  address = \"\"\n",
                    path("containerd-root"),
                    path("containerd-state"),
                    path("containerd.sock"),
                    path("containerd.sock"),
                ),
            )
            .expect("containerd.toml");
            let containerd = spawn_logged(
                &[
                    &format!("--net=/var/run/netns/{netns}"),
                    "containerd",
                    "--config",
                    &path("containerd.toml"),
                ],
                &home.join("containerd.log"),
            );
            let mut daemon_args = vec![
                format!("--net=/var/run/netns/{netns}"),
                "dockerd".into(),
                "--containerd".into(),
                path("containerd.sock"),
                "--data-root".into(),
                path("data"),
                "--exec-root".into(),
                path("exec"),
                "--pidfile".into(),
                path("dockerd.pid"),
                "-H".into(),
                daemon_socket(&home),
                "--bip".into(),
                format!("172.31.{}.1/24", 1 + i),
                "--config-file".into(),
                path("daemon.json"),
            ];
            let mut sshd = None;
            let (endpoint, cert_path) = if i == 2 {
                // Docker over SSH: the real ssh client and sshd, with `docker system
                // dial-stdio` run on the host against its own daemon.
                sshd = Some(start_sshd(&home, &netns, &address));
                (format!("ssh://root@{address}"), None)
            } else if i == 1 {
                let certs = home.join("certs");
                super::certs::node(&certs, &ca, "server", &format!("IP:{address}"), 30);
                super::certs::node(&certs, &ca, "client", "IP:127.0.0.1", 30);
                let client = home.join("client-certs");
                std::fs::create_dir_all(&client).expect("client certs");
                for (from, to) in [
                    ("client/redis.crt", "cert.pem"),
                    ("client/redis.key", "key.pem"),
                    ("client/ca.crt", "ca.pem"),
                ] {
                    std::fs::copy(certs.join(from), client.join(to)).expect("copy cert");
                }
                let c = |p: &str| certs.join(p).display().to_string();
                daemon_args.extend([
                    "--tlsverify".into(),
                    "--tlscacert".into(),
                    c("server/ca.crt"),
                    "--tlscert".into(),
                    c("server/redis.crt"),
                    "--tlskey".into(),
                    c("server/redis.key"),
                    "-H".into(),
                    format!("tcp://{address}:2376"),
                ]);
                (format!("tcp://{address}:2376"), Some(client))
            } else {
                // Plain TCP said outright: without `--tls=false`, dockerd takes a listener
                // without TLS for a mistake and sleeps 15 s at every start to say so.
                daemon_args.extend([
                    "--tls=false".into(),
                    "-H".into(),
                    format!("tcp://{address}:2375"),
                ]);
                (format!("tcp://{address}:2375"), None)
            };
            let mut host = TestHost {
                name,
                address,
                endpoint,
                cert_path,
                link,
                dir: home,
                daemon_args,
                daemon: None,
                containerd: Some(containerd),
                sshd,
            };
            host.start_daemon();
            hosts.push(host);
        }
        let mut hosts = TestHosts { hosts, bridge, dir };
        for host in &hosts.hosts {
            host.wait_for_daemon();
        }
        // The third host is named by a docker context, made by the docker CLI itself, that
        // reaches it over SSH.
        if let Some(third) = hosts.hosts.get_mut(2) {
            let context = format!("rk-{}", third.name);
            let made = Command::new("docker")
                .env("DOCKER_CONFIG", hosts.dir.path().join("docker-config"))
                .args(["context", "create", &context, "--docker"])
                .arg(format!("host={}", third.endpoint))
                .output()
                .expect("docker context create");
            assert!(
                made.status.success(),
                "docker context create: {}",
                String::from_utf8_lossy(&made.stderr)
            );
            third.endpoint = context;
        }
        if let Some(image) = &server.image {
            hosts.hosts[0].load(image);
        }
        hosts
    }

    /// Names `host`'s daemon by its `unix://` socket in cluster.toml from now on, as for a
    /// host whose engine the operator's machine reaches through a forwarded socket (its
    /// nodes still publish and announce the host's address).
    pub fn reach_through_socket(&mut self, host: &str) {
        let host = self.host_mut(host);
        host.endpoint = daemon_socket(&host.dir);
        host.cert_path = None;
    }

    /// `address:port` of a host.
    pub fn at(&self, host: &str, port: u16) -> String {
        format!("{}:{port}", self.host(host).address)
    }

    /// The environment redis-keeper needs to reach these hosts: `DOCKER_CONFIG` with the
    /// docker contexts, and on `PATH` an `ssh` that uses the test's own key and known-hosts
    /// file (the real client, with `-F` the test's config) instead of the machine's.
    pub fn env(&self) -> Vec<(String, String)> {
        let path = format!(
            "{}:{}",
            self.dir.path().join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        vec![
            (
                "DOCKER_CONFIG".into(),
                self.dir.path().join("docker-config").display().to_string(),
            ),
            ("PATH".into(), path),
        ]
    }

    /// The `[[hosts]]` tables for cluster.toml.
    pub fn toml(&self) -> String {
        self.hosts.iter().map(TestHost::toml).collect()
    }

    pub fn host(&self, name: &str) -> &TestHost {
        self.hosts
            .iter()
            .find(|h| h.name == name)
            .expect("a test host")
    }

    pub fn host_mut(&mut self, name: &str) -> &mut TestHost {
        self.hosts
            .iter_mut()
            .find(|h| h.name == name)
            .expect("a test host")
    }
}

impl TestHost {
    /// Its `[[hosts]]` table for cluster.toml.
    pub fn toml(&self) -> String {
        let certs = self
            .cert_path
            .as_ref()
            .map(|c| format!("cert_path = \"{}\"\n", c.display()))
            .unwrap_or_default();
        format!(
            "\n[[hosts]]\nname = \"{}\"\ndocker = \"{}\"\naddress = \"{}\"\n{certs}",
            self.name, self.endpoint, self.address
        )
    }

    /// `docker` CLI arguments that reach this host's daemon from the machine (its socket,
    /// so they work while its link is cut). Killed after 30 s (coreutils' `timeout`, exit
    /// 124), which the caller's assertion on the exit status then reports: a daemon that
    /// stopped answering must fail the test, not hang it.
    pub fn docker_cli(&self, args: &[&str]) -> std::process::Output {
        Command::new("timeout")
            .args(["--kill-after=5", "30", "docker"])
            .arg("-H")
            .arg(daemon_socket(&self.dir))
            .args(args)
            .output()
            .expect("run docker")
    }

    /// Copies `image` from the machine's engine into this host's: `docker save | docker load`.
    fn load(&self, image: &str) {
        let mut save = Command::new("docker")
            .args(["save", image])
            .stdout(Stdio::piped())
            .spawn()
            .expect("docker save");
        let exported = save.stdout.take().expect("docker save's output");
        let loaded = Command::new("docker")
            .arg("-H")
            .arg(daemon_socket(&self.dir))
            .arg("load")
            .stdin(exported)
            .output()
            .expect("docker load");
        assert!(
            save.wait().expect("docker save").success() && loaded.status.success(),
            "loading {image} into {}: {}",
            self.name,
            String::from_utf8_lossy(&loaded.stderr)
        );
    }

    /// Cuts the host off the network, as a pulled cable would: the machine's end of its
    /// link goes down, so neither its Docker API nor its nodes answer anyone.
    pub fn cut(&self) {
        must(&["ip", "link", "set", &self.link, "down"]);
    }

    /// Brings the link back and waits until the machine reaches the host again, as one
    /// waits for a VM to come back: until then the machine's neighbour entry for it may
    /// still say it is unreachable.
    pub fn restore(&self) {
        must(&["ip", "link", "set", &self.link, "up"]);
        let port = match self.endpoint.rsplit_once(':') {
            Some((_, port)) if port.parse::<u16>().is_ok() => port.to_string(),
            _ => "22".to_string(),
        };
        let at: std::net::SocketAddr = format!("{}:{port}", self.address)
            .parse()
            .expect("host address");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect_timeout(&at, Duration::from_millis(500)).is_err() {
            assert!(
                Instant::now() < deadline,
                "{} not reachable within 30 s of its link coming back",
                self.name
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn start_daemon(&mut self) {
        let args: Vec<&str> = self.daemon_args.iter().map(String::as_str).collect();
        self.daemon = Some(spawn_logged(&args, &self.dir.join("dockerd.log")));
    }

    fn wait_for_daemon(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.docker_cli(&["version"]).status.success() {
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                panic!(
                    "{}'s dockerd did not answer within 60 s; the end of its log:\n{}",
                    self.name,
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// SIGKILLs the host's dockerd (its containers keep running under their shims).
    pub fn kill_daemon(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn restart_daemon(&mut self) {
        self.kill_daemon();
        self.start_daemon();
        self.wait_for_daemon();
    }
}

/// sshd inside the host's namespace, on its address, accepting the test's key for root, with
/// `DOCKER_HOST` set to the host's own daemon for every session; and an `ssh` wrapper under
/// `<root>/bin` (beside the hosts' folders) that the operator finds first on its `PATH`.
fn start_sshd(home: &Path, netns: &str, address: &str) -> Child {
    let ssh = home.join("ssh");
    std::fs::create_dir_all(&ssh).expect("ssh dir");
    for key in ["host_key", "client_key"] {
        must(&[
            "ssh-keygen",
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-f",
            &ssh.join(key).display().to_string(),
        ]);
    }
    std::fs::copy(ssh.join("client_key.pub"), ssh.join("authorized_keys"))
        .expect("authorized_keys");
    let at = |p: &str| ssh.join(p).display().to_string();
    std::fs::write(
        ssh.join("sshd_config"),
        format!(
            "ListenAddress {address}\nHostKey {}\nAuthorizedKeysFile {}\nPermitRootLogin prohibit-password\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n\
             PidFile {}\nSetEnv DOCKER_HOST={}\n",
            at("host_key"),
            at("authorized_keys"),
            at("sshd.pid"),
            daemon_socket(home)
        ),
    )
    .expect("sshd_config");
    std::fs::write(
        ssh.join("ssh_config"),
        format!(
            "Host *\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  StrictHostKeyChecking accept-new\n",
            at("client_key"),
            at("known_hosts")
        ),
    )
    .expect("ssh_config");
    let bin = home.parent().expect("hosts root").join("bin");
    std::fs::create_dir_all(&bin).expect("bin dir");
    let wrapper = bin.join("ssh");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec /usr/bin/ssh -F {} \"$@\"\n",
            at("ssh_config")
        ),
    )
    .expect("ssh wrapper");
    must(&["chmod", "755", &wrapper.display().to_string()]);
    // Privilege separation wants its empty directory, as the package's service makes it.
    std::fs::create_dir_all("/run/sshd").expect("/run/sshd");
    // sshd runs each session's command through root's login shell, and bash started by
    // sshd reads ~/.bashrc: this machine's (pyenv's set-up, dozens of processes) would run
    // for every Docker connection, a cost of this machine's, not of a Docker host's. The
    // simulated host gets its own empty one, in a mount namespace of sshd's alone.
    let bashrc = std::env::var("HOME")
        .map(|home| Path::new(&home).join(".bashrc"))
        .ok()
        .filter(|b| b.is_file());
    let mut args = vec![format!("--net=/var/run/netns/{netns}")];
    let sshd = format!("exec /usr/sbin/sshd -D -e -f {}", at("sshd_config"));
    match bashrc {
        Some(bashrc) => {
            std::fs::write(ssh.join("bashrc"), "").expect("an empty bashrc");
            let mount = format!("mount --bind {} {}", at("bashrc"), bashrc.display());
            args.extend(
                ["unshare", "--mount", "--propagation", "private", "sh", "-c"].map(String::from),
            );
            args.push(format!("{mount} && {sshd}"));
        }
        None => args.extend(["sh", "-c", &sshd].map(String::from)),
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    spawn_logged(&args, &ssh.join("sshd.log"))
}

/// The `unix://` URL of the socket a host's dockerd listens on, under the host's folder.
fn daemon_socket(home: &Path) -> String {
    format!("unix://{}", home.join("docker.sock").display())
}

/// `nsenter ARGS` (a program run inside a host's namespace), its output into `log`.
fn spawn_logged(args: &[&str], log: &Path) -> Child {
    let log = std::fs::File::create(log).expect("log file");
    Command::new("nsenter")
        .args(args)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {args:?}: {e}"))
}

/// SIGTERM to all at once, then SIGKILL to those still running after 30 s.
fn stop_all(children: Vec<Child>) {
    for child in &children {
        let _ = sh(&["kill", "-TERM", &child.id().to_string()]);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut running = children;
    while !running.is_empty() && Instant::now() < deadline {
        running.retain_mut(|c| !matches!(c.try_wait(), Ok(Some(_))));
        std::thread::sleep(Duration::from_millis(100));
    }
    for mut child in running {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Unmounts whatever a daemon left mounted under `dir` (overlay layers, its netns files).
fn unmount_under(dir: &Path) {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let prefix = dir.display().to_string();
    let mut points: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(1))
        .filter(|p| p.starts_with(&prefix))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for point in points {
        let _ = sh(&["umount", "-l", point]);
    }
}

/// Removes namespaces, links, the bridge and the firewall rule of an earlier run with `tag`.
fn teardown_leftovers(tag: &str, bridge: &str, count: usize) {
    for i in 0..count {
        let netns = format!("rk{tag}-{i}");
        // A daemon of a killed run still serving inside the namespace.
        let pids = sh(&["ip", "netns", "pids", &netns]);
        for pid in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
            let _ = sh(&["kill", "-KILL", pid]);
        }
        let _ = sh(&["ip", "netns", "del", &netns]);
        let _ = sh(&["ip", "link", "del", &format!("rk{tag}{i}h")]);
    }
    let _ = sh(&["ip", "link", "del", bridge]);
    while sh(&[
        "iptables",
        "-D",
        "DOCKER-USER",
        "-i",
        bridge,
        "-o",
        bridge,
        "-j",
        "ACCEPT",
    ])
    .status
    .success()
    {}
}

impl Drop for TestHosts {
    fn drop(&mut self) {
        for host in &self.hosts {
            let _ = sh(&["ip", "link", "set", &host.link, "up"]);
        }
        // Every host's dockerd first (each stops its containers), then the rest.
        stop_all(
            self.hosts
                .iter_mut()
                .filter_map(|h| h.daemon.take())
                .collect(),
        );
        stop_all(
            self.hosts
                .iter_mut()
                .flat_map(|h| [h.containerd.take(), h.sshd.take()])
                .flatten()
                .collect(),
        );
        for host in &self.hosts {
            unmount_under(&host.dir);
        }
        let count = self.hosts.len();
        let tag = self
            .bridge
            .strip_prefix("rkhb")
            .unwrap_or_default()
            .to_string();
        teardown_leftovers(&tag, &self.bridge, count);
    }
}
