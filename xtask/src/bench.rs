//! `cargo xtask bench`: run the criterion benchmarks and the table binaries of the `benches`
//! crate, collect the results into a [`Run`], save it as JSON under `target/bench-report/`,
//! and write the generated part of `docs/benchmarks.md`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use serde_json::Value;

use crate::report::{self, Entry, Run, Table};
use crate::{cargo, root};

/// Options of `cargo xtask bench`.
#[derive(Debug, Default)]
pub struct BenchArgs {
    /// Short measurements (a smoke run of a few minutes).
    pub quick: bool,
    /// Only benchmarks whose id contains this (criterion filter; table binaries by name).
    pub filter: Option<String>,
    /// Also save the run as `target/bench-report/NAME.json`.
    pub save: Option<String>,
    /// Compare with the saved run `NAME`.
    pub compare: Option<String>,
    /// Python interpreter with torch/torchdiffeq/jax/diffrax for the Python peers.
    pub python: Option<String>,
    /// Do not run anything: rebuild the report from the existing criterion results.
    pub no_run: bool,
}

impl BenchArgs {
    /// Parses the arguments after `bench`.
    pub fn parse(args: &[String]) -> Result<BenchArgs, String> {
        let mut a = BenchArgs::default();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut value = |name: &str| {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            match arg.as_str() {
                "--quick" => a.quick = true,
                "--no-run" => a.no_run = true,
                "--filter" => a.filter = Some(value("--filter")?),
                "--save" => a.save = Some(value("--save")?),
                "--compare" => a.compare = Some(value("--compare")?),
                "--python" => a.python = Some(value("--python")?),
                other => return Err(format!("unknown bench option {other}")),
            }
        }
        for name in [&a.save, &a.compare].into_iter().flatten() {
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(format!(
                    "run name '{name}' must be letters, digits, '-' or '_'"
                ));
            }
        }
        Ok(a)
    }
}

fn output(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .current_dir(root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn machine() -> String {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    format!("{cpu}, {cores} cores")
}

/// Reads every criterion result under `dir` written at or after `since`.
pub fn collect(dir: &Path, since: Option<SystemTime>) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "benchmark.json")
                && p.parent().is_some_and(|q| q.ends_with("new"))
            {
                if let Some(entry) = read_entry(&p, since) {
                    out.push(entry);
                }
            }
        }
    }
    out.sort_by_key(|e| e.id());
    out
}

fn read_entry(bench_json: &Path, since: Option<SystemTime>) -> Option<Entry> {
    let est_path = bench_json.with_file_name("estimates.json");
    if let Some(since) = since {
        let modified = fs::metadata(&est_path).and_then(|m| m.modified()).ok()?;
        if modified < since {
            return None;
        }
    }
    let b: Value = serde_json::from_str(&fs::read_to_string(bench_json).ok()?).ok()?;
    let est: Value = serde_json::from_str(&fs::read_to_string(&est_path).ok()?).ok()?;
    let median = &est["median"];
    let mut function = b["function_id"].as_str().unwrap_or("").to_string();
    if let Some(v) = b["value_str"].as_str() {
        function = format!("{function}/{v}");
    }
    Some(Entry {
        group: b["group_id"].as_str()?.to_string(),
        function,
        median_ns: median["point_estimate"].as_f64()?,
        lo_ns: median["confidence_interval"]["lower_bound"].as_f64()?,
        hi_ns: median["confidence_interval"]["upper_bound"].as_f64()?,
    })
}

/// The criterion benchmarks of the `benches` crate (run first, results read from criterion's
/// JSON). The `adjoint` bench target prints a table instead and is one of [`PROGRAMS`].
pub const CRITERION_BENCHES: [&str; 3] = ["autodiff", "nn_layers", "ode_solvers"];

/// How an end-to-end program is built and run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `cargo run --release --example NAME`.
    Example,
    /// `cargo bench --bench NAME` (a bench target without criterion's harness).
    Bench,
}

