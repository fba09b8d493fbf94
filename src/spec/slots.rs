//! Hash slots and slot ranges: the unit in which cluster.toml declares ownership.
//!
//! A Redis Cluster has exactly [`SLOT_COUNT`] slots. Ranges are inclusive on both ends, as
//! Redis itself writes them (`0-5460`), and a single slot may be written alone (`42`).

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// The number of hash slots in every Redis Cluster.
pub const SLOT_COUNT: u16 = 16384;

/// An inclusive range of hash slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SlotRange {
    pub start: u16,
    pub end: u16,
}

impl SlotRange {
    pub(crate) fn new(start: u16, end: u16) -> Self {
        debug_assert!(start <= end && end < SLOT_COUNT);
        SlotRange { start, end }
    }

    pub(crate) fn len(&self) -> usize {
        usize::from(self.end - self.start) + 1
    }

    pub(crate) fn contains(&self, slot: u16) -> bool {
        self.start <= slot && slot <= self.end
    }

    pub(crate) fn slots(&self) -> impl Iterator<Item = u16> {
        self.start..=self.end
    }
}

impl fmt::Display for SlotRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

impl Serialize for SlotRange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Why a slot range string did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlotRangeError {
    #[error(
        "'{0}' is not a slot range: write it as \"START-END\" (e.g. \"0-5460\") or a single slot"
    )]
    Syntax(String),
    #[error("slot {0} is out of range: slots are 0 to 16383")]
    OutOfRange(u32),
    #[error("range '{0}' ends before it starts: write the lower slot first")]
    Reversed(String),
}

impl FromStr for SlotRange {
    type Err = SlotRangeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        let (start, end) = match text.split_once('-') {
            Some((a, b)) => (parse_slot(a, text)?, parse_slot(b, text)?),
            None => {
                let slot = parse_slot(text, text)?;
                (slot, slot)
            }
        };
        if start > end {
            return Err(SlotRangeError::Reversed(text.to_string()));
        }
        Ok(SlotRange { start, end })
    }
}

fn parse_slot(part: &str, whole: &str) -> Result<u16, SlotRangeError> {
    let n: u32 = part
        .trim()
        .parse()
        .map_err(|_| SlotRangeError::Syntax(whole.to_string()))?;
    if n >= u32::from(SLOT_COUNT) {
        return Err(SlotRangeError::OutOfRange(n));
    }
    Ok(n as u16)
}

/// Collapses a sorted or unsorted list of slots into the fewest inclusive ranges.
/// Ranges for people: all of them when few, else the first three and how many more.
pub(crate) fn abbreviated(ranges: &[SlotRange]) -> String {
    let shown: Vec<String> = ranges.iter().take(4).map(ToString::to_string).collect();
    if ranges.len() <= 4 {
        shown.join(", ")
    } else {
        format!(
            "{}, … and {} more ranges",
            shown[..3].join(", "),
            ranges.len() - 3
        )
    }
}

pub(crate) fn ranges_of(slots: impl IntoIterator<Item = u16>) -> Vec<SlotRange> {
    let mut sorted: Vec<u16> = slots.into_iter().collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out: Vec<SlotRange> = Vec::new();
    for slot in sorted {
        match out.last_mut() {
            Some(last) if last.end + 1 == slot => last.end = slot,
            _ => out.push(SlotRange::new(slot, slot)),
        }
    }
    out
}

/// Where the declared ranges fail to cover every slot exactly once.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct CoverageReport {
    /// Slots nobody declared.
    pub(crate) gaps: Vec<SlotRange>,
    /// Slots declared more than once, with the indexes of every owner that declared them.
    pub(crate) overlaps: Vec<(SlotRange, Vec<usize>)>,
}

#[cfg(test)]
impl CoverageReport {
    fn is_exact(&self) -> bool {
        self.gaps.is_empty() && self.overlaps.is_empty()
    }
}

/// Checks that the owners' ranges (one list per owner) cover 0..=16383 exactly once.
pub(crate) fn coverage(owners: &[Vec<SlotRange>]) -> CoverageReport {
    let mut claims: Vec<Vec<usize>> = vec![Vec::new(); usize::from(SLOT_COUNT)];
    for (owner, ranges) in owners.iter().enumerate() {
        for range in ranges {
            for slot in range.slots() {
                let c = &mut claims[usize::from(slot)];
                if !c.contains(&owner) {
                    c.push(owner);
                }
            }
        }
    }
    let gaps = ranges_of((0..SLOT_COUNT).filter(|s| claims[usize::from(*s)].is_empty()));
    let mut overlaps: Vec<(SlotRange, Vec<usize>)> = Vec::new();
    for slot in 0..SLOT_COUNT {
        let c = &claims[usize::from(slot)];
        if c.len() < 2 {
            continue;
        }
        match overlaps.last_mut() {
            Some((range, who)) if range.end + 1 == slot && who == c => range.end = slot,
            _ => overlaps.push((SlotRange::new(slot, slot), c.clone())),
        }
    }
    CoverageReport { gaps, overlaps }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges_and_single_slots() {
        assert_eq!("0-5460".parse(), Ok(SlotRange::new(0, 5460)));
        assert_eq!(" 42 ".parse(), Ok(SlotRange::new(42, 42)));
        assert_eq!("16383".parse(), Ok(SlotRange::new(16383, 16383)));
    }

    #[test]
    fn rejects_bad_ranges_with_the_reason() {
        assert_eq!(
            "10-2".parse::<SlotRange>(),
            Err(SlotRangeError::Reversed("10-2".into()))
        );
        assert_eq!(
            "0-16384".parse::<SlotRange>(),
            Err(SlotRangeError::OutOfRange(16384))
        );
        assert_eq!(
            "a-b".parse::<SlotRange>(),
            Err(SlotRangeError::Syntax("a-b".into()))
        );
        assert_eq!(
            "".parse::<SlotRange>(),
            Err(SlotRangeError::Syntax("".into()))
        );
    }

    #[test]
    fn collapses_slots_into_ranges() {
        assert_eq!(
            ranges_of([5, 1, 2, 3, 9, 10]),
            vec![
                SlotRange::new(1, 3),
                SlotRange::new(5, 5),
                SlotRange::new(9, 10)
            ]
        );
        assert!(ranges_of([]).is_empty());
    }

    #[test]
    fn exact_cover_of_the_reference_layout() {
        let owners = vec![
            vec![SlotRange::new(0, 5460)],
            vec![SlotRange::new(5461, 10922)],
            vec![SlotRange::new(10923, 16383)],
        ];
        assert!(coverage(&owners).is_exact());
    }

    #[test]
    fn names_gaps_and_overlaps_with_their_owners() {
        let owners = vec![
            vec![SlotRange::new(0, 100)],
            vec![SlotRange::new(90, 200), SlotRange::new(300, 16383)],
        ];
        let report = coverage(&owners);
        assert_eq!(report.gaps, vec![SlotRange::new(201, 299)]);
        assert_eq!(report.overlaps, vec![(SlotRange::new(90, 100), vec![0, 1])]);
    }

    #[test]
    fn display_round_trips() {
        for text in ["0-5460", "7"] {
            assert_eq!(text.parse::<SlotRange>().unwrap().to_string(), text);
        }
    }
}
