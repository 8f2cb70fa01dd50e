//! `cargo xtask bench`: run the criterion benchmarks and the table binaries of the `benches`
//! crate, collect the results into a [`Run`], save it as JSON under `target/bench-report/`,
//! and write the generated part of `docs/benchmarks.md`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use serde_json::Value;

use crate::report::{self, Entry, Run};
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

/// The table binaries of the benches crate (`benches/src/bin/*.rs`).
fn table_binaries() -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(root().join("benches/src/bin"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            e.path()
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
        })
        .collect();
    v.sort();
    v
}

/// Runs `cargo xtask bench`.
pub fn run(args: &BenchArgs) -> Result<(), String> {
    let report_dir = root().join("target/bench-report");
    fs::create_dir_all(&report_dir).map_err(|e| e.to_string())?;
    let start = SystemTime::now();
    let mut tables = String::new();
    let mut notes = Vec::new();
    if !args.no_run {
        let mut cmd = vec!["bench", "-p", "benches", "--benches", "--"];
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
        crate::run(&cmd)?;
        for bin in table_binaries() {
            if args.filter.as_deref().is_some_and(|f| !bin.contains(f)) {
                continue;
            }
            let mut a = vec![
                "run",
                "--release",
                "-q",
                "-p",
                "benches",
                "--bin",
                bin.as_str(),
                "--",
            ];
            if args.quick {
                a.push("--quick");
            }
            eprintln!("$ cargo {}", a.join(" "));
            let out = Command::new(cargo())
                .args(&a)
                .current_dir(root())
                .output()
                .map_err(|e| e.to_string())?;
            if out.status.success() {
                tables.push_str(&format!(
                    "### `{bin}`\n\n{}\n\n",
                    String::from_utf8_lossy(&out.stdout).trim()
                ));
            } else {
                notes.push(format!(
                    "table binary {bin} failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                        .lines()
                        .last()
                        .unwrap_or("")
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
                match Command::new(py).args(&a).current_dir(root()).output() {
                    Ok(o) if o.status.success() => {
                        tables.push_str(&format!("### Python peers\n\n{}\n\n", String::from_utf8_lossy(&o.stdout).trim()))
                    }
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
        &root().join("target/criterion"),
        if args.no_run { None } else { Some(start) },
    );
    let run = Run {
        date: output("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]),
        commit: output("git", &["rev-parse", "--short", "HEAD"]),
        machine: machine(),
        quick: args.quick,
        entries,
        notes,
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
    if !tables.is_empty() {
        generated.push('\n');
        generated.push_str(&tables);
    }
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
        "wrote docs/benchmarks.md and target/bench-report/run-{stamp}.json ({} benchmarks)",
        run.entries.len()
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
