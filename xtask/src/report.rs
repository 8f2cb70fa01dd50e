//! Benchmark run records, the markdown report, and the comparison of two saved runs.
//!
//! Pure functions over [`Run`] records, so that they are tested on recorded JSON.

use serde::{Deserialize, Serialize};

/// One measured benchmark: a criterion entry or a figure from a table-producing binary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Criterion group (`solvers/lorenz/1e-6`).
    pub group: String,
    /// Function within the group (`ours-dopri5`, `ode_solvers-dopri5`).
    pub function: String,
    /// Median time in nanoseconds.
    pub median_ns: f64,
    /// Lower end of the median's 95% confidence interval.
    pub lo_ns: f64,
    /// Upper end of the median's 95% confidence interval.
    pub hi_ns: f64,
}

impl Entry {
    /// Full id `group/function`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.group, self.function)
    }

    /// Half-width of the confidence interval relative to the median.
    pub fn rel_noise(&self) -> f64 {
        if self.median_ns > 0.0 {
            (self.hi_ns - self.lo_ns) / (2.0 * self.median_ns)
        } else {
            0.0
        }
    }

    /// Whether this is one of ours (function id starting with `ours`).
    pub fn is_ours(&self) -> bool {
        self.function.starts_with("ours")
    }
}

/// One benchmark run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// UTC date and time.
    pub date: String,
    /// Git commit.
    pub commit: String,
    /// CPU model and core count.
    pub machine: String,
    /// Whether it was a `--quick` run.
    pub quick: bool,
    /// The entries, sorted by id.
    pub entries: Vec<Entry>,
    /// Lines about peers that were skipped (missing Python, packages, ...).
    #[serde(default)]
    pub notes: Vec<String>,
    /// The markdown tables of the end-to-end programs and the Python peers.
    #[serde(default)]
    pub tables: Vec<Table>,
}

/// The output of one end-to-end program (an example that prints markdown).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Table {
    /// Program name.
    pub name: String,
    /// The command that produced it.
    pub command: String,
    /// Wall time of the command in seconds (build included).
    pub seconds: f64,
    /// What it printed.
    pub markdown: String,
}

/// Formats nanoseconds with a unit.
pub fn fmt_time(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.3} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.3} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

/// The markdown report of a run: per group, the medians with their confidence intervals, and
/// the ratio of each of ours to every other entry of the group (below 1: ours is faster).
pub fn markdown(run: &Run) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "Run of {} at commit `{}` on {}{}.\n\n",
        run.date,
        run.commit,
        run.machine,
        if run.quick {
            " (--quick: short measurements, wide intervals)"
        } else {
            ""
        }
    ));
    for n in &run.notes {
        out.push_str(&format!("- {n}\n"));
    }
    if !run.notes.is_empty() {
        out.push('\n');
    }
    let mut groups: Vec<&str> = run.entries.iter().map(|e| e.group.as_str()).collect();
    groups.dedup();
    out.push_str(
        "| group | benchmark | median | 95% CI | ratios (ours / other) |\n|---|---|---|---|---|\n",
    );
    for g in groups {
        let entries: Vec<&Entry> = run.entries.iter().filter(|e| e.group == g).collect();
        for e in &entries {
            let ratios: Vec<String> = if e.is_ours() {
                entries
                    .iter()
                    .filter(|o| o.function != e.function && o.median_ns > 0.0)
                    .map(|o| format!("{:.2}x {}", e.median_ns / o.median_ns, o.function))
                    .collect()
            } else {
                Vec::new()
            };
            out.push_str(&format!(
                "| {} | {} | {} | {} – {} | {} |\n",
                g,
                e.function,
                fmt_time(e.median_ns),
                fmt_time(e.lo_ns),
                fmt_time(e.hi_ns),
                ratios.join(", ")
            ));
        }
    }
    for t in &run.tables {
        out.push_str(&format!(
            "\n### `{}`\n\nCommand: `{}` ({:.0} s).\n\n{}\n",
            t.name, t.command, t.seconds, t.markdown
        ));
    }
    out
}

