//! The crate-stack check: a crate may depend only on crates below it.
//!
//! The layers (bottom first) are listed in [`LAYERS`]. Tools (`benches`, `xtask`) may depend
//! on anything and nothing may depend on them. A workspace crate missing from the table is an
//! error, so a new crate must be placed deliberately.

use serde_json::Value;

/// Layer of each library or binary crate of the workspace; a crate may depend only on crates
/// with a strictly smaller layer.
pub const LAYERS: &[(&str, u32)] = &[
    ("ode-solvers", 0),
    ("autodiff", 0),
    ("adjoint", 1),
    ("custom-solver-example", 1),
    ("nn-layers", 2),
    ("models", 3),
    ("neural-ode-cli", 4),
];

/// Workspace members that are tools, outside the stack.
pub const TOOLS: &[&str] = &["benches", "xtask"];

fn layer(name: &str) -> Option<u32> {
    LAYERS.iter().find(|(n, _)| *n == name).map(|(_, l)| *l)
}

/// Checks the output of `cargo metadata --no-deps --format-version 1`; returns every
/// violation found (empty when the stack holds).
pub fn check(metadata: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(packages) = metadata["packages"].as_array() else {
        return vec!["cargo metadata has no packages".to_string()];
    };
    let members: Vec<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    for p in packages {
        let name = p["name"].as_str().unwrap_or("?");
        let own = layer(name);
        if own.is_none() && !TOOLS.contains(&name) {
            problems.push(format!(
                "{name}: not in the layer table of xtask/src/stack.rs"
            ));
            continue;
        }
        for d in p["dependencies"].as_array().into_iter().flatten() {
            let dep = d["name"].as_str().unwrap_or("?");
            // Only workspace crates (path dependencies) are part of the stack; a registry crate
            // with a clashing name (a peer in benches) is not.
            if !members.contains(&dep) || d["path"].is_null() || dep == name {
                continue;
            }
            if TOOLS.contains(&dep) {
                problems.push(format!("{name} depends on the tool crate {dep}"));
                continue;
            }
            match (own, layer(dep)) {
                (Some(a), Some(b)) if b >= a => problems.push(format!(
                    "{name} (layer {a}) depends on {dep} (layer {b}): dependencies must point down"
                )),
                _ => {}
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pkg(name: &str, deps: &[&str]) -> Value {
        let deps: Vec<Value> = deps
            .iter()
            .map(|d| json!({"name": d, "path": format!("/w/{d}")}))
            .collect();
        json!({"name": name, "dependencies": deps})
    }

    #[test]
    fn a_downward_stack_passes() {
        let m = json!({"packages": [pkg("ode-solvers", &[]), pkg("autodiff", &[]), pkg("adjoint", &["ode-solvers", "autodiff"]), pkg("benches", &["adjoint"])]});
        assert!(check(&m).is_empty(), "{:?}", check(&m));
    }

    #[test]
    fn an_upward_or_sideways_dependency_fails() {
        let m = json!({"packages": [pkg("ode-solvers", &["autodiff"]), pkg("autodiff", &[]), pkg("adjoint", &["nn-layers"]), pkg("nn-layers", &[])]});
        let p = check(&m);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].contains("ode-solvers (layer 0) depends on autodiff (layer 0)"));
        assert!(p[1].contains("adjoint (layer 1) depends on nn-layers (layer 2)"));
    }

    #[test]
    fn unknown_crates_and_tool_dependencies_fail() {
        let m = json!({"packages": [pkg("mystery", &[]), pkg("models", &["benches"]), pkg("benches", &[])]});
        let p = check(&m);
        assert_eq!(p.len(), 2, "{p:?}");
    }

    /// The real workspace obeys the stack.
    #[test]
    fn the_workspace_obeys_the_stack() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf();
        let out = std::process::Command::new(cargo)
            .args([
                "metadata",
                "--no-deps",
                "--format-version",
                "1",
                "--offline",
            ])
            .current_dir(&root)
            .output()
            .expect("cargo metadata runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let m: Value = serde_json::from_slice(&out.stdout).unwrap();
        let names: Vec<&str> = m["packages"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert!(
            names.contains(&"ode-solvers") && names.contains(&"adjoint"),
            "{names:?}"
        );
        let problems = check(&m);
        assert!(problems.is_empty(), "{problems:#?}");
    }
}