/// An end-to-end measurement program: an example or bench target that prints markdown.
#[derive(Debug, Clone, Copy)]
pub struct Program {
    /// Name used by `--filter` and as the report's section title.
    pub name: &'static str,
    /// Package holding the target.
    pub package: &'static str,
    /// Example or bench target name.
    pub example: &'static str,
    /// Example or bench target.
    pub kind: Kind,
    /// Environment variables of a quick run.
    pub quick_env: &'static [(&'static str, &'static str)],
    /// Its source, relative to the workspace root (checked by a test).
    pub source: &'static str,
    /// Arguments of a full run.
    pub full: &'static [&'static str],
    /// Arguments of a `--quick` run.
    pub quick: &'static [&'static str],
}

/// The end-to-end programs, in the order they run (after the criterion benchmarks).
pub const PROGRAMS: [Program; 7] = [
    Program {
        name: "solver_table",
        package: "benches",
        example: "solver_table",
        kind: Kind::Example,
        quick_env: &[],
        source: "benches/examples/solver_table/main.rs",
        full: &[
            "--sweep",
            "--plots",
            "docs/work-precision",
            "--link-prefix",
            "work-precision",
        ],
        quick: &[
            "--sweep",
            "--samples",
            "3",
            "--batch-ms",
            "2",
            "--plots",
            "{target}/bench-report/work-precision",
        ],
    },
    Program {
        name: "adjoint_issue4",
        package: "benches",
        example: "adjoint",
        kind: Kind::Bench,
        quick_env: &[("ADJOINT_BENCH_STEPS", "100")],
        source: "benches/benches/adjoint.rs",
        full: &[],
        quick: &[],
    },
    Program {
        name: "adjoint_memory",
        package: "adjoint",
        example: "memory",
        kind: Kind::Example,
        quick_env: &[],
        source: "crates/adjoint/examples/memory.rs",
        full: &["128", "32", "256", "100,400,1600"],
        quick: &["16", "8", "32", "100,400"],
    },
    Program {
        name: "spiral_grad",
        package: "models",
        example: "spiral_grad",
        kind: Kind::Example,
        quick_env: &[],
        source: "crates/models/examples/spiral_grad.rs",
        full: &[],
        quick: &["--quick"],
    },
    Program {
        name: "batch_bench",
        package: "ode-solvers",
        example: "batch_bench",
        kind: Kind::Example,
        quick_env: &[],
        source: "crates/ode-solvers/examples/batch_bench.rs",
        full: &["1", "2", "1", "2"],
        quick: &["--quick", "1", "2"],
    },
    Program {
        name: "shared_batch",
        package: "benches",
        example: "shared_batch",
        kind: Kind::Example,
        quick_env: &[],
        source: "benches/examples/shared_batch.rs",
        full: &[],
        quick: &["--quick"],
    },
    Program {
        name: "spiral_bench",
        package: "models",
        example: "spiral_bench",
        kind: Kind::Example,
        quick_env: &[],
        source: "crates/models/examples/spiral_bench.rs",
        full: &[],
        quick: &["100"],
    },
];

/// The cargo target directory: `CARGO_TARGET_DIR` (relative to the workspace root) or
/// `target/`. Criterion writes its results there and the report goes to `bench-report/` in it.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => root().join(d),
        _ => root().join("target"),
    }
}

