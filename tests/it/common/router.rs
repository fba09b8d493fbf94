//! Routing a key to the master serving its slot, by `CLUSTER SLOTS`, without a cluster
//! client: for the harness's writers and read-backs, whose every step must give up in a
//! bounded time (redis-rs's cluster client once left a read-back waiting for 17 minutes,
//! and another for the job's whole 15).

use std::collections::HashMap;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::AsyncConnectionConfig;

/// How long the router waits to connect to a node and for each reply.
#[derive(Clone, Copy, Debug)]
pub struct Patience {
    pub connect: Duration,
    pub reply: Duration,
}

/// The slot map last read, and one connection per node it has spoken to.
pub struct SlotRouter {
    password: String,
    /// Where to ask for the slot map first (`address:port`); the masters of the last map
    /// read are asked after them.
    seeds: Vec<String>,
    /// slot → master address.
    owners: Vec<Option<String>>,
    open: HashMap<String, MultiplexedConnection>,
    patience: Patience,
}

impl SlotRouter {
    pub fn new(seeds: Vec<String>, password: String, patience: Patience) -> SlotRouter {
        SlotRouter {
            password,
            seeds,
            owners: vec![None; 16384],
            open: HashMap::new(),
            patience,
        }
    }

    /// A router with the same seeds, map and patience, and connections of its own.
    pub fn fork(&self) -> SlotRouter {
        SlotRouter {
            password: self.password.clone(),
            seeds: self.seeds.clone(),
            owners: self.owners.clone(),
            open: HashMap::new(),
            patience: self.patience,
        }
    }

    /// The open connection to `addr`, or a new one; `None` when the node does not answer.
    pub async fn connection(&mut self, addr: &str) -> Option<MultiplexedConnection> {
        if let Some(c) = self.open.get(addr) {
            return Some(c.clone());
        }
        let client = redis::Client::open(format!("redis://:{}@{addr}", self.password)).ok()?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.patience.connect))
            .set_response_timeout(Some(self.patience.reply));
        // The connection timeout bounds the TCP connect, not the AUTH and HELLO after it.
        let connecting = client.get_multiplexed_async_connection_with_config(&config);
        let conn = tokio::time::timeout(self.patience.connect + self.patience.reply, connecting)
            .await
            .ok()?
            .ok()?;
        self.open.insert(addr.to_string(), conn.clone());
        Some(conn)
    }

    /// Drops the connection to `addr`, so the next use connects again.
    pub fn forget(&mut self, addr: &str) {
        self.open.remove(addr);
    }

    /// Drops every connection, so the next uses connect again.
    pub fn forget_all(&mut self) {
        self.open.clear();
    }

    /// Reads the slot map from the first node that answers: the seeds, then the masters of
    /// the map read last. False when none did.
    pub async fn refresh(&mut self) -> bool {
        let mut asked: Vec<String> = self.seeds.clone();
        for master in self.masters() {
            if !asked.contains(&master) {
                asked.push(master);
            }
        }
        for addr in asked {
            let Some(mut conn) = self.connection(&addr).await else {
                continue;
            };
            let reply = redis::cmd("CLUSTER")
                .arg("SLOTS")
                .query_async::<Vec<Vec<redis::Value>>>(&mut conn)
                .await;
            match reply {
                Ok(ranges) => {
                    self.owners = slot_owners(&ranges);
                    return true;
                }
                Err(_) => self.forget(&addr),
            }
        }
        false
    }

    /// The master serving `slot` in the map read last.
    pub fn owner(&self, slot: u16) -> Option<&str> {
        self.owners.get(usize::from(slot))?.as_deref()
    }

    /// The master serving `key`'s slot in the map read last.
    pub fn owner_of_key(&self, key: &str) -> Option<&str> {
        self.owner(redis_keeper::spec::keyslot::key_slot(key.as_bytes()))
    }

    /// Every master of the map read last, each once.
    pub fn masters(&self) -> Vec<String> {
        let mut masters: Vec<String> = self.owners.iter().flatten().cloned().collect();
        masters.sort();
        masters.dedup();
        masters
    }
}

/// slot → `address:port` of its master, from a `CLUSTER SLOTS` reply.
fn slot_owners(ranges: &[Vec<redis::Value>]) -> Vec<Option<String>> {
    let mut owners = vec![None; 16384];
    for range in ranges {
        let Some((start, end, master)) = range_master(range) else {
            continue;
        };
        for slot in start..=end {
            owners[usize::from(slot)] = Some(master.clone());
        }
    }
    owners
}

/// One `CLUSTER SLOTS` entry: first slot, last slot, master's `address:port`.
fn range_master(range: &[redis::Value]) -> Option<(u16, u16, String)> {
    let start: u16 = redis::from_redis_value_ref(range.first()?).ok()?;
    let end: u16 = redis::from_redis_value_ref(range.get(1)?).ok()?;
    let master: Vec<redis::Value> = redis::from_redis_value_ref(range.get(2)?).ok()?;
    let ip: String = redis::from_redis_value_ref(master.first()?).ok()?;
    let port: u16 = redis::from_redis_value_ref(master.get(1)?).ok()?;
    Some((start, end.min(16383), format!("{ip}:{port}")))
}
