//! Moving slots by keys, as `redis-cli --cluster reshard` does: rounds of slots opened with
//! SETSLOT IMPORTING and MIGRATING, emptied with pipelined MIGRATE in batches that adapt to
//! the target's pace, and handed over with SETSLOT NODE; and the same rounds closing slots an
//! interrupted move left open.

use super::super::redis::{failed, run_on, split_addr};
use super::super::{ActError, Peer};
use crate::runtime::context::Context;
use crate::spec::SlotRange;

/// Slots opened, emptied and handed over together: each step is one round trip for all of
/// them, and an interrupted round leaves at most [`MAX_SLOTS_PER_ROUND`] slots open for the
/// next pass. A round takes this many slots at least.
const SLOTS_PER_ROUND: usize = 128;
/// A round grows past [`SLOTS_PER_ROUND`] while its slots hold at most [`KEYS_PER_ROUND`]
/// keys, up to this many slots, where SETSLOT answers at once ([`Lanes::One`]). A round costs
/// its steps' round trips whatever it holds, and on a busy machine each round trip waits for
/// every node it reaches to be scheduled: six re-deals of mostly empty slots took 80-160 s
/// on the loaded suite against 20 s alone. Bounded, because a step's SETSLOTs must answer
/// within the commands' timeout (each SETSLOT NODE on the target broadcasts a PONG to every
/// node). A Valkey 8 master with replicas answers each SETSLOT once they acknowledged it:
/// its rounds do not grow (1001 slots over 8 lanes timed out there, again and again).
const MAX_SLOTS_PER_ROUND: usize = 512;
/// The keys a round grows to at most (a round of 128 slots holds more when they are full).
const KEYS_PER_ROUND: u64 = 25_000;
/// How long the source waits on the target for one batch.
const MIGRATE_TIMEOUT_MS: u64 = 5000;

/// How many connections a node's SETSLOTs of one step are spread over.
///
/// A Valkey 8 master with replicas answers each SETSLOT only once they acknowledged it: down
/// one connection that is a replication round trip per slot (128 slots took 70 ms on an idle
/// machine here, and a round of a move about 3 s under the test suite's load); over 8 the
/// waits overlap (128 slots in 14-24 ms idle). Elsewhere one connection is kept: a node
/// saves nodes.conf once per event-loop turn that ran SETSLOTs, and a step spread over 8
/// connections can take 8 turns. With 8 everywhere, the suite's topology jobs (moves by keys,
/// no replicas) took 184-242 s on CI runs here, against 135-145 s before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lanes {
    One,
    Many,
}

impl Lanes {
    fn count(self) -> usize {
        match self {
            Lanes::One => 1,
            Lanes::Many => 8,
        }
    }
}

/// `slots` cut into rounds: [`SLOTS_PER_ROUND`] each, or up to [`MAX_SLOTS_PER_ROUND`]
/// while they hold few keys (`keys`: each slot's count, when known) and SETSLOT answers at
/// once.
fn rounds<'s>(slots: &'s [u16], keys: Option<&[u64]>, lanes: Lanes) -> Vec<&'s [u16]> {
    let known = keys.filter(|k| k.len() == slots.len() && lanes == Lanes::One);
    let Some(keys) = known else {
        return slots.chunks(SLOTS_PER_ROUND).collect();
    };
    let mut rounds = Vec::new();
    let (mut first, mut held) = (0, 0);
    for (i, &in_slot) in keys.iter().enumerate() {
        let len = i - first;
        if len == MAX_SLOTS_PER_ROUND || (len >= SLOTS_PER_ROUND && held + in_slot > KEYS_PER_ROUND)
        {
            rounds.push(&slots[first..i]);
            (first, held) = (i, 0);
        }
        held += in_slot;
    }
    if first < slots.len() {
        rounds.push(&slots[first..]);
    }
    rounds
}