/// Runs `cargo xtask bench`.
pub fn run(args: &BenchArgs) -> Result<(), String> {
    let target = target_dir();
    let report_dir = target.join("bench-report");
    fs::create_dir_all(&report_dir).map_err(|e| e.to_string())?;
    let start = SystemTime::now();
    let mut tables: Vec<Table> = Vec::new();
    let mut notes = Vec::new();
    if !args.no_run {
        let mut cmd = vec!["bench", "-p", "benches"];
        for b in CRITERION_BENCHES {
            cmd.extend(["--bench", b]);
        }
        cmd.push("--");
        if let Some(f) = &args.filter {
            cmd.push(f);
        }
        if args.quick {
            cmd.extend([
                "--warm-up-time",
                "0.2",
                "--measurement-time",
                "0.5",
                "--sample-size",
                "10",
            ]);
        }
        if args.quick {
            // Benchmark groups keep criterion's (short) command-line timing in quick runs.
            std::env::set_var("NEURAL_ODE_BENCH_QUICK", "1");
        }
        crate::run(&cmd)?;
        for prog in PROGRAMS {
            if args
                .filter
                .as_deref()
                .is_some_and(|f| !prog.name.contains(f))
            {
                continue;
            }
            let mut a = match prog.kind {
                Kind::Example => vec!["run", "--release", "-q", "-p", prog.package, "--example"],
                Kind::Bench => vec!["bench", "-q", "-p", prog.package, "--bench"],
            };
            a.extend([prog.example, "--"]);
            // `{target}` in an argument stands for the cargo target directory.
            let target_str = target.to_string_lossy();
            let extra: Vec<String> = (if args.quick { prog.quick } else { prog.full })
                .iter()
                .map(|x| x.replace("{target}", &target_str))
                .collect();
            a.extend(extra.iter().map(String::as_str));
            eprintln!("$ cargo {}", a.join(" "));
            let started = std::time::Instant::now();
            let env: &[(&str, &str)] = if args.quick { prog.quick_env } else { &[] };
            let out = Command::new(cargo())
                .args(&a)
                .envs(env.iter().copied())
                .current_dir(root())
                .stderr(std::process::Stdio::inherit())
                .output()
                .map_err(|e| e.to_string())?;
            let secs = started.elapsed().as_secs_f64();
            if out.status.success() {
                let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
                let env: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v} ")).collect();
                tables.push(Table {
                    name: prog.name.to_string(),
                    command: format!("{}cargo {}", env.concat(), a.join(" ")),
                    seconds: secs,
                    markdown: text,
                });
            } else {
                notes.push(format!(
                    "end-to-end program {} ({}) failed ({}); see its output above",
                    prog.name, prog.source, out.status
                ));
            }
        }
    }
    match &args.python {
        None => notes.push(
            "Python peers (torchdiffeq, diffrax): skipped — no `--python PATH` given (see README: pip install torch torchdiffeq jax diffrax)"
                .into(),
        ),
        Some(py) => {
            let script = root().join("benches/python/peers.py");
            if !script.exists() {
                notes.push(format!("Python peers: skipped — {} is not there", script.display()));
            } else {
                let mut a = vec![script.to_string_lossy().into_owned()];
                if args.quick {
                    a.push("--quick".into());
                }
                let started = std::time::Instant::now();
                match Command::new(py).args(&a).current_dir(root()).output() {
                    Ok(o) if o.status.success() => tables.push(Table {
                        name: "python_peers".into(),
                        command: format!("{py} {}", a.join(" ")),
                        seconds: started.elapsed().as_secs_f64(),
                        markdown: String::from_utf8_lossy(&o.stdout).trim().to_string(),
                    }),
                    Ok(o) => notes.push(format!(
                        "Python peers: skipped — {py} failed: {}",
                        String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or("")
                    )),
                    Err(e) => notes.push(format!("Python peers: skipped — cannot run {py}: {e}")),
                }
            }
        }
    }
    let entries = collect(
        &target.join("criterion"),
        if args.no_run { None } else { Some(start) },
    );
    let run = Run {
        date: output("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]),
        commit: output("git", &["rev-parse", "--short", "HEAD"]),
        machine: machine(),
        quick: args.quick,
        entries,
        notes,
        tables,
    };
    let json = serde_json::to_string_pretty(&run).map_err(|e| e.to_string())?;
    let stamp = start
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    write_atomic(&report_dir.join(format!("run-{stamp}.json")), &json)?;
    if let Some(name) = &args.save {
        write_atomic(&report_dir.join(format!("{name}.json")), &json)?;
    }
    let mut generated = report::markdown(&run);
    if let Some(name) = &args.compare {
        let path = report_dir.join(format!("{name}.json"));
        let old: Run = fs::read_to_string(&path)
            .map_err(|e| format!("cannot read saved run {}: {e}", path.display()))
            .and_then(|s| {
                serde_json::from_str(&s)
                    .map_err(|e| format!("saved run {} is not a run record: {e}", path.display()))
            })?;
        let changes = report::compare(&old, &run);
        let md = report::compare_markdown(&changes, name);
        println!("{md}");
        generated.push('\n');
        generated.push_str(&md);
    }
    let doc_path = root().join("docs/benchmarks.md");
    let doc = fs::read_to_string(&doc_path).unwrap_or_else(|_| "# Benchmarks\n".into());
    write_atomic(&doc_path, &report::splice(&doc, &generated))?;
    eprintln!(
        "wrote docs/benchmarks.md and {} ({} benchmarks, {} tables)",
        report_dir.join(format!("run-{stamp}.json")).display(),
        run.entries.len(),
        run.tables.len()
    );
    Ok(())
}

