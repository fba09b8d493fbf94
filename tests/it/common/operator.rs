//! `run` in the background, as a user starts it, stopped with SIGTERM or killed.

use super::*;

/// A `redis-keeper run` process for a test cluster, killed (and waited for) when dropped so
/// its lock is free before the cluster is torn down.
pub struct Operator {
    child: std::process::Child,
    status_file: PathBuf,
}

impl Operator {
    pub fn start(cluster: &TestCluster) -> Operator {
        Operator::start_with(cluster, &["--resync", "1"])
    }

    /// `run` with these arguments (instead of `--resync 1`).
    pub fn start_with(cluster: &TestCluster, args: &[&str]) -> Operator {
        // Appended to, so the log of an operator killed and started again is kept whole.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(cluster.dir.path().join("run.log"))
            .expect("log file");
        let child = std::process::Command::new(BIN)
            .arg("run")
            .args(args)
            .arg("-f")
            .arg(&cluster.file)
            .env("RUST_LOG", "info")
            .envs(cluster.env.iter().map(|(k, v)| (k, v)))
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start redis-keeper run");
        Operator {
            child,
            status_file: cluster
                .dir
                .path()
                .join(".redis-keeper")
                .join(format!("{}.status.json", cluster.name)),
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, signal: &str) {
        let ok = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{signal} {}", self.pid());
    }

    /// The status this operator wrote. A file an earlier operator of the cluster left (one
    /// killed before this one started) is not this operator's status: a test waiting for Ready
    /// must not take a dead operator's word for it.
    pub fn status(&self) -> Option<redis_keeper::runtime::status::OperatorStatus> {
        redis_keeper::runtime::status::OperatorStatus::read(&self.status_file)
            .filter(|status| status.pid == self.child.id())
    }

    /// Fails the test at once when the process has ended (it is a zombie until `Drop` waits
    /// for it): nothing a test waits for can come from it any more.
    fn assert_running(&self, awaited: &str) {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()));
        let ended = stat.map_or(true, |stat| {
            stat.rsplit_once(") ")
                .is_none_or(|(_, rest)| rest.starts_with('Z'))
        });
        assert!(
            !ended,
            "the operator (pid {}) exited while the test waited for {awaited} (its last log lines follow)",
            self.child.id()
        );
    }

    /// Waits until the operator reports Ready, having turned Ready at or after `since`;
    /// returns how long after `since` it did. Panics with the operator's last status after
    /// `timeout`.
    pub async fn ready_after(
        &self,
        since: std::time::SystemTime,
        timeout: std::time::Duration,
    ) -> std::time::Duration {
        use redis_keeper::runtime::status::ConditionType;
        let every = std::time::Duration::from_millis(25);
        poll_until("Ready", timeout, every, async || {
            self.assert_running("Ready");
            let status = self.status();
            let ready = status
                .as_ref()
                .and_then(|s| s.condition(ConditionType::Ready));
            if let Some(c) = ready.filter(|c| c.status) {
                let at = humantime::parse_rfc3339(&c.last_transition_time).expect("timestamp");
                if at >= since {
                    return Ok(at.duration_since(since).unwrap_or_default());
                }
            }
            Err(format!("status {status:#?}"))
        })
        .await
    }

    /// Waits until the operator's status satisfies `holds`; panics with the last status after
    /// `timeout`, saying what was awaited.
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: std::time::Duration,
        holds: impl Fn(&redis_keeper::runtime::status::OperatorStatus) -> bool,
    ) -> redis_keeper::runtime::status::OperatorStatus {
        let every = std::time::Duration::from_millis(25);
        poll_until(what, timeout, every, async || {
            self.assert_running(what);
            match self.status() {
                Some(status) if holds(&status) => Ok(status),
                status => Err(format!("status {status:#?}")),
            }
        })
        .await
    }

    /// Stops with SIGTERM and returns the exit code. Fails the test when the operator has
    /// not exited within [`Operator::TERMINATE_LIMIT`] (it is then killed on drop).
    pub fn terminate(mut self) -> Option<i32> {
        self.signal("TERM");
        let deadline = std::time::Instant::now() + Self::TERMINATE_LIMIT;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return status.code(),
                Ok(None) if std::time::Instant::now() < deadline => {
                    // No child-exit event to await on a std process: a short poll.
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Ok(None) => panic!(
                    "the operator (pid {}) did not exit within {:?} of SIGTERM",
                    self.child.id(),
                    Self::TERMINATE_LIMIT
                ),
                Err(e) => panic!("waiting for the operator: {e}"),
            }
        }
    }

    /// SIGTERM stops after the pass in flight: the longest, a round of a move, took seconds.
    const TERMINATE_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
