//! Even slot ranges without arithmetic: `redis-keeper balance` gives every declared master
//! an even share of the 16384 slots, moving the fewest slots it can from the layout it
//! starts from (the one the cluster serves, else the one cluster.toml declares: a master
//! keeps what it holds up to its share; only the excess, and the slots of removed masters,
//! change hands), and writes the ranges back into the file for review, its comments and
//! layout kept.

use std::ops::Range;

use toml::Spanned;

use super::file::RawFile;
use super::slots::{ranges_of, SlotRange};
use super::SLOT_COUNT;

/// The even layout closest to `current` (each master's declared slots, in file order; a new
/// master declares none): as many slots change owner as the imbalance needs, and no more.
/// Each master's share is 16384 / masters, the remainder going to those holding most now.
pub(crate) fn balanced(current: &[Vec<SlotRange>]) -> Vec<Vec<SlotRange>> {
    let masters = current.len();
    if masters == 0 {
        return Vec::new();
    }
    let total = usize::from(SLOT_COUNT);
    let mut owner: Vec<Option<usize>> = vec![None; total];
    for (i, ranges) in current.iter().enumerate() {
        for slot in ranges.iter().flat_map(SlotRange::slots) {
            // An overlap (the file is being edited): the first master keeps it.
            owner[usize::from(slot)].get_or_insert(i);
        }
    }
    let mut held = vec![0usize; masters];
    for o in owner.iter().flatten() {
        held[*o] += 1;
    }
    let mut by_holding: Vec<usize> = (0..masters).collect();
    by_holding.sort_by_key(|i| std::cmp::Reverse(held[*i]));
    let mut share = vec![total / masters; masters];
    for i in by_holding.iter().take(total % masters) {
        share[*i] += 1;
    }
    // Over its share: a master gives up its highest slots, so what it keeps stays together.
    for slot in (0..total).rev() {
        if let Some(o) = owner[slot] {
            if held[o] > share[o] {
                owner[slot] = None;
                held[o] -= 1;
            }
        }
    }
    // Under its share: free slots in ascending order, one master at a time, so each takes
    // runs of consecutive slots.
    let mut needy = (0..masters)
        .filter(|i| held[*i] < share[*i])
        .collect::<Vec<_>>()
        .into_iter();
    let mut taker = needy.next();
    for slot in owner.iter_mut().filter(|o| o.is_none()) {
        let Some(i) = taker else { break };
        *slot = Some(i);
        held[i] += 1;
        if held[i] == share[i] {
            taker = needy.next();
        }
    }
    (0..masters)
        .map(|i| ranges_of((0..SLOT_COUNT).filter(|s| owner[usize::from(*s)] == Some(i))))
        .collect()
}

/// One master of the file: its name, its declared slots, and where to write new ones.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FileMaster {
    pub(crate) name: String,
    pub(crate) slots: Vec<SlotRange>,
    /// The `slots` value's place in the text, or where a `slots` line goes when it has none.
    at: Edit,
}

#[derive(Debug, Clone, PartialEq)]
enum Edit {
    Replace(Range<usize>),
    InsertLineAfter(usize),
}

/// The masters of cluster.toml's text, leniently: slots may be missing, empty or leave gaps
/// (the file is being edited); only what balancing needs must be there.
pub(crate) fn masters(text: &str) -> Result<Vec<FileMaster>, String> {
    let raw: RawFile = toml::from_str(text).map_err(|e| e.message().to_string())?;
    let nodes = raw
        .nodes
        .ok_or("cluster.toml declares no [[nodes]]")?
        .into_inner();
    nodes
        .into_iter()
        .map(Spanned::into_inner)
        // Replicas serve no slots of their own.
        .filter(|node| node.replica_of.is_none())
        .map(|node| {
            let name = node.name.ok_or("a [[nodes]] table has no name")?;
            let slots = match &node.slots {
                None => Vec::new(),
                Some(list) => list
                    .get_ref()
                    .iter()
                    .map(|r| {
                        r.get_ref()
                            .parse::<SlotRange>()
                            .map_err(|e| format!("{}: {e}", name.get_ref()))
                    })
                    .collect::<Result<_, _>>()?,
            };
            let at = match &node.slots {
                Some(list) => Edit::Replace(list.span()),
                None => Edit::InsertLineAfter(name.span().end),
            };
            Ok(FileMaster {
                name: name.into_inner(),
                slots,
                at,
            })
        })
        .collect()
}

