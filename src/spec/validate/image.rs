//! `[image]`: the node image, its pull policy and fallback.

use super::*;

pub(super) fn image(raw: crate::spec::file::RawImage, report: &mut Report<'_>) -> ImageSpec {
    let name = match raw.name {
        Some(n) if n.get_ref().trim().is_empty() || n.get_ref().contains(char::is_whitespace) => {
            report.add(
                n.span(),
                format!("image name '{}' is not valid", n.get_ref()),
                "use a reference like redis:7.2",
            );
            String::new()
        }
        Some(n) => n.into_inner(),
        None => "redis:7.2".to_string(),
    };
    let pull = match raw.pull.as_ref().map(|p| (p.get_ref().as_str(), p.span())) {
        None | Some(("if-not-present", _)) => PullPolicy::IfNotPresent,
        Some(("always", _)) => PullPolicy::Always,
        Some(("never", _)) => PullPolicy::Never,
        Some((other, span)) => {
            report.add(
                span,
                format!("pull = '{other}' is not a pull policy"),
                "use \"always\", \"if-not-present\" or \"never\"",
            );
            PullPolicy::IfNotPresent
        }
    };
    let fallback = match raw
        .fallback
        .as_ref()
        .map(|p| (p.get_ref().as_str(), p.span()))
    {
        None | Some(("host", _)) => ImageFallback::Host,
        Some(("none", _)) => ImageFallback::None,
        Some((other, span)) => {
            report.add(
                span,
                format!("fallback = '{other}' is not a fallback"),
                "use \"host\" or \"none\"",
            );
            ImageFallback::Host
        }
    };
    ImageSpec {
        name,
        pull,
        fallback,
    }
}
