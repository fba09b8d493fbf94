//! Talking to one Redis node: connections kept per address, commands with short timeouts.
//! Imports `spec` and `tls`.
//!
//! The operator speaks to every node directly (never through a cluster client, which would
//! follow redirects and hide which node said what). Connections are reused between
//! reconciles and dropped when they fail, so an idle controller opens none.

use std::collections::HashMap;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, Client, ClientTlsConfig, ConnectionAddr, IntoConnectionInfo,
    RedisResult, TlsCertificates,
};
use tokio::sync::Mutex;

use crate::spec::secret::Secret;
use crate::tls::NodeMaterial;

/// Nodes sit on a local bridge: a TCP connect takes well under a millisecond, and one that
/// does not complete soon means the node is gone (its address has no host until it is back).
const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);
/// The handshake after the connect (TLS, AUTH, CLIENT SETINFO) and every command: round trips
/// that need the server's own time, which a busy machine can delay far past the connect's.
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(3000);

/// Open connections to the cluster's nodes, by `ip:port`.
pub(crate) struct NodeClients {
    password: Option<Secret>,
    /// Speak TLS with this identity and CA (when the nodes' only port is their TLS port).
    tls: std::sync::Mutex<Option<NodeMaterial>>,
    open: Mutex<HashMap<String, MultiplexedConnection>>,
}

impl NodeClients {
    pub(crate) fn new(password: Option<Secret>, tls: Option<NodeMaterial>) -> Self {
        NodeClients {
            password,
            tls: std::sync::Mutex::new(tls),
            open: Mutex::new(HashMap::new()),
        }
    }

    /// Clients with the same TLS identity that authenticate with `password` instead (for a
    /// node that still holds the password from before a rotation).
    pub(crate) fn with_password(&self, password: Secret) -> NodeClients {
        let tls = self.tls.lock().unwrap_or_else(|e| e.into_inner()).clone();
        NodeClients::new(Some(password), tls)
    }

    /// Takes a renewed TLS identity: later connections present it (open ones keep the one
    /// they were made with until they fail).
    pub(crate) async fn renew_identity(&self, material: NodeMaterial) {
        let changed = {
            let mut tls = self.tls.lock().unwrap_or_else(|e| e.into_inner());
            let changed = tls.as_ref().is_some_and(|current| *current != material);
            if changed {
                *tls = Some(material);
            }
            changed
        };
        if changed {
            self.open.lock().await.clear();
        }
    }

    async fn connection(
        &self,
        ip: &str,
        port: u16,
        lane: usize,
    ) -> RedisResult<MultiplexedConnection> {
        let key = lane_key(ip, port, lane);
        if let Some(conn) = self.open.lock().await.get(&key) {
            return Ok(conn.clone());
        }
        // Whether the node is there is the TCP connect's to say, and quickly. redis-rs's
        // connection timeout covers the handshake too, which a loaded machine delayed past
        // 300 ms: `plan`, run beside the test suite, then took a live node for a silent one.
        reachable(ip, port).await?;
        let tls = self.tls.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let addr = match &tls {
            Some(_) => ConnectionAddr::TcpTls {
                host: ip.to_string(),
                port,
                insecure: false,
                tls_params: None,
            },
            None => ConnectionAddr::Tcp(ip.to_string(), port),
        };
        let info = addr.into_connection_info()?;
        let mut settings = info
            .redis_settings()
            .clone()
            .set_lib_name("redis-keeper", env!("CARGO_PKG_VERSION"));
        if let Some(p) = &self.password {
            settings = settings.set_password(p.expose());
        }
        let info = info.set_redis_settings(settings);
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(RESPONSE_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        let client = match &tls {
            // The node's certificate names its IP: verified like any TLS client would.
            Some(tls) => Client::build_with_tls(
                info,
                TlsCertificates {
                    client_tls: Some(ClientTlsConfig {
                        client_cert: tls.cert.clone(),
                        client_key: tls.key.clone(),
                    }),
                    root_cert: Some(tls.ca.clone()),
                },
            )?,
            None => Client::open(info)?,
        };
        let conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        self.open.lock().await.insert(key, conn.clone());
        Ok(conn)
    }

    /// Runs one command on the node at `ip:port`.
    pub(crate) async fn query<T: redis::FromRedisValue>(
        &self,
        ip: &str,
        port: u16,
        cmd: &redis::Cmd,
    ) -> RedisResult<T> {
        let mut conn = self.connection(ip, port, 0).await?;
        let result = cmd.query_async(&mut conn).await;
        self.forget_if_broken(&lane_key(ip, port, 0), &result).await;
        result
    }

    /// Runs a pipeline on the node at `ip:port` in one round-trip.
    pub(crate) async fn query_pipe<T: redis::FromRedisValue>(
        &self,
        ip: &str,
        port: u16,
        pipe: &redis::Pipeline,
    ) -> RedisResult<T> {
        self.query_pipe_on_lane(ip, port, 0, pipe).await
    }

    /// Runs a pipeline on connection number `lane` to the node at `ip:port`. A node answers
    /// one connection's commands in order, so a command that blocks (a Valkey 8 master's
    /// SETSLOT waits for its replicas) holds up the rest of that connection's pipeline only:
    /// pipelines on different lanes wait side by side.
    pub(crate) async fn query_pipe_on_lane<T: redis::FromRedisValue>(
        &self,
        ip: &str,
        port: u16,
        lane: usize,
        pipe: &redis::Pipeline,
    ) -> RedisResult<T> {
        let mut conn = self.connection(ip, port, lane).await?;
        let result = pipe.query_async(&mut conn).await;
        self.forget_if_broken(&lane_key(ip, port, lane), &result)
            .await;
        result
    }

    /// Forgets a connection that failed, so the next call dials afresh.
    async fn forget_if_broken<T>(&self, key: &str, result: &RedisResult<T>) {
        if let Err(e) = result {
            if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() {
                self.open.lock().await.remove(key);
            }
        }
    }
}

/// A TCP connection to `ip:port` opens within [`CONNECT_TIMEOUT`], or the node counts as
/// gone; the connection is closed at once.
async fn reachable(ip: &str, port: u16) -> RedisResult<()> {
    match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect((ip, port))).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no connection within {} ms", CONNECT_TIMEOUT.as_millis()),
        )
        .into()),
    }
}

/// Where the connection of `lane` to `ip:port` is kept; lane 0 is the one every other call uses.
fn lane_key(ip: &str, port: u16, lane: usize) -> String {
    match lane {
        0 => format!("{ip}:{port}"),
        _ => format!("{ip}:{port}#{lane}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn material(tag: &str) -> NodeMaterial {
        NodeMaterial {
            cert: tag.as_bytes().to_vec(),
            key: b"key".to_vec(),
            ca: b"ca".to_vec(),
        }
    }

    #[tokio::test]
    async fn a_renewed_identity_replaces_the_old_one_and_plaintext_stays_plaintext() {
        let clients = NodeClients::new(None, Some(material("old")));
        clients.renew_identity(material("new")).await;
        assert_eq!(*clients.tls.lock().unwrap(), Some(material("new")));
        let plain = NodeClients::new(None, None);
        plain.renew_identity(material("new")).await;
        assert_eq!(
            *plain.tls.lock().unwrap(),
            None,
            "never turns TLS on by itself"
        );
    }
}
