//! The status report: every declared node as Docker and Redis see it, the slot map, the
//! findings and the certificates. `status` prints it and `/status` serves it; both build it
//! from an observation already made, so serving it reads no file and asks no node.

use serde::Serialize;

use crate::observe::health;
use crate::observe::{Member, Observed, RedisState, Topology};
use crate::spec::{ClusterSpec, SlotRange, SLOT_COUNT};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct StatusReport {
    pub(crate) cluster: String,
    pub(crate) healthy: bool,
    /// The `[[hosts]]` and whether each answered; empty on the local engine alone.
    pub(crate) hosts: Vec<HostStatus>,
    pub(crate) nodes: Vec<NodeStatus>,
    /// The slot map as the first answering node sees it.
    pub(crate) slot_map: Vec<SlotSpan>,
    /// Slots some node has open (migrating or importing).
    pub(crate) open_slots: Vec<u16>,
    pub(crate) findings: Vec<String>,
    /// The `run` controller's view: who holds the cluster and what it did, when one runs.
    pub(crate) operator: Option<OperatorView>,
    /// Each node's certificate, with `[tls]`.
    pub(crate) certificates: Vec<CertificateStatus>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct HostStatus {
    pub(crate) name: String,
    /// The Docker endpoint as cluster.toml gives it (never a credential: those live in files).
    pub(crate) docker: String,
    /// The address its nodes publish their ports on and announce.
    pub(crate) address: String,
    pub(crate) reachable: bool,
    /// Why it did not answer, when it did not.
    pub(crate) error: Option<String>,
    pub(crate) nodes: Vec<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct CertificateStatus {
    pub(crate) node: String,
    pub(crate) file: String,
    /// Serial in the file, and the one the node serves (null when it did not answer).
    pub(crate) serial: Option<String>,
    pub(crate) served_serial: Option<String>,
    pub(crate) not_after: Option<String>,
    pub(crate) days_to_expiry: Option<i64>,
    pub(crate) error: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct OperatorView {
    pub(crate) holder: Option<crate::guard::lock::Holder>,
    /// The last status `run` wrote (stale when no holder runs).
    pub(crate) status: Option<crate::runtime::status::OperatorStatus>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct NodeStatus {
    pub(crate) name: String,
    pub(crate) container: Option<String>,
    pub(crate) container_state: Option<String>,
    pub(crate) health: Option<String>,
    pub(crate) ip: Option<String>,
    pub(crate) declared_ip: String,
    /// The host it runs on, with `[[hosts]]`.
    pub(crate) host: Option<String>,
    /// `address:port` where clients and peers reach it (what `MOVED` names).
    pub(crate) address: String,
    pub(crate) node_id: Option<String>,
    /// The server and version the node runs (`Valkey 8.1.1`), from INFO.
    pub(crate) server: Option<String>,
    pub(crate) role: Option<String>,
    /// The declared master of a replica (`replica_of`).
    pub(crate) replica_of: Option<String>,
    /// For a replica: the node it replicates, its link, and how many bytes of the master's
    /// replication stream it has yet to apply.
    pub(crate) replication: Option<ReplicaStatus>,
    pub(crate) cluster_state: Option<String>,
    /// Ranges as "start-end" (or one slot).
    #[schema(value_type = Vec<String>)]
    pub(crate) slots: Vec<SlotRange>,
    pub(crate) slot_count: usize,
    #[schema(value_type = Vec<String>)]
    pub(crate) declared_slots: Vec<SlotRange>,
    /// Links from this node to its peers that are connected, as "up/known".
    pub(crate) links: Option<String>,
    pub(crate) error: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ReplicaStatus {
    pub(crate) master: String,
    /// "up", "syncing" (a full sync in flight) or "down".
    pub(crate) link: &'static str,
    /// Bytes behind its master's replication offset; None when the master does not answer.
    pub(crate) lag_bytes: Option<u64>,
}

impl ReplicaStatus {
    fn of(topology: &Topology, member: &Member) -> Option<ReplicaStatus> {
        let master_id = member.master_id()?;
        let entry = member.view.nodes.iter().find(|e| e.id == master_id);
        let replication = member.replication();
        let master = topology.member_by_id(master_id);
        Some(ReplicaStatus {
            master: entry.map_or_else(|| master_id.to_string(), |e| topology.name_of(e)),
            link: match (replication.link_up, replication.syncing) {
                (_, true) => "syncing",
                (true, false) => "up",
                (false, false) => "down",
            },
            lag_bytes: master.map(|m| m.replication().offset.saturating_sub(replication.offset)),
        })
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct SlotSpan {
    pub(crate) start: u16,
    pub(crate) end: u16,
    /// The node name (or address, for one not in cluster.toml); null when unassigned.
    pub(crate) owner: Option<String>,
}

/// The report of one observation; `operator` is what the caller knows of the `run` controller
/// (from its files for `status`, from memory for `/status`).
pub(crate) fn report(
    spec: &ClusterSpec,
    observed: &Observed,
    operator: Option<OperatorView>,
) -> StatusReport {
    let topology = Topology::new(spec, observed);
    let nodes = spec
        .nodes
        .iter()
        .map(|n| {
            let c = observed.containers.get(&n.name);
            let mut status = NodeStatus {
                name: n.name.clone(),
                container: c.map(|c| c.name.clone()),
                container_state: c.map(|c| c.state.to_string()),
                health: c.and_then(|c| c.health.clone()),
                ip: c.and_then(|c| c.ip).map(|ip| ip.to_string()),
                declared_ip: n.ip.to_string(),
                host: n.host.clone(),
                address: n.addr(),
                node_id: None,
                server: None,
                role: None,
                replica_of: n.replica_of.clone(),
                replication: topology
                    .member(&n.name)
                    .and_then(|m| ReplicaStatus::of(&topology, m)),
                cluster_state: None,
                slots: Vec::new(),
                slot_count: 0,
                declared_slots: n.slots.clone(),
                links: None,
                error: None,
            };
            match observed.redis.get(&n.name) {
                Some(RedisState::Up(view)) => {
                    if let Some(me) = view.myself() {
                        status.node_id = Some(me.id.clone());
                        status.role =
                            Some(if me.is_master() { "master" } else { "replica" }.into());
                        status.slots = me.slots.clone();
                        status.slot_count = me.slot_count();
                    }
                    status.cluster_state = view.info.fields.get("cluster_state").cloned();
                    status.server = view.version.as_ref().map(ToString::to_string);
                    let peers: Vec<_> = view.nodes.iter().filter(|p| !p.is_myself()).collect();
                    let up = peers.iter().filter(|p| p.link_connected).count();
                    status.links = Some(format!("{up}/{}", peers.len()));
                }
                Some(RedisState::Unreachable(e)) => status.error = Some(e.clone()),
                Some(refused @ RedisState::RefusesPassword) => {
                    status.error = refused.answer().err()
                }
                None => {}
            }
            status
        })
        .collect();
    let findings: Vec<String> = health::findings(&topology)
        .into_iter()
        .map(|f| f.message)
        .collect();
    StatusReport {
        cluster: spec.name.clone(),
        healthy: findings.is_empty(),
        hosts: hosts(spec, observed),
        nodes,
        slot_map: slot_map(&topology),
        open_slots: open_slots(spec, observed),
        findings,
        operator,
        certificates: certificates(spec, observed),
    }
}

fn hosts(spec: &ClusterSpec, observed: &Observed) -> Vec<HostStatus> {
    spec.hosts
        .iter()
        .map(|h| {
            let error = observed.unreachable.get(&h.name).cloned();
            HostStatus {
                name: h.name.clone(),
                docker: h.docker.to_string(),
                address: h.address.to_string(),
                reachable: error.is_none() && observed.hosts.contains_key(&h.name),
                error,
                nodes: spec.nodes_on(&h.name).map(|n| n.name.clone()).collect(),
            }
        })
        .collect()
}

/// Each node's certificate as this observation saw it (no file is read again here: `/status`
/// serves this on every request).
fn certificates(spec: &ClusterSpec, observed: &Observed) -> Vec<CertificateStatus> {
    let Some(tls) = &spec.tls else {
        return Vec::new();
    };
    let now = std::time::SystemTime::now();
    spec.nodes
        .iter()
        .map(|n| {
            let seen = observed.certificates.get(&n.name);
            let cert = seen.and_then(|c| c.file.as_ref());
            CertificateStatus {
                node: n.name.clone(),
                file: crate::tls::node_files(tls, &n.name)
                    .cert
                    .display()
                    .to_string(),
                serial: cert.map(|c| c.serial.clone()),
                served_serial: seen.and_then(|c| c.served.clone()),
                not_after: cert.map(|c| humantime::format_rfc3339_seconds(c.not_after).to_string()),
                days_to_expiry: cert.map(|c| c.days_left(now)),
                error: seen
                    .filter(|c| c.file.is_none())
                    .and_then(|c| c.problem.clone()),
            }
        })
        .collect()
}

fn open_slots(spec: &ClusterSpec, observed: &Observed) -> Vec<u16> {
    let mut open: Vec<u16> = spec
        .nodes
        .iter()
        .filter_map(|n| observed.view(&n.name)?.myself())
        .flat_map(|me| {
            me.migrating
                .iter()
                .chain(&me.importing)
                .map(|(slot, _)| *slot)
        })
        .collect();
    open.sort_unstable();
    open.dedup();
    open
}

fn slot_map(topology: &Topology) -> Vec<SlotSpan> {
    let Some(member) = topology.members().first() else {
        return Vec::new();
    };
    let owners = Topology::slot_owners(member.view);
    let mut spans: Vec<SlotSpan> = Vec::new();
    for slot in 0..SLOT_COUNT {
        let owner = owners[usize::from(slot)].map(|e| topology.name_of(e));
        match spans.last_mut() {
            Some(last) if last.owner == owner => last.end = slot,
            _ => spans.push(SlotSpan {
                start: slot,
                end: slot,
                owner,
            }),
        }
    }
    spans
}