/// How a benchmark moved between two runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Movement {
    /// Within the noise band.
    Steady,
    /// Slower beyond the noise band.
    Regressed,
    /// Faster beyond the noise band.
    Improved,
}

/// A benchmark present in both runs, with its movement.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// `group/function`.
    pub id: String,
    /// Old median (ns).
    pub old_ns: f64,
    /// New median (ns).
    pub new_ns: f64,
    /// Relative change `new / old - 1`.
    pub change: f64,
    /// The noise band used: the larger relative CI half-width of the two runs plus 2%.
    pub band: f64,
    /// The verdict.
    pub movement: Movement,
}

/// Compares two runs: a benchmark moved when its relative change exceeds the larger of the
/// two runs' relative confidence half-widths plus 2%.
pub fn compare(old: &Run, new: &Run) -> Vec<Change> {
    let mut out = Vec::new();
    for n in &new.entries {
        let Some(o) = old.entries.iter().find(|o| o.id() == n.id()) else {
            continue;
        };
        if o.median_ns <= 0.0 {
            continue;
        }
        let change = n.median_ns / o.median_ns - 1.0;
        let band = o.rel_noise().max(n.rel_noise()) + 0.02;
        let movement = if change > band {
            Movement::Regressed
        } else if change < -band {
            Movement::Improved
        } else {
            Movement::Steady
        };
        out.push(Change {
            id: n.id(),
            old_ns: o.median_ns,
            new_ns: n.median_ns,
            change,
            band,
            movement,
        });
    }
    out
}

/// Markdown table of a comparison.
pub fn compare_markdown(changes: &[Change], old_name: &str) -> String {
    let mut out = format!("Compared with the saved run `{old_name}`:\n\n| benchmark | before | after | change | noise band | verdict |\n|---|---|---|---|---|---|\n");
    for c in changes {
        let verdict = match c.movement {
            Movement::Steady => "steady",
            Movement::Regressed => "**REGRESSED**",
            Movement::Improved => "improved",
        };
        out.push_str(&format!(
            "| {} | {} | {} | {:+.1}% | ±{:.1}% | {} |\n",
            c.id,
            fmt_time(c.old_ns),
            fmt_time(c.new_ns),
            100.0 * c.change,
            100.0 * c.band,
            verdict
        ));
    }
    out
}

