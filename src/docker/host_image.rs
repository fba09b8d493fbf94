//! The `host` image fallback: a `FROM scratch` node image built from this machine's
//! `redis-server` and `redis-cli` and the shared libraries they link, for machines that cannot
//! pull an image (air-gapped, no registry, a rate limit).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use bollard::query_parameters::BuildImageOptionsBuilder;
use bollard::Docker;
use futures_util::StreamExt;

use super::{archive, DockerError};

/// The binaries a node image needs: the server, and the CLI its health check runs.
const BINARIES: [&str; 2] = ["redis-server", "redis-cli"];

/// The host's Redis, found on PATH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRedis {
    pub version: String,
    binaries: Vec<(String, PathBuf)>,
}

impl HostRedis {
    /// The tag the built image gets; built once per host Redis version, then reused.
    pub(crate) fn tag(&self) -> String {
        format!("redis-keeper/redis-host:{}", self.version)
    }
}

fn missing(reason: String) -> DockerError {
    DockerError::ImageUnavailable {
        image: "the host fallback".into(),
        reason: format!(
            "{reason}; install Redis on this machine (Debian/Ubuntu: `apt-get install redis-server`) or make [image].name available to Docker"
        ),
    }
}

fn which(binary: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(binary))
        .find(|p| p.is_file())
}

/// Finds redis-server and redis-cli and reads the server's version (off the async runtime:
/// it runs `redis-server --version`).
pub async fn find() -> Result<HostRedis, DockerError> {
    tokio::task::spawn_blocking(find_blocking)
        .await
        .map_err(|e| missing(format!("cannot look for redis-server: {e}")))?
}

fn find_blocking() -> Result<HostRedis, DockerError> {
    let mut binaries = Vec::new();
    for name in BINARIES {
        let path = which(name).ok_or_else(|| missing(format!("{name} is not on PATH")))?;
        binaries.push((name.to_string(), path));
    }
    let out = Command::new(&binaries[0].1)
        .arg("--version")
        .output()
        .map_err(|e| missing(format!("cannot run redis-server --version: {e}")))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text
        .split_whitespace()
        .find_map(|w| w.strip_prefix("v="))
        .ok_or_else(|| {
            missing(format!(
                "unexpected `redis-server --version` output: {text}"
            ))
        })?
        .to_string();
    Ok(HostRedis { version, binaries })
}

/// The shared libraries (and the dynamic loader) a binary needs, as absolute paths.
fn linked_libraries(binary: &Path) -> Result<BTreeSet<PathBuf>, DockerError> {
    let out = Command::new("ldd")
        .arg(binary)
        .output()
        .map_err(|e| missing(format!("cannot run ldd on {}: {e}", binary.display())))?;
    if !out.status.success() {
        return Err(missing(format!(
            "{} is not a dynamically linked binary ldd understands",
            binary.display()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with('/')))
        .map(PathBuf::from)
        .collect())
}

const DOCKERFILE: &str = "FROM scratch
COPY rootfs/ /
COPY --chown=999:999 owned/ /
ENV PATH=/usr/local/bin
USER 999:999
WORKDIR /data
EXPOSE 6379
";

fn append_file(tar: &mut tar::Builder<Vec<u8>>, at: &str, from: &Path) -> std::io::Result<()> {
    // Follow symlinks: the image holds the file itself under the linked name.
    let data = std::fs::read(from)?;
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o755);
    header.set_cksum();
    tar.append_data(&mut header, at, data.as_slice())
}

/// The build context: Dockerfile, `rootfs/` (binaries, libraries) and `owned/` (Redis's dirs).
fn build_context(host: &HostRedis) -> Result<Vec<u8>, DockerError> {
    let mut libraries = BTreeSet::new();
    for (_, path) in &host.binaries {
        libraries.extend(linked_libraries(path)?);
    }
    let io = |e: std::io::Error| missing(format!("cannot pack the image context: {e}"));
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(DOCKERFILE.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "Dockerfile", DOCKERFILE.as_bytes())
        .map_err(io)?;
    for (name, path) in &host.binaries {
        // redis-server is often a link to redis-check-rdb, which picks its role by argv[0]:
        // it must keep the name redis-server.
        append_file(&mut tar, &format!("rootfs/usr/local/bin/{name}"), path).map_err(io)?;
    }
    for lib in &libraries {
        append_file(&mut tar, &format!("rootfs{}", lib.display()), lib).map_err(io)?;
    }
    archive::append_owned_dir(&mut tar, "owned/data", 0o755).map_err(io)?;
    archive::append_owned_dir(&mut tar, "owned/etc/redis-keeper", 0o700).map_err(io)?;
    archive::append_owned_dir(&mut tar, "owned/tmp", 0o1777).map_err(io)?;
    tar.into_inner().map_err(io)
}

/// Builds the fallback image through Docker's build API and tags it [`HostRedis::tag`].
pub(crate) async fn build(docker: &Docker, host: &HostRedis) -> Result<String, DockerError> {
    // ldd and reading every binary and library: off the async runtime.
    let packing = host.clone();
    let context = tokio::task::spawn_blocking(move || build_context(&packing))
        .await
        .map_err(|e| missing(format!("cannot pack the image context: {e}")))??;
    let tag = host.tag();
    let options = BuildImageOptionsBuilder::new()
        .dockerfile("Dockerfile")
        .t(&tag)
        .rm(true)
        .forcerm(true)
        .labels(&std::collections::HashMap::from([
            ("io.redis-keeper.host-build", host.version.clone()),
            (
                super::image::SERVER_LABEL,
                format!("redis {}", host.version),
            ),
        ]))
        .build();
    let mut stream = docker.build_image(options, None, Some(bollard::body_full(context.into())));
    while let Some(item) = stream.next().await {
        let info = item.map_err(DockerError::api(format!("build image {tag}")))?;
        if let Some(detail) = info.error_detail {
            return Err(DockerError::ImageUnavailable {
                image: tag,
                reason: format!("the build failed: {}", detail.message.unwrap_or_default()),
            });
        }
    }
    Ok(tag)
}
