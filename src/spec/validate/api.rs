//! `[api]`: where the API token comes from.

use super::*;

pub(super) fn api_token(raw: RawApi, base: &Path, report: &mut Report<'_>) -> Option<TokenSource> {
    match (raw.token_file, raw.token_env) {
        (Some(_), Some(env)) => {
            report.add(
                env.span(),
                "[api] has both token_file and token_env",
                "keep one of them",
            );
            None
        }
        (Some(file), None) if file.get_ref().trim().is_empty() => {
            report.add(
                file.span(),
                "[api].token_file is empty",
                "name a file holding the token",
            );
            None
        }
        (Some(file), None) => Some(TokenSource::File(base.join(file.get_ref()))),
        (None, Some(env)) if !env_name_ok(env.get_ref()) => {
            report.add(
                env.span(),
                format!("'{}' is not an environment variable name", env.get_ref()),
                "use letters, digits and '_', e.g. KEEPER_API_TOKEN",
            );
            None
        }
        (None, Some(env)) => Some(TokenSource::Env(env.get_ref().clone())),
        (None, None) => None,
    }
}