/// Replaces the text between `<!-- xtask:begin -->` and `<!-- xtask:end -->` in `doc` with
/// `generated`, appending the markers at the end when absent; the rest of the file (written by
/// hand) is kept.
pub fn splice(doc: &str, generated: &str) -> String {
    const BEGIN: &str = "<!-- xtask:begin -->";
    const END: &str = "<!-- xtask:end -->";
    let block = format!("{BEGIN}\n{generated}{END}");
    match (doc.find(BEGIN), doc.find(END)) {
        (Some(b), Some(e)) if e > b => format!("{}{}{}", &doc[..b], block, &doc[e + END.len()..]),
        _ => {
            let mut s = doc.trim_end().to_string();
            if !s.is_empty() {
                s.push_str("\n\n");
            }
            s.push_str("## Latest `cargo xtask bench` run\n\n");
            s.push_str(&block);
            s.push('\n');
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORDED: &str = r#"{
      "date": "2026-11-27T18:00:00Z", "commit": "abc1234", "machine": "AMD EPYC, 2 cores", "quick": false,
      "entries": [
        {"group": "solvers/lorenz/1e-6", "function": "ours-dopri5", "median_ns": 50000.0, "lo_ns": 49000.0, "hi_ns": 51000.0},
        {"group": "solvers/lorenz/1e-6", "function": "ode_solvers-dopri5", "median_ns": 80000.0, "lo_ns": 79000.0, "hi_ns": 81000.0},
        {"group": "solvers/lorenz/1e-6", "function": "diffsol-tsit45", "median_ns": 125000.0, "lo_ns": 120000.0, "hi_ns": 130000.0}
      ],
      "notes": ["torchdiffeq: skipped (no --python given)"]
    }"#;

    fn recorded() -> Run {
        serde_json::from_str(RECORDED).unwrap()
    }

    #[test]
    fn report_has_the_end_to_end_tables() {
        let mut run = recorded();
        run.tables.push(Table {
            name: "spiral_bench".into(),
            command: "cargo run --release -q -p models --example spiral_bench -- 100".into(),
            seconds: 12.4,
            markdown: "| gradient | ms |\n|---|---|\n| direct | 5.1 |".into(),
        });
        let md = markdown(&run);
        assert!(md.contains(
            "### `spiral_bench`\n\nCommand: `cargo run --release -q -p models --example spiral_bench -- 100` (12 s).\n\n| gradient | ms |\n|---|---|\n| direct | 5.1 |\n"
        ), "{md}");
        // The JSON record keeps them; an old record without tables still reads.
        let back: Run = serde_json::from_str(&serde_json::to_string(&run).unwrap()).unwrap();
        assert_eq!(back.tables, run.tables);
        assert!(recorded().tables.is_empty());
    }

    #[test]
    fn report_has_medians_and_ratios() {
        let md = markdown(&recorded());
        assert!(md.contains("| solvers/lorenz/1e-6 | ours-dopri5 | 50.00 µs | 49.00 µs – 51.00 µs | 0.62x ode_solvers-dopri5, 0.40x diffsol-tsit45 |"), "{md}");
        assert!(md.contains(
            "| solvers/lorenz/1e-6 | ode_solvers-dopri5 | 80.00 µs | 79.00 µs – 81.00 µs |  |"
        ));
        assert!(md.contains("- torchdiffeq: skipped (no --python given)"));
        assert!(md.contains("commit `abc1234`"));
    }

    #[test]
    fn comparison_flags_moves_beyond_the_noise_band() {
        let old = recorded();
        let mut new = recorded();
        new.entries[0].median_ns = 60000.0; // +20%, band 2% + 2%: regressed
        new.entries[0].lo_ns = 59000.0;
        new.entries[0].hi_ns = 61000.0;
        new.entries[1].median_ns = 81000.0; // +1.25%: steady
        new.entries[2].median_ns = 100000.0; // -20%, band 4% + 2%: improved
        let ch = compare(&old, &new);
        assert_eq!(ch.len(), 3);
        assert_eq!(ch[0].movement, Movement::Regressed);
        assert!((ch[0].change - 0.2).abs() < 1e-12);
        assert!((ch[0].band - (1000.0 / 50000.0 + 0.02)).abs() < 1e-12);
        assert_eq!(ch[1].movement, Movement::Steady);
        assert_eq!(ch[2].movement, Movement::Improved);
        let md = compare_markdown(&ch, "base");
        assert!(md.contains("| solvers/lorenz/1e-6/ours-dopri5 | 50.00 µs | 60.00 µs | +20.0% | ±4.0% | **REGRESSED** |"), "{md}");
    }

    #[test]
    fn splice_keeps_hand_written_text() {
        let doc = "# Benchmarks\n\n## autodiff\n\nhand text\n";
        let once = splice(doc, "table 1\n");
        assert!(once.contains("hand text") && once.contains("table 1"));
        let twice = splice(&once, "table 2\n");
        assert!(
            twice.contains("table 2") && !twice.contains("table 1") && twice.contains("hand text")
        );
        assert_eq!(twice.matches("<!-- xtask:begin -->").count(), 1);
    }

    #[test]
    fn time_formatting() {
        assert_eq!(fmt_time(12.34), "12.3 ns");
        assert_eq!(fmt_time(12_340.0), "12.34 µs");
        assert_eq!(fmt_time(12_340_000.0), "12.340 ms");
        assert_eq!(fmt_time(2.5e9), "2.500 s");
    }
}
