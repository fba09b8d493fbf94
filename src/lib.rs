//! redis-keeper: a reconciling operator that keeps a Redis Cluster in Docker at the state
//! declared in cluster.toml.
//!
//! The rooms follow the loop, each importing only the rooms listed before it:
//! - `files`: files written whole or not at all, private ones private from the first byte.
//! - [`spec`]: the desired state (cluster.toml, validated; the password; key slots).
//! - [`tls`]: certificates, issued and checked.
//! - [`docker`] and `redis_clients`: the clients that reach the world, and what each
//!   Docker object should look like.
//! - [`guard`]: one operator per cluster (a lock, and a lease across machines).
//! - [`observe`]: what Docker and Redis say now, the one `Topology` built from it
//!   per pass, and the health checks read from that.
//! - [`actions`]: the steps, each kind with its stage, description and how it is applied;
//!   slot moves and their progress.
//! - [`plan`]: a pure function from (desired, observed) to actions.
//! - [`runtime`]: the reconcile loop, `run`'s controller, status, metrics and the status
//!   report. Its [`runtime::context`] (the desired state and the clients) is the one module
//!   `observe` and `actions` take from above them.
//! - [`api`]: what `run --listen` serves.
//! - [`cli`]: the subcommands, their output and exit codes.

pub mod actions;
pub mod api;
pub mod cli;
pub mod docker;
mod files;
pub mod guard;
pub mod observe;
pub mod plan;
mod redis_clients;
pub mod runtime;
pub mod spec;
pub mod tls;

#[cfg(test)]
mod tests {
    /// The rooms, each allowed to import only those before it (and `observe` and `actions`
    /// also `runtime::context`), as the map above says.
    const ROOMS: [&str; 12] = [
        "files",
        "spec",
        "tls",
        "docker",
        "redis_clients",
        "guard",
        "observe",
        "actions",
        "plan",
        "runtime",
        "api",
        "cli",
    ];

    fn sources(dir: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("src is readable") {
            let path = entry.expect("a folder entry").path();
            if path.is_dir() {
                sources(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }

    #[test]
    fn rooms_import_only_the_rooms_below_them() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&src, &mut files);
        let mut wrong = Vec::new();
        for file in files {
            let relative = file.strip_prefix(&src).expect("under src");
            let first = relative
                .iter()
                .next()
                .and_then(|c| c.to_str())
                .unwrap_or("");
            let room = first.trim_end_matches(".rs");
            let Some(rank) = ROOMS.iter().position(|r| *r == room) else {
                continue; // lib.rs, main.rs
            };
            let text = std::fs::read_to_string(&file).expect("a source file");
            // Tests may reach anywhere.
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            for (at, _) in code.match_indices("crate::") {
                let rest = &code[at + "crate::".len()..];
                let used: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                let Some(used_rank) = ROOMS.iter().position(|r| *r == used) else {
                    continue; // a macro such as crate::outln!
                };
                let context =
                    rest.starts_with("runtime::context") && matches!(room, "observe" | "actions");
                if used_rank > rank && !context {
                    wrong.push(format!("{} imports {used}", relative.display()));
                }
            }
        }
        assert!(
            wrong.is_empty(),
            "imports pointing up:\n{}",
            wrong.join("\n")
        );
    }
}