/// `text` with each master's slots set to `layout` (in the order of [`masters`]).
pub(crate) fn rewrite(text: &str, masters: &[FileMaster], layout: &[Vec<SlotRange>]) -> String {
    let mut edits: Vec<(&Edit, String)> = masters
        .iter()
        .zip(layout)
        .map(|(m, ranges)| {
            let quoted: Vec<String> = ranges.iter().map(|r| format!("\"{r}\"")).collect();
            (&m.at, format!("[{}]", quoted.join(", ")))
        })
        .collect();
    // From the end, so earlier offsets stay right.
    edits.sort_by_key(|(at, _)| std::cmp::Reverse(position(at)));
    let mut out = text.to_string();
    for (at, array) in edits {
        match at {
            Edit::Replace(range) => out.replace_range(range.clone(), &array),
            Edit::InsertLineAfter(offset) => {
                let line_end = out[*offset..].find('\n').map_or(out.len(), |i| offset + i);
                out.insert_str(line_end, &format!("\nslots = {array}"));
            }
        }
    }
    out
}

fn position(edit: &Edit) -> usize {
    match edit {
        Edit::Replace(range) => range.start,
        Edit::InsertLineAfter(offset) => *offset,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(a: u16, b: u16) -> SlotRange {
        SlotRange::new(a, b)
    }

    fn moved(before: &[Vec<SlotRange>], after: &[Vec<SlotRange>]) -> usize {
        let owner = |layout: &[Vec<SlotRange>], s: u16| {
            layout
                .iter()
                .position(|rs| rs.iter().any(|x| x.contains(s)))
        };
        (0..SLOT_COUNT)
            .filter(|s| owner(before, *s) != owner(after, *s))
            .count()
    }

    #[test]
    fn three_fresh_masters_get_even_contiguous_ranges() {
        let layout = balanced(&[vec![], vec![], vec![]]);
        assert_eq!(
            layout,
            vec![
                vec![r(0, 5461)],
                vec![r(5462, 10922)],
                vec![r(10923, 16383)]
            ]
        );
    }

    #[test]
    fn a_fourth_master_takes_a_quarter_and_only_that_moves() {
        let three = vec![
            vec![r(0, 5460)],
            vec![r(5461, 10922)],
            vec![r(10923, 16383)],
        ];
        let mut current = three.clone();
        current.push(Vec::new());
        let four = balanced(&current);
        let counts: Vec<usize> = four
            .iter()
            .map(|rs| rs.iter().map(SlotRange::len).sum())
            .collect();
        assert_eq!(counts, vec![4096; 4]);
        let mut before = three;
        before.push(Vec::new());
        assert_eq!(
            moved(&before, &four),
            4096,
            "only the new master's quarter moves"
        );
        // A fresh contiguous cut (0-4095, 4096-8191, …) would move 8192.
        assert_eq!(
            four[0],
            vec![r(0, 4095)],
            "what a master keeps stays together"
        );
    }

    #[test]
    fn a_removed_masters_slots_are_shared_out_and_nothing_else_moves() {
        // redis-4 (12288-16383) was removed: its slots are owned by nobody in the file.
        let current = vec![vec![r(0, 4095)], vec![r(4096, 8191)], vec![r(8192, 12287)]];
        let three = balanced(&current);
        let counts: Vec<usize> = three
            .iter()
            .map(|rs| rs.iter().map(SlotRange::len).sum())
            .collect();
        assert_eq!(counts.iter().sum::<usize>(), 16384);
        assert!(
            counts.iter().all(|c| (5461..=5462).contains(c)),
            "{counts:?}"
        );
        assert_eq!(
            moved(&current, &three),
            4096,
            "only the removed master's slots"
        );
        assert_eq!(balanced(&three), three, "balanced is a fixed point");
    }

    #[test]
    fn rewrites_only_the_slots_keeping_comments_and_adds_missing_ones() {
        let text = "# my cluster\n[cluster]\nname = \"dev\"\n\n[[nodes]]\nname = \"redis-1\" # the first\nip = \"1.2.3.4\"\nslots = [\"0-16383\"] # all of them\n\n[[nodes]]\nname = \"redis-2\"\nip = \"1.2.3.5\"\n";
        let found = masters(text).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].slots, vec![r(0, 16383)]);
        assert!(found[1].slots.is_empty());
        let layout = balanced(&[found[0].slots.clone(), found[1].slots.clone()]);
        let out = rewrite(text, &found, &layout);
        assert_eq!(
            out,
            "# my cluster\n[cluster]\nname = \"dev\"\n\n[[nodes]]\nname = \"redis-1\" # the first\nip = \"1.2.3.4\"\nslots = [\"0-8191\"] # all of them\n\n[[nodes]]\nname = \"redis-2\"\nslots = [\"8192-16383\"]\nip = \"1.2.3.5\"\n"
        );
    }
}
