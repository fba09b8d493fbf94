//! The Docker side: image, network, volumes and containers, and spec drift.

use super::*;

#[test]
fn from_nothing_prepares_image_network_and_volumes_first() {
    let spec = reference_spec();
    let plan = plan(&spec, &nothing());
    assert_eq!(
        kinds(&plan),
        [
            "prepare-image",
            "create-network",
            "create-volume",
            "create-volume",
            "create-volume"
        ]
    );
    assert_eq!(
        plan.waiting.len(),
        3,
        "each node waits for the image: {:?}",
        plan.waiting
    );
    assert!(plan.blocked.is_empty());
}

#[test]
fn with_an_image_creates_every_container_in_one_stage() {
    let spec = reference_spec();
    let mut observed = nothing();
    local(&mut observed).image = ImageState {
        usable: Some(IMAGE.into()),
        pull_due: false,
        server: None,
    };
    let plan = plan(&spec, &observed);
    assert_eq!(
        kinds(&plan),
        [
            "create-network",
            "create-volume",
            "create-volume",
            "create-volume",
            "create-container",
            "create-container",
            "create-container"
        ]
    );
    let stages: Vec<Stage> = plan.actions.iter().map(Action::stage).collect();
    assert!(stages.windows(2).all(|w| w[0] <= w[1]), "sorted by stage");
}

#[test]
fn pull_always_prepares_before_creating_containers() {
    let spec = reference_spec();
    let mut observed = with_views(&spec, |i| formed_view(&spec, i));
    observed.containers.clear();
    observed.redis.clear();
    local(&mut observed).image.pull_due = true;
    let plan = plan(&spec, &observed);
    assert_eq!(kinds(&plan), ["prepare-image"]);
}

#[test]
fn stopped_and_paused_containers_are_started_and_unpaused() {
    let spec = reference_spec();
    let mut observed = with_views(&spec, |i| formed_view(&spec, i));
    observed.containers.get_mut("redis-1").unwrap().state = RunState::Exited;
    observed.containers.get_mut("redis-2").unwrap().state = RunState::Paused;
    observed.redis.remove("redis-1");
    observed.redis.remove("redis-2");
    let plan = plan(&spec, &observed);
    assert_eq!(
        plan.actions,
        vec![
            Action::StartContainer(StartContainer {
                node: "redis-1".into(),
                container: "dev-redis-1".into()
            }),
            Action::UnpauseContainer(UnpauseContainer {
                node: "redis-2".into(),
                container: "dev-redis-2".into()
            }),
        ]
    );
}

#[test]
fn spec_drift_recreates_one_node_at_a_time_and_only_when_healthy() {
    let mut spec = reference_spec();
    let observed = with_views(&spec, |i| formed_view(&spec, i));
    spec.node_timeout_ms = 15000;
    let healthy = plan(&spec, &observed);
    assert_eq!(
        healthy.actions,
        vec![Action::RecreateContainer(RecreateContainer {
            node: "redis-1".into(),
            container: "dev-redis-1".into(),
            image: IMAGE.into()
        })]
    );
    let mut settling = observed.clone();
    if let Some(RedisState::Up(v)) = settling.redis.get_mut("redis-2") {
        v.info = info("fail", 3, 3);
    }
    assert!(
        plan(&spec, &settling).actions.is_empty(),
        "no recreate while a node is not ok"
    );
}

#[test]
fn someone_elses_network_with_another_subnet_blocks() {
    let spec = reference_spec();
    let mut observed = with_views(&spec, |i| formed_view(&spec, i));
    local(&mut observed).network = Some(ObservedNetwork {
        id: "x".into(),
        subnets: vec!["10.9.0.0/16".into()],
        ours: false,
    });
    let plan = plan(&spec, &observed);
    assert!(
        plan.blocked[0].contains("exists with subnet 10.9.0.0/16, not 172.20.2.0/24"),
        "{:?}",
        plan.blocked
    );
}

#[test]
fn a_container_off_the_network_is_reattached() {
    let spec = reference_spec();
    let mut observed = with_views(&spec, |i| formed_view(&spec, i));
    observed.containers.get_mut("redis-2").unwrap().ip = None;
    observed.redis.remove("redis-2");
    let plan = plan(&spec, &observed);
    assert_eq!(
        plan.actions,
        vec![Action::ReattachNetwork(ReattachNetwork {
            node: "redis-2".into(),
            container: "dev-redis-2".into()
        })]
    );
}

#[test]
fn a_removed_network_is_recreated_and_containers_reattached() {
    let spec = reference_spec();
    let mut observed = with_views(&spec, |i| formed_view(&spec, i));
    local(&mut observed).network = None;
    for c in observed.containers.values_mut() {
        c.ip = None;
    }
    observed.redis.clear();
    let plan = plan(&spec, &observed);
    assert_eq!(
        kinds(&plan),
        [
            "create-network",
            "reattach-network",
            "reattach-network",
            "reattach-network"
        ]
    );
}