/// Runs `steps` on `slots`, a round at a time ([`rounds`]; `keys`: each slot's count, when
/// known), each round reported to progress; stops after the round in flight when asked to
/// (SIGTERM). Returns the keys moved.
pub(super) async fn run_rounds(
    ctx: &Context,
    steps: &[Step<'_>],
    slots: &[u16],
    keys_per_slot: Option<&[u64]>,
    lanes: Lanes,
) -> Result<usize, ActError> {
    let mut batch = KeyBatch::default();
    let mut keys = 0;
    for round in rounds(slots, keys_per_slot, lanes) {
        keys += run_round(ctx, steps, round, lanes, &mut batch).await?;
        ctx.moves.round_done(round.len());
        if ctx.moves.stopping() {
            tracing::info!("stopping after the round in flight");
            break;
        }
    }
    Ok(keys)
}

/// One step of a round: what is done to all the slots of the round at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step<'p> {
    /// `CLUSTER SETSLOT <slot> <args…>` for every slot, on each of `on` (in parallel).
    SetSlot {
        on: Vec<&'p Peer>,
        args: Vec<&'p str>,
    },
    /// Every key `from` holds in the slots migrated to `to`.
    Empty {
        from: &'p Peer,
        to: &'p Peer,
        /// `from` is the owner whose copy clients saw (see [`empty_slots`]).
        replace: bool,
    },
}

fn set_slot<'p>(on: Vec<&'p Peer>, args: &[&'p str]) -> Step<'p> {
    Step::SetSlot {
        on,
        args: args.to_vec(),
    }
}

/// A round of a move from `from` to `to`, `rest` being every other node, in the order that
/// keeps what was there: IMPORTING on the target first (were the source to die now, the
/// slots still have their owner), then MIGRATING on the source, then every key moved; only
/// then SETSLOT NODE, on the target (which bumps its config epoch, so its claim outranks the
/// source's everywhere), the source, and the rest. The target never takes a slot the source
/// still holds keys in: a node that sees a higher-epoch claim on a slot where it holds keys
/// deletes them.
pub(super) fn move_round<'p>(from: &'p Peer, to: &'p Peer, rest: &'p [Peer]) -> Vec<Step<'p>> {
    let node = ["NODE", to.id.as_str()];
    vec![
        set_slot(vec![to], &["IMPORTING", &from.id]),
        set_slot(vec![from], &["MIGRATING", &to.id]),
        Step::Empty {
            from,
            to,
            replace: true,
        },
        set_slot(vec![to], &node),
        set_slot(vec![from], &node),
        set_slot(rest.iter().collect(), &node),
    ]
}

/// A round of closing slots at `owner` that `open_on` have open: each open node gives its
/// keys to the owner before it is made stable, so none accepts another write for a slot
/// (through an ASK redirect) after its keys were taken; MIGRATE still works there while the
/// slot is open, and the owner accepts what it owns. The owner, then everyone else, last.
pub(super) fn close_round<'p>(
    owner: &'p Peer,
    open_on: &'p [Peer],
    rest: &'p [Peer],
) -> Vec<Step<'p>> {
    let mut steps = Vec::new();
    for open in open_on {
        steps.push(Step::Empty {
            from: open,
            to: owner,
            replace: false,
        });
        steps.push(set_slot(vec![open], &["STABLE"]));
    }
    steps.push(set_slot(vec![owner], &["STABLE"]));
    let others = rest
        .iter()
        .filter(|p| !open_on.iter().any(|o| o.addr == p.addr))
        .collect();
    steps.push(set_slot(others, &["STABLE"]));
    steps
}

