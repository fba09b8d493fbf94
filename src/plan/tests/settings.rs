//! Settings, certificates and the password each node is told.

use super::*;

#[test]
fn redis_config_drift_is_set_back_in_redis_spelling() {
    let mut spec = reference_spec();
    spec.redis.insert("maxmemory".into(), "100mb".into());
    spec.redis
        .insert("maxmemory-policy".into(), "allkeys-lru".into());
    let observed = with_views(&spec, |i| {
        let mut v = formed_view(&spec, i);
        v.config.insert(
            "maxmemory".into(),
            if i == 1 {
                "0".into()
            } else {
                "104857600".into()
            },
        );
        v.config
            .insert("maxmemory-policy".into(), "allkeys-lru".into());
        v
    });
    let plan = plan(&spec, &observed);
    assert_eq!(
        plan.actions,
        vec![Action::SetConfig(SetConfig {
            node: peer(&spec, 1),
            settings: vec![("maxmemory".into(), "100mb".into())]
        })]
    );
}

#[test]
fn the_operators_own_settings_are_set_back_when_changed_live() {
    let spec = reference_spec();
    let observed = with_views(&spec, |i| {
        let mut v = formed_view(&spec, i);
        match i {
            1 => v
                .config
                .insert("cluster-node-timeout".into(), "60000".into()),
            2 => v
                .config
                .insert("cluster-allow-replica-migration".into(), "yes".into()),
            _ => None,
        };
        v
    });
    let plan = plan(&spec, &observed);
    assert_eq!(
        plan.actions,
        vec![
            Action::SetConfig(SetConfig {
                node: peer(&spec, 1),
                settings: vec![("cluster-node-timeout".into(), "5000".into())]
            }),
            Action::SetConfig(SetConfig {
                node: peer(&spec, 2),
                settings: vec![("cluster-allow-replica-migration".into(), "no".into())]
            })
        ]
    );
    let findings = health::findings(&Topology::new(&spec, &observed));
    assert!(
        findings.iter().any(|f| f
            .message
            .contains("redis-2: cluster-node-timeout is 60000, declared 5000")),
        "{findings:?}"
    );
}

#[test]
fn settings_compare_as_redis_spells_them() {
    assert!(same_setting(Some("104857600"), "100mb"));
    assert!(same_setting(Some("1000"), "1k"));
    assert!(same_setting(Some("yes"), "true"));
    assert!(same_setting(Some("allkeys-lru"), "ALLKEYS-LRU"));
    assert!(!same_setting(Some("0"), "100mb"));
    assert!(!same_setting(None, "100mb"));
}

fn cert(file: Option<&str>, served: Option<&str>, renew: Option<&str>) -> NodeCertificate {
    NodeCertificate {
        file: file.map(|serial| crate::tls::verify::CertInfo {
            serial: serial.into(),
            not_after: std::time::UNIX_EPOCH,
            der: Vec::new(),
        }),
        problem: None,
        served: served.map(String::from),
        renew: renew.map(String::from),
    }
}

#[test]
fn a_certificate_renewed_or_replaced_on_disk_is_loaded_live() {
    let spec = reference_spec();
    let mut observed = with_views(&spec, |i| formed_view(&spec, i));
    observed.certificates = BTreeMap::from([
        ("redis-1".to_string(), cert(Some("A1"), Some("A1"), None)),
        ("redis-2".to_string(), cert(Some("B2"), Some("B1"), None)),
        // Not answering a handshake (restarting): nothing to compare yet.
        ("redis-3".to_string(), cert(Some("C2"), None, None)),
    ]);
    assert_eq!(
        plan(&spec, &observed).actions,
        vec![Action::LoadCertificates(LoadCertificates {
            node: "redis-2".into(),
            served: "B1".into(),
            file: "B2".into(),
        })]
    );
}

#[test]
fn certificates_due_are_issued_first_and_unloadable_files_block() {
    let spec = reference_spec();
    let mut observed = with_views(&spec, |i| formed_view(&spec, i));
    observed.certificates = BTreeMap::from([(
        "redis-1".to_string(),
        cert(Some("A1"), Some("A1"), Some("it expires in 12 days")),
    )]);
    let renewing = plan(&spec, &observed);
    let issue = vec![Action::IssueCertificates(IssueCertificates {
        nodes: vec![("redis-1".into(), "it expires in 12 days".into())],
    })];
    assert_eq!(renewing.actions, issue);
    // Files a user just replaced with a short-lived certificate: renewed first, and loaded
    // only in a later pass (the load would name the replaced serial, not the one it loads).
    observed.certificates = BTreeMap::from([(
        "redis-1".to_string(),
        cert(Some("A2"), Some("A1"), Some("it expires in 12 days")),
    )]);
    assert_eq!(plan(&spec, &observed).actions, issue);
    // Readable, and differing from what is served, but not loadable: never loaded.
    let mut broken = cert(Some("A2"), Some("A1"), None);
    broken.problem =
        Some("certs/redis-1/redis.key: this key does not match the certificate".into());
    observed.certificates = BTreeMap::from([("redis-1".to_string(), broken)]);
    let blocked = plan(&spec, &observed);
    assert!(blocked.actions.is_empty());
    assert_eq!(
        blocked.blocked,
        vec!["redis-1: its certificate files cannot be loaded: certs/redis-1/redis.key: this key does not match the certificate".to_string()]
    );
}

#[test]
fn nodes_refusing_the_declared_password_or_keeping_the_old_one_get_it_first() {
    let spec = reference_spec();
    let mut observed = with_views(&spec, |i| formed_view(&spec, i));
    observed
        .redis
        .insert("redis-2".into(), RedisState::RefusesPassword);
    if let Some(RedisState::Up(view)) = observed.redis.get_mut("redis-3") {
        view.password_stale = true;
    }
    let plan = plan(&spec, &observed);
    assert_eq!(
        plan.actions.first(),
        Some(&Action::RotatePassword(RotatePassword {
            nodes: vec!["redis-2".into(), "redis-3".into()]
        })),
        "{plan:?}"
    );
}
