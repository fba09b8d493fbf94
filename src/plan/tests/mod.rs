//! Planner cases on hand-built observed states: no Docker, no Redis. One file per part of
//! the planner; every state starts from the one builder in `fixtures` (the cluster standing
//! as declared, each node's view built from its role), then changes what the case needs.

use std::collections::BTreeMap;

use super::*;
use crate::actions::*;
use crate::docker::blueprint::kept_settings;
use crate::observe::{
    ClusterInfo, ClusterNode, ImageState, NodeCertificate, NodeView, ObservedContainer,
    ObservedNetwork, RedisState, ServerKind,
};
use crate::spec::test_support::reference_spec;
use crate::spec::{SlotRange, LOCAL};
use fixtures::peer;
use fixtures::*;

fn plan_of(spec: &ClusterSpec, observed: &Observed) -> Plan {
    plan(spec, observed)
}

fn kinds(plan: &Plan) -> Vec<&'static str> {
    plan.actions.iter().map(Action::kind).collect()
}

mod changes;
mod docker;
mod fixtures;
mod formation;
mod hosts;
mod moves;
mod replicas;
mod settings;
