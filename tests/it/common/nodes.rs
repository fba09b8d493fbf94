//! What a test asks of one node, or does to it.

use super::*;

/// `docker kill` of a container.
pub async fn kill(container: &str) {
    docker()
        .await
        .kill_container(
            container,
            None::<bollard::query_parameters::KillContainerOptions>,
        )
        .await
        .unwrap_or_else(|e| panic!("docker kill {container}: {e}"));
}

/// The node's `CLUSTER NODES`, as it sees the cluster.
pub async fn cluster_nodes(cluster: &TestCluster, last: u8) -> String {
    let mut conn = cluster.node(last).await;
    redis::cmd("CLUSTER")
        .arg("NODES")
        .query_async(&mut conn)
        .await
        .expect("CLUSTER NODES")
}

/// The node's own id.
pub async fn node_id(cluster: &TestCluster, last: u8) -> String {
    let mut conn = cluster.node(last).await;
    redis::cmd("CLUSTER")
        .arg("MYID")
        .query_async(&mut conn)
        .await
        .expect("CLUSTER MYID")
}

/// Moves `count` slots from one node to another with `redis-cli --cluster reshard`, as a
/// person would (the password goes by environment, not argument).
pub async fn reshard(cluster: &TestCluster, from: &str, to: &str, count: u16) {
    let out = tokio::process::Command::new("redis-cli")
        .args(["--cluster", "reshard", &format!("{}:6379", cluster.ip(13))])
        .args(["--cluster-from", from, "--cluster-to", to])
        .args(["--cluster-slots", &count.to_string(), "--cluster-yes"])
        .env("REDISCLI_AUTH", cluster.password())
        .output()
        .await
        .expect("redis-cli is needed to reshard (./dev installs redis-tools)");
    assert!(
        out.status.success(),
        "redis-cli --cluster reshard failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The text of one file in a container, running or not, through the Engine API's archive.
pub async fn read_file(container: &str, path: &str) -> String {
    use futures_util::TryStreamExt;
    let options = bollard::query_parameters::DownloadFromContainerOptionsBuilder::new()
        .path(path)
        .build();
    let tar: Vec<u8> = docker()
        .await
        .download_from_container(container, Some(options))
        .try_fold(Vec::new(), |mut tar, chunk| async move {
            tar.extend_from_slice(&chunk);
            Ok(tar)
        })
        .await
        .unwrap_or_else(|e| panic!("read {path} in {container}: {e}"));
    let mut archive = tar::Archive::new(tar.as_slice());
    let mut entry = archive
        .entries()
        .and_then(|mut entries| entries.next().transpose())
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("{path} in {container}: an empty archive"));
    let mut text = String::new();
    std::io::Read::read_to_string(&mut entry, &mut text).expect("a text file");
    text
}

/// Replaces one file of a container, running or not, as the server's user (999) would own it.
pub async fn write_file(container: &str, dir: &str, name: &str, text: &str) {
    let mut tar = tar::Builder::new(Vec::new());
    redis_keeper::docker::archive::append_owned_file(&mut tar, name, text.as_bytes(), 0o644)
        .expect("pack the file");
    let options = bollard::query_parameters::UploadToContainerOptionsBuilder::new()
        .path(dir)
        .build();
    docker()
        .await
        .upload_to_container(
            container,
            Some(options),
            bollard::body_full(tar.into_inner().expect("pack the file").into()),
        )
        .await
        .unwrap_or_else(|e| panic!("write {dir}/{name} in {container}: {e}"));
}