/// Runs a round's steps on `slots`, one after another; returns the keys moved.
async fn run_round(
    ctx: &Context,
    steps: &[Step<'_>],
    slots: &[u16],
    lanes: Lanes,
    batch: &mut KeyBatch,
) -> Result<usize, ActError> {
    let mut keys = 0;
    for step in steps {
        match step {
            Step::SetSlot { on, args } => {
                let told = on
                    .iter()
                    .map(|peer| setslots(ctx, peer, slots, args, lanes));
                futures_util::future::try_join_all(told).await?;
            }
            Step::Empty { from, to, replace } => {
                keys += empty_slots(ctx, from, to, slots, *replace, batch).await?;
            }
        }
    }
    Ok(keys)
}

/// Has `owner` take `ranges`, which no node serves by its own word: SETSLOT NODE on itself,
/// BUMPEPOCH so its claim outranks what any view still says, then SETSLOT NODE everywhere.
/// Nobody holds keys there: a node that does not serve a slot (and has it not open) has none.
pub(super) async fn take_slots(
    ctx: &Context,
    owner: &Peer,
    ranges: &[SlotRange],
) -> Result<(), ActError> {
    let slots: Vec<u16> = ranges.iter().flat_map(SlotRange::slots).collect();
    setslots(ctx, owner, &slots, &["NODE", &owner.id], Lanes::One).await?;
    let mut bump = redis::cmd("CLUSTER");
    bump.arg("BUMPEPOCH");
    run_on::<redis::Value>(ctx, owner, "CLUSTER BUMPEPOCH", &bump).await?;
    for peer in declared_except(ctx, &[owner]) {
        setslots(ctx, &peer, &slots, &["NODE", &owner.id], Lanes::One).await?;
    }
    Ok(())
}

/// Keys per GETKEYSINSLOT and per round trip of MIGRATEs, sized by how long they take rather
/// than by a fixed count: MIGRATE blocks the source for every other client while it runs,
/// so a batch that takes longer than [`KeyBatch::MAX_STALL`] halves, one done well under it
/// doubles. Small keys move in big batches, big keys in small ones, and a client never waits
/// long behind one.
struct KeyBatch {
    keys: usize,
}

impl Default for KeyBatch {
    fn default() -> Self {
        KeyBatch { keys: 1000 }
    }
}

impl KeyBatch {
    const MIN: usize = 10;
    const MAX: usize = 20_000;
    const MAX_STALL: std::time::Duration = std::time::Duration::from_millis(10);

    fn adapt(&mut self, round_trip_took: std::time::Duration) {
        if round_trip_took > Self::MAX_STALL {
            self.keys = (self.keys / 2).max(Self::MIN);
        } else if round_trip_took < Self::MAX_STALL / 2 {
            self.keys = (self.keys * 2).min(Self::MAX);
        }
    }
}

/// Moves every key `from` holds in `slots` to `to`; returns how many. Each round asks for
/// the keys of every slot still holding some in one pipeline, then migrates them (a MIGRATE
/// per slot: its keys must share one), a batch of keys per round trip, until every slot is
/// empty.
///
/// With `replace`, `from` is the slots' owner and its copy is the one clients saw; without,
/// a key on both sides is replaced only when both copies are the same (as redis-cli does),
/// and a real conflict stops the move naming the key, for a person to settle.
async fn empty_slots(
    ctx: &Context,
    from: &Peer,
    to: &Peer,
    slots: &[u16],
    replace: bool,
    batch: &mut KeyBatch,
) -> Result<usize, ActError> {
    let target = migrate_target(ctx, to);
    let mut pending: Vec<u16> = slots.to_vec();
    let mut moved = 0;
    while !pending.is_empty() {
        let mut ask = redis::pipe();
        for slot in &pending {
            ask.cmd("CLUSTER")
                .arg("GETKEYSINSLOT")
                .arg(*slot)
                .arg(batch.keys);
        }
        let found: Vec<Vec<Vec<u8>>> = run_pipe(ctx, from, "CLUSTER GETKEYSINSLOT", &ask).await?;
        let work: Vec<SlotKeys> = pending
            .iter()
            .copied()
            .zip(found)
            .filter(|(_, keys)| !keys.is_empty())
            .collect();
        if work.is_empty() {
            break;
        }
        // MIGRATE blocks the source for every other client while it runs, and a pipeline's
        // MIGRATEs run back to back: each round trip carries at most a batch of keys.
        for group in batches(&work, batch.keys) {
            let started = std::time::Instant::now();
            let mut migrate = redis::pipe();
            migrate.ignore_errors();
            for (_, keys) in group {
                migrate.add_command(migrate_cmd(ctx, &target, replace, keys));
            }
            let replies: Vec<redis::RedisResult<redis::Value>> =
                run_pipe(ctx, from, "MIGRATE", &migrate).await?;
            batch.adapt(started.elapsed());
            for ((slot, keys), reply) in group.iter().zip(replies) {
                match reply {
                    Ok(_) => {}
                    // The target's BUSYKEY comes back wrapped ("ERR Target instance replied
                    // with error: BUSYKEY …").
                    Err(e) if e.to_string().contains("BUSYKEY") => {
                        settle_busy_keys(ctx, from, to, &target, *slot, keys).await?
                    }
                    Err(source) => return Err(failed(&from.name, "MIGRATE", source)),
                }
                moved += keys.len();
            }
            let in_group: usize = group.iter().map(|(_, keys)| keys.len()).sum();
            ctx.moves.keys_moved(in_group);
        }
        pending = work.into_iter().map(|(slot, _)| slot).collect();
    }
    Ok(moved)
}

/// A slot and the keys asked of it.
type SlotKeys = (u16, Vec<Vec<u8>>);

/// `work` cut into consecutive groups of at most `keys` keys (a slot with more is a group
/// of its own).
fn batches(work: &[SlotKeys], keys: usize) -> Vec<&[SlotKeys]> {
    let mut groups = Vec::new();
    let (mut start, mut in_group) = (0, 0);
    for (i, (_, k)) in work.iter().enumerate() {
        if i > start && in_group + k.len() > keys {
            groups.push(&work[start..i]);
            (start, in_group) = (i, 0);
        }
        in_group += k.len();
    }
    if start < work.len() {
        groups.push(&work[start..]);
    }
    groups
}

/// Where MIGRATE sends keys: like cluster traffic, to the TLS port when the bus uses TLS.
fn migrate_target(ctx: &Context, to: &Peer) -> (String, u16) {
    match ctx.spec.nodes.iter().find(|n| n.addr() == to.addr) {
        Some(node) => (node.address.to_string(), node.cluster_port),
        None => {
            let (ip, port) = split_addr(&to.addr);
            (ip.to_string(), port)
        }
    }
}

fn migrate_cmd(
    ctx: &Context,
    target: &(String, u16),
    replace: bool,
    keys: &[Vec<u8>],
) -> redis::Cmd {
    let mut migrate = redis::cmd("MIGRATE");
    migrate
        .arg(&target.0)
        .arg(target.1)
        .arg("")
        .arg(0)
        .arg(MIGRATE_TIMEOUT_MS);
    if replace {
        migrate.arg("REPLACE");
    }
    if let Some(password) = &ctx.password {
        migrate.arg("AUTH").arg(password.expose());
    }
    migrate.arg("KEYS").arg(keys);
    migrate
}

/// MIGRATE said BUSYKEY: a key of the batch exists on both nodes (an earlier MIGRATE that
/// timed out after the target took it, or a write on each side of an open slot). As
/// redis-cli does: where both copies are the same (compared by DUMP), the key is migrated
/// with REPLACE; where they differ, the move stops naming the key.
async fn settle_busy_keys(
    ctx: &Context,
    from: &Peer,
    to: &Peer,
    target: &(String, u16),
    slot: u16,
    keys: &[Vec<u8>],
) -> Result<(), ActError> {
    // ASKING: a node that imports the slot answers only then (it is not the slot's owner).
    let mut dump = redis::pipe();
    for key in keys {
        dump.cmd("ASKING").ignore().cmd("DUMP").arg(key);
    }
    let ours: Vec<Option<Vec<u8>>> = run_pipe(ctx, from, "DUMP", &dump).await?;
    let theirs: Vec<Option<Vec<u8>>> = run_pipe(ctx, to, "DUMP", &dump).await?;
    let conflict = keys
        .iter()
        .zip(ours.iter().zip(&theirs))
        .find(|(_, (a, b))| a.is_some() && b.is_some() && a != b);
    if let Some((key, _)) = conflict {
        let e = redis::RedisError::from((
            redis::ErrorKind::Client,
            "a key of the slot exists on both nodes with different values",
            format!(
                "slot {slot}: key '{}' on {} also exists on {} with another value; keep one copy \
                 (`redis-cli -c` DEL or RENAME) and redis-keeper finishes the move",
                String::from_utf8_lossy(key),
                from.name,
                to.name
            ),
        ));
        return Err(ActError::Redis {
            node: from.name.clone(),
            command: "MIGRATE".into(),
            source: e,
            permanent: true,
        });
    }
    run_on::<()>(
        ctx,
        from,
        "MIGRATE REPLACE",
        &migrate_cmd(ctx, target, true, keys),
    )
    .await
}

async fn run_pipe<T: redis::FromRedisValue>(
    ctx: &Context,
    on: &Peer,
    what: &str,
    pipe: &redis::Pipeline,
) -> Result<T, ActError> {
    let (ip, port) = split_addr(&on.addr);
    ctx.redis
        .query_pipe::<T>(ip, port, pipe)
        .await
        .map_err(|source| failed(&on.name, what, source))
}

/// `CLUSTER SETSLOT <slot> <args…>` for every slot, on one node, in one round trip per
/// lane. A step a slot is already past (an earlier pass took it) is no error.
pub(super) async fn setslots(
    ctx: &Context,
    on: &Peer,
    slots: &[u16],
    args: &[&str],
    lanes: Lanes,
) -> Result<(), ActError> {
    let (ip, port) = split_addr(&on.addr);
    let per_lane = slots.len().div_ceil(lanes.count()).max(1);
    let pipelines = slots.chunks(per_lane).enumerate().map(|(lane, chunk)| {
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        for slot in chunk {
            pipe.cmd("CLUSTER").arg("SETSLOT").arg(*slot).arg(args);
        }
        async move {
            ctx.redis
                .query_pipe_on_lane::<Vec<redis::RedisResult<redis::Value>>>(ip, port, lane, &pipe)
                .await
        }
    });
    let replies: Vec<redis::RedisResult<redis::Value>> =
        futures_util::future::try_join_all(pipelines)
            .await
            .map_err(|source| failed(&on.name, "CLUSTER SETSLOT", source))?
            .into_iter()
            .flatten()
            .collect();
    for (slot, reply) in slots.iter().zip(replies) {
        match reply {
            Ok(_) => {}
            Err(e) if already_past(args[0], &e.to_string()) => {}
            Err(source) => {
                let what = format!("CLUSTER SETSLOT {slot} {}", args[0]);
                return Err(failed(&on.name, &what, source));
            }
        }
    }
    Ok(())
}

/// Whether SETSLOT's refusal says the slot is already past this step.
fn already_past(step: &str, error: &str) -> bool {
    match step {
        "IMPORTING" => error.contains("already the owner"),
        "MIGRATING" => error.contains("not the owner"),
        // A node outside cluster.toml (which keeps Redis's default
        // cluster-allow-replica-migration) turns replica of the target as soon as it hears
        // the target took its last slot: it has nothing left to hand over. And every node
        // is told the outcome, replicas among them, which refuse SETSLOT: a replica's slots
        // and marks are its master's (Valkey 8 replicates SETSLOT to it).
        "NODE" | "STABLE" => error.contains("only with masters"),
        _ => false,
    }
}

/// The declared nodes other than `except`, as peers (by address: their ids are not needed).
pub(super) fn declared_except(ctx: &Context, except: &[&Peer]) -> Vec<Peer> {
    ctx.spec
        .nodes
        .iter()
        .filter(|n| !except.iter().any(|p| p.addr == n.addr()))
        .map(|n| Peer {
            id: String::new(),
            addr: n.addr(),
            name: n.name.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where each step of `steps` sets `args0` (IMPORTING, NODE…) on `peer`, in order.
    fn sets(steps: &[Step], peer: &Peer, args0: &str) -> Vec<usize> {
        steps
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                matches!(s, Step::SetSlot { on, args } if args[0] == args0 && on.contains(&peer))
            })
            .map(|(i, _)| i)
            .collect()
    }

    fn emptied(steps: &[Step], peer: &Peer) -> usize {
        steps
            .iter()
            .position(|s| matches!(s, Step::Empty { from, .. } if *from == peer))
            .expect("the node is emptied")
    }

    #[test]
    fn rounds_grow_over_sparse_slots_up_to_a_bound_and_never_shrink() {
        let slots: Vec<u16> = (0..3000).collect();
        let lens_on = |keys: Option<&[u64]>, lanes| -> Vec<usize> {
            let rounds = rounds(&slots, keys, lanes);
            assert_eq!(rounds.concat(), slots, "every slot once, in order");
            rounds.iter().map(|r| r.len()).collect()
        };
        let lens = |keys| lens_on(keys, Lanes::One);
        let by_128 = [vec![128; 23], vec![56]].concat();
        assert_eq!(lens(None), by_128, "counts unknown");
        assert_eq!(
            lens(Some(&[0; 3000])),
            [512, 512, 512, 512, 512, 440],
            "empty slots"
        );
        assert_eq!(
            lens_on(Some(&[0; 3000]), Lanes::Many),
            by_128,
            "SETSLOT waits for replicas: no growth"
        );
        assert_eq!(
            lens(Some(&[1000; 3000]))[0],
            128,
            "full slots: 128 at least"
        );
        // 100 keys a slot: the round closes at 250 slots (25,000 keys).
        assert_eq!(lens(Some(&[100; 3000]))[..2], [250, 250]);
        assert_eq!(
            lens(Some(&[0; 2])),
            by_128,
            "counts of other slots are not believed"
        );
    }

    #[test]
    fn a_move_opens_the_target_first_and_hands_over_only_once_the_source_is_empty() {
        let (from, to) = (Peer::test("a", 1), Peer::test("b", 2));
        let rest = [Peer::test("c", 3), Peer::test("d", 4)];
        let steps = move_round(&from, &to, &rest);
        assert_eq!(
            sets(&steps, &to, "IMPORTING"),
            [0],
            "IMPORTING on the target, first"
        );
        assert_eq!(
            sets(&steps, &from, "MIGRATING"),
            [1],
            "then MIGRATING on the source"
        );
        let empty = emptied(&steps, &from);
        assert_eq!(
            steps[empty],
            Step::Empty {
                from: &from,
                to: &to,
                replace: true
            }
        );
        let (on_target, on_source) = (sets(&steps, &to, "NODE"), sets(&steps, &from, "NODE"));
        assert_eq!(on_target.len(), 1);
        assert_eq!(on_source.len(), 1);
        assert!(
            empty < on_target[0],
            "no SETSLOT NODE while the source holds keys"
        );
        assert!(on_target[0] < on_source[0], "the target, then the source");
        for other in &rest {
            let told = sets(&steps, other, "NODE");
            assert_eq!(told.len(), 1, "{} is told once", other.name);
            assert!(on_source[0] < told[0], "{} is told last", other.name);
        }
        for step in &steps {
            if let Step::SetSlot { args, .. } = step {
                if args[0] == "NODE" {
                    assert_eq!(args[1], to.id, "every node is told the target's id");
                }
            }
        }
    }

    #[test]
    fn a_close_empties_each_open_node_before_it_is_made_stable_and_the_owner_after_all() {
        let owner = Peer::test("a", 1);
        let open = [Peer::test("b", 2), Peer::test("c", 3)];
        let rest = [Peer::test("b", 2), Peer::test("c", 3), Peer::test("d", 4)];
        let steps = close_round(&owner, &open, &rest);
        let owner_stable = sets(&steps, &owner, "STABLE");
        assert_eq!(owner_stable.len(), 1);
        for peer in &open {
            let empty = emptied(&steps, peer);
            assert!(
                matches!(steps[empty], Step::Empty { to, replace: false, .. } if to == &owner),
                "{}'s keys go to the owner, a differing copy is not overwritten",
                peer.name
            );
            let stable = sets(&steps, peer, "STABLE");
            assert_eq!(stable.len(), 1, "{} made stable once", peer.name);
            assert!(
                empty < stable[0],
                "{} emptied before made stable",
                peer.name
            );
            assert!(stable[0] < owner_stable[0]);
        }
        let others = sets(&steps, &rest[2], "STABLE");
        assert_eq!(others.len(), 1);
        assert!(owner_stable[0] < others[0], "the rest last");
    }

    #[test]
    fn migrate_batches_hold_at_most_the_batch_and_every_slot_once() {
        let work: Vec<SlotKeys> = [3usize, 4, 2, 9, 1]
            .iter()
            .enumerate()
            .map(|(slot, n)| (slot as u16, vec![b"k".to_vec(); *n]))
            .collect();
        let groups = batches(&work, 6);
        let slots: Vec<Vec<u16>> = groups
            .iter()
            .map(|g| g.iter().map(|(s, _)| *s).collect())
            .collect();
        assert_eq!(slots, vec![vec![0], vec![1, 2], vec![3], vec![4]]);
        assert_eq!(batches(&work, 100).len(), 1);
        assert!(batches(&[], 6).is_empty());
    }

    #[test]
    fn the_batch_shrinks_when_slow_and_grows_when_fast() {
        let mut batch = KeyBatch::default();
        batch.adapt(std::time::Duration::from_millis(30));
        assert_eq!(batch.keys, 500);
        batch.adapt(std::time::Duration::from_millis(1));
        assert_eq!(batch.keys, 1000);
        batch.adapt(std::time::Duration::from_millis(7));
        assert_eq!(batch.keys, 1000, "between half and all of the stall: kept");
        for _ in 0..20 {
            batch.adapt(std::time::Duration::ZERO);
        }
        assert_eq!(batch.keys, KeyBatch::MAX);
    }

    /// What every node is told (NODE, STABLE) a replica refuses, and has no need of; what
    /// only the two parties of a move are asked (IMPORTING, MIGRATING) must not be skipped.
    #[test]
    fn a_replica_refusing_what_every_node_is_told_is_past_it_but_not_a_partys_step() {
        let replica = "ERR Please use SETSLOT only with masters.";
        assert!(already_past("NODE", replica));
        assert!(already_past("STABLE", replica));
        assert!(!already_past("IMPORTING", replica));
        assert!(!already_past("MIGRATING", replica));
        assert!(!already_past("STABLE", "ERR Unknown node"));
    }
}
