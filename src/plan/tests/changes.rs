//! The change of shape `plan` shows, and the layout the masters serve now.

use super::*;

#[test]
fn the_shape_change_lists_every_move_and_the_masters_to_add() {
    let mut spec = chained_spec();
    let mut redis_4 = spec.nodes[2].clone();
    redis_4.name = "redis-4".into();
    redis_4.ip = "172.20.2.18".parse().unwrap();
    redis_4.slots = vec![SlotRange::new(16000, 16383)];
    spec.nodes[2].slots = vec![SlotRange::new(201, 15999)];
    spec.nodes.push(redis_4);
    let change = shape_change(&Topology::new(&spec, &formed_as_reference(&spec)));
    assert_eq!(change.add, vec!["redis-4".to_string()]);
    let moves: Vec<(String, String, Vec<SlotRange>)> = change
        .moves
        .iter()
        .map(|m| (m.from.clone(), m.to.clone(), m.ranges.clone()))
        .collect();
    assert_eq!(
        moves,
        vec![
            (
                "redis-1".into(),
                "redis-2".into(),
                vec![SlotRange::new(101, 200)]
            ),
            (
                "redis-1".into(),
                "redis-3".into(),
                vec![SlotRange::new(201, 5460)]
            ),
            (
                "redis-2".into(),
                "redis-3".into(),
                vec![SlotRange::new(5461, 10922)]
            ),
            (
                "redis-3".into(),
                "redis-4".into(),
                vec![SlotRange::new(16000, 16383)]
            ),
        ]
    );
}

#[test]
fn the_live_layout_is_what_each_master_serves_by_its_own_word() {
    let spec = reference_spec();
    // Slot 0 moved to redis-2 (and every view says so).
    let observed = with_views(&spec, |i| {
        let mut v = formed_view(&spec, i);
        v.nodes[0].slots = vec![SlotRange::new(1, 5460)];
        v.nodes[1].slots = vec![SlotRange::new(0, 0), SlotRange::new(5461, 10922)];
        v
    });
    let live = live_layout(
        &Topology::new(&spec, &observed),
        &["redis-1", "redis-2", "redis-3"],
    );
    assert_eq!(
        live,
        Some(vec![
            vec![SlotRange::new(1, 5460)],
            vec![SlotRange::new(0, 0), SlotRange::new(5461, 10922)],
            vec![SlotRange::new(10923, 16383)],
        ])
    );
    let nothing_runs = Observed::default();
    assert_eq!(
        live_layout(&Topology::new(&spec, &nothing_runs), &["redis-1"]),
        None,
        "no node answers: no live layout"
    );
}
