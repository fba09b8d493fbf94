//! `[cluster]`: the cluster's name and how it moves slots.

use super::*;

pub(super) fn slot_migration(
    raw: Option<&Spanned<String>>,
    report: &mut Report<'_>,
) -> SlotMigration {
    match raw.map(|m| (m.get_ref().as_str(), m.span())) {
        None | Some(("auto", _)) => SlotMigration::Auto,
        Some(("atomic", _)) => SlotMigration::Atomic,
        Some(("keys", _)) => SlotMigration::Keys,
        Some((other, span)) => {
            report.add(
                span,
                format!("slot_migration = '{other}' is not a way of moving slots"),
                "use \"auto\", \"atomic\" or \"keys\"",
            );
            SlotMigration::Auto
        }
    }
}

pub(super) fn cluster_name(
    cluster: &RawCluster,
    at: Range<usize>,
    report: &mut Report<'_>,
) -> Option<String> {
    dns_name(
        cluster.name.as_ref(),
        at,
        "cluster name",
        "[cluster] has no name".into(),
        "add name = \"dev\"; it prefixes every container, volume and label",
        report,
    )
    .map(|n| n.get_ref().clone())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    #[test]
    fn failback_can_be_turned_off() {
        let text = VALID.replace(
            "password_file = \"pw\"",
            "password_file = \"pw\"\nfailback = false",
        );
        assert!(!parse(&text, Path::new("c.toml")).unwrap().failback);
    }

    #[test]
    fn slot_migration_is_auto_unless_said_and_a_wrong_word_is_named() {
        assert_eq!(
            parse(VALID, Path::new("c.toml")).unwrap().slot_migration,
            SlotMigration::Auto
        );
        for (word, way) in [
            ("auto", SlotMigration::Auto),
            ("atomic", SlotMigration::Atomic),
            ("keys", SlotMigration::Keys),
        ] {
            let text = VALID.replace(
                "password_file = \"pw\"",
                &format!("password_file = \"pw\"\nslot_migration = \"{word}\""),
            );
            assert_eq!(
                parse(&text, Path::new("c.toml")).unwrap().slot_migration,
                way
            );
        }
        let text = VALID.replace(
            "password_file = \"pw\"",
            "password_file = \"pw\"\nslot_migration = \"fast\"",
        );
        let line = text.lines().position(|l| l.contains("fast")).unwrap() + 1;
        has(
            &problems(&text),
            line,
            "slot_migration = 'fast' is not a way of moving slots",
        );
    }
}