fn write_atomic(path: &PathBuf, text: &str) -> Result<(), String> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    fs::write(&tmp, text).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    fs::rename(&tmp, path).map_err(|e| format!("cannot rename to {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_program_exists_and_names_are_unique() {
        for (i, p) in PROGRAMS.iter().enumerate() {
            let src = root().join(p.source);
            assert!(src.is_file(), "{} is not there", src.display());
            // A target `NAME.rs` or `NAME/main.rs` in the package's examples/ or benches/.
            let stem = src
                .parent()
                .and_then(|d| d.file_name())
                .filter(|d| *d != "examples" && *d != "benches")
                .or_else(|| src.file_stem())
                .unwrap();
            let dir = if p.kind == Kind::Example {
                "examples"
            } else {
                "benches"
            };
            assert!(
                src.ancestors()
                    .any(|d| d.file_name().is_some_and(|n| n == dir)),
                "{}",
                p.source
            );
            assert_eq!(stem, p.example, "{}", p.source);
            let manifest = fs::read_to_string(
                src.ancestors()
                    .find(|d| d.join("Cargo.toml").is_file())
                    .unwrap()
                    .join("Cargo.toml"),
            )
            .unwrap();
            assert!(
                manifest.contains(&format!("name = \"{}\"", p.package)),
                "{} is not in package {}",
                p.source,
                p.package
            );
            assert!(PROGRAMS[..i].iter().all(|q| q.name != p.name));
        }
        // Every criterion bench target exists, and none is also run as a program.
        for b in CRITERION_BENCHES {
            assert!(
                root().join(format!("benches/benches/{b}.rs")).is_file(),
                "{b}"
            );
            assert!(PROGRAMS
                .iter()
                .all(|p| p.kind != Kind::Bench || p.example != b));
        }
    }

    #[test]
    fn parses_options_and_rejects_bad_ones() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let a = BenchArgs::parse(&s(&[
            "--quick",
            "--filter",
            "solvers",
            "--save",
            "base",
            "--compare",
            "old-1",
        ]))
        .unwrap();
        assert!(
            a.quick && a.filter.as_deref() == Some("solvers") && a.save.as_deref() == Some("base")
        );
        assert!(BenchArgs::parse(&s(&["--save"])).is_err());
        assert!(BenchArgs::parse(&s(&["--save", "../x"])).is_err());
        assert!(BenchArgs::parse(&s(&["--frob"])).is_err());
    }

    #[test]
    fn collects_criterion_results() {
        let dir = std::env::temp_dir().join(format!("xtask-collect-{}", std::process::id()));
        let d = dir.join("g_a/ours-x/new");
        fs::create_dir_all(&d).unwrap();
        fs::write(
            d.join("benchmark.json"),
            r#"{"group_id":"g/a","function_id":"ours-x","value_str":null}"#,
        )
        .unwrap();
        fs::write(
            d.join("estimates.json"),
            r#"{"median":{"point_estimate":1500.0,"confidence_interval":{"lower_bound":1400.0,"upper_bound":1600.0}}}"#,
        )
        .unwrap();
        // A stale "base" directory is ignored.
        fs::create_dir_all(dir.join("g_a/ours-x/base")).unwrap();
        let e = collect(&dir, None);
        assert_eq!(
            e,
            vec![Entry {
                group: "g/a".into(),
                function: "ours-x".into(),
                median_ns: 1500.0,
                lo_ns: 1400.0,
                hi_ns: 1600.0
            }]
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
