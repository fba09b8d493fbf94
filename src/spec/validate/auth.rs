//! The password: exactly one source, and who must give it.

use super::*;

pub(super) fn auth(
    cluster: &RawCluster,
    at: Range<usize>,
    base: &Path,
    report: &mut Report<'_>,
) -> Option<AuthSpec> {
    let no_password = cluster.no_password.as_ref().is_some_and(|v| *v.get_ref());
    let chosen = [
        cluster.password_env.as_ref().map(Spanned::span),
        cluster.password_file.as_ref().map(Spanned::span),
        no_password
            .then(|| cluster.no_password.as_ref().map(Spanned::span))
            .flatten(),
    ];
    let count = chosen.iter().flatten().count();
    if count == 0 {
        report.add(
            at,
            "no password source in [cluster]",
            "set password_file = \".redis-keeper/password\" (created for you), password_env = \"REDIS_PASSWORD\", or no_password = true",
        );
        return None;
    }
    if count > 1 {
        let span = chosen.iter().flatten().nth(1).cloned().unwrap_or(at);
        report.add(
            span,
            "more than one password source in [cluster]",
            "keep exactly one of password_env, password_file and no_password = true",
        );
        return None;
    }
    if let Some(var) = &cluster.password_env {
        if !env_name_ok(var.get_ref()) {
            report.add(
                var.span(),
                format!("'{}' is not an environment variable name", var.get_ref()),
                "use letters, digits and '_', e.g. REDIS_PASSWORD",
            );
            return None;
        }
        return Some(AuthSpec::Env(var.get_ref().clone()));
    }
    if let Some(file) = &cluster.password_file {
        if file.get_ref().trim().is_empty() {
            report.add(
                file.span(),
                "password_file is empty",
                "name a file, e.g. \".redis-keeper/password\"",
            );
            return None;
        }
        return Some(AuthSpec::File(base.join(file.get_ref())));
    }
    Some(AuthSpec::NoPassword)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    #[test]
    fn password_source_must_be_exactly_one() {
        let none = problems(&VALID.replace("password_file = \"pw\"", ""));
        has(&none, 2, "no password source");
        let two = problems(&VALID.replace(
            "password_file = \"pw\"",
            "password_file = \"pw\"\nno_password = true",
        ));
        has(&two, 5, "more than one password source");
        let env = problems(&VALID.replace("password_file = \"pw\"", "password_env = \"1BAD\""));
        has(&env, 4, "not an environment variable name");
        let ok = parse(
            &VALID.replace("password_file = \"pw\"", "no_password = true"),
            Path::new("c.toml"),
        );
        assert_eq!(ok.unwrap().auth, AuthSpec::NoPassword);
    }
}
