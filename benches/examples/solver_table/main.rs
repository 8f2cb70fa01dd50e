//! Prints the ode-solvers comparison as a markdown table (the `## ode-solvers` section of
//! docs/benchmarks.md):
//!
//! ```text
//! cargo run --release -p benches --example solver_table
//! ```
//!
//! For each problem, tolerance (`rtol = atol`) and method it times our solver and every peer
//! crate that offers the method, with `std::time::Instant`: batches of solves sized to last at
//! least `--batch-ms` (default 20 ms), `--samples` batches (default 21), median time per solve.
//! NFE is counted by wrapping the right-hand side (the same count for every crate); the error
//! is `max_i |y_i(t1) - ref_i|` against the reference of `benches::reference`. Each row also
//! times `benches::rhs_chain` at our NFE in the same rounds: the right-hand side alone as one
//! dependency chain, a floor no solver with that NFE can beat.
//!
//! Options: `--samples N`, `--batch-ms MS`, `--problem NAME` (repeatable), `--min` (fastest
//! batch instead of the median, for comparing code changes on a busy machine), `--solve
//! SOLVER METHOD TOL N` (only run N solves of one case, e.g. under a profiler).

#[path = "../../peers/mod.rs"]
mod peers;
mod plot;

use std::cell::Cell;
use std::path::PathBuf;
use std::time::Duration;

use benches::{
    max_abs_error, reference, rhs_chain, time_interleaved, tol_label, Arenstorf, BenchProblem,
    Linear10, Lorenz, REFERENCE_TOL, TOLERANCES,
};
use peers::{runner, Method, Solver};

/// What one (solver, method) did on one problem and tolerance.
#[derive(Clone, Copy)]
struct Measured {
    micros: f64,
    nfe: usize,
    err: f64,
}

struct Config {
    samples: usize,
    batch: Duration,
    problems: Vec<String>,
    /// `--min`: report the fastest batch instead of the median (for comparing code changes
    /// on a busy machine; the published table uses the median).
    use_min: bool,
    /// `--solve SOLVER METHOD TOL N`: only run N solves of one case (for profiling).
    solve_only: Option<(String, String, f64, usize)>,
    /// Tolerances to run (`--sweep`: 1e-3 … 1e-10); the table shows those of [`TOLERANCES`].
    tols: Vec<f64>,
    /// `--plots DIR`: write a work-precision diagram per problem and method there.
    plots: Option<PathBuf>,
    /// `--link-prefix P`: how the markdown refers to the plot directory (default: its path).
    link_prefix: Option<String>,
}

/// The tolerances of `--sweep`: every decade from 1e-3 to 1e-10.
const SWEEP: [f64; 8] = [1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10];

/// Measures every solver of [`Solver::ALL`] that offers `method` (`None` for the others):
/// NFE and error from one counted solve, time from interleaved batches of solves. Also returns
/// the time of [`rhs_chain`] at our NFE, measured in the same rounds (µs).
fn measure_row<P: BenchProblem, const N: usize>(
    method: Method,
    tol: f64,
    reference: &[f64],
    cfg: &Config,
) -> (Vec<Option<Measured>>, f64) {
    let mut counted = Vec::new();
    let mut timed = Vec::new();
    for solver in Solver::ALL {
        let counter = Cell::new(0usize);
        let Some(mut run) = runner::<P, _, N>(solver, method, tol, &counter) else {
            counted.push(None);
            continue;
        };
        let out = run();
        let nfe = counter.get();
        if let Some(reported) = out.nfe_reported {
            if reported != nfe {
                eprintln!(
                    "note: {} {} {} {}: reports {reported} evaluations, counted {nfe}",
                    P::NAME,
                    tol_label(tol),
                    solver.label(),
                    method.name()
                );
            }
        }
        counted.push(Some((nfe, max_abs_error(out.y(), reference))));
        let mut timed_run = runner::<P, (), N>(solver, method, tol, &()).expect("offered");
        timed.push(move || {
            std::hint::black_box(timed_run());
        });
    }
    // The right-hand-side chain at our NFE, timed in the same rounds.
    let our_nfe = counted[0].expect("ours offers every method").0;
    let mut chain = move || {
        std::hint::black_box(rhs_chain::<P, N>(our_nfe));
    };
    let mut fs: Vec<&mut dyn FnMut()> = timed.iter_mut().map(|f| f as &mut dyn FnMut()).collect();
    fs.push(&mut chain);
    let mut times = time_interleaved(&mut fs, cfg.samples, cfg.batch);
    let (chain_median, chain_min) = times.pop().expect("the chain's time");
    let chain_t = if cfg.use_min { chain_min } else { chain_median };
    let mut times = times.into_iter();
    let row = counted
        .into_iter()
        .map(|c| {
            c.map(|(nfe, err)| {
                let (median, min) = times.next().expect("one time per runner");
                let t = if cfg.use_min { min } else { median };
                Measured {
                    micros: t.as_secs_f64() * 1e6,
                    nfe,
                    err,
                }
            })
        })
        .collect();
    (row, chain_t.as_secs_f64() * 1e6)
}

/// Runs the solves of `--solve` (for a profiler).
fn solve_only<P: BenchProblem, const N: usize>(cfg: &Config) {
    let Some((solver, method, tol, reps)) = &cfg.solve_only else {
        return;
    };
    if !cfg.problems.is_empty() && !cfg.problems.iter().any(|p| p == P::NAME) {
        return;
    }
    let solver = *Solver::ALL
        .iter()
        .find(|s| s.label() == solver)
        .expect("solver label");
    let method = *Method::ALL
        .iter()
        .find(|m| m.name() == method)
        .expect("method name");
    let mut run = runner::<P, (), N>(solver, method, *tol, &()).expect("solver offers method");
    for _ in 0..*reps {
        std::hint::black_box(run());
    }
}

fn fmt_us(us: f64) -> String {
    if us >= 100.0 {
        format!("{us:.0}")
    } else if us >= 10.0 {
        format!("{us:.1}")
    } else {
        format!("{us:.2}")
    }
}

fn table<P: BenchProblem, const N: usize>(
    cfg: &Config,
    rows: &mut Vec<String>,
    misses: &mut Vec<String>,
    points: &mut Vec<(&'static str, Method, plot::Point)>,
) {
    if !cfg.problems.is_empty() && !cfg.problems.iter().any(|p| p == P::NAME) {
        return;
    }
    let r = reference::<P>();
    eprintln!("{}: reference = {}", P::NAME, r.source);
    if P::problem().exact.is_none() {
        // Cross-check the reference against the peers' DOP853 at the same tolerance.
        for solver in [Solver::DiffEqFixed, Solver::OdeSolversFixed] {
            let mut run = runner::<P, (), N>(solver, Method::Dop853, REFERENCE_TOL, &())
                .expect("peer dop853");
            let d = max_abs_error(run().y(), &r.y);
            println!(
                "<!-- {} reference check: max |ours - {} dop853| at rtol = atol = {REFERENCE_TOL:e}: {d:.2e} -->",
                P::NAME,
                solver.label()
            );
        }
    }
    for &tol in &cfg.tols {
        for method in Method::ALL {
            let (row, chain_us) = measure_row::<P, N>(method, tol, &r.y, cfg);
            for (solver, m) in Solver::ALL.iter().zip(&row) {
                if let Some(m) = m {
                    points.push((
                        P::NAME,
                        method,
                        plot::Point {
                            solver: solver.label(),
                            tol,
                            micros: m.micros,
                            nfe: m.nfe,
                            err: m.err,
                        },
                    ));
                }
            }
            if !TOLERANCES.contains(&tol) {
                continue;
            }
            let ours = row[0].expect("ours");
            let mut cells = vec![
                P::NAME.to_string(),
                tol_label(tol),
                method.name().to_string(),
                fmt_us(ours.micros),
                ours.nfe.to_string(),
                format!("{:.1e}", ours.err),
            ];
            let mut fastest: Option<(f64, Solver)> = None;
            let mut peer_nfe_min = usize::MAX;
            let mut peer_err_min = f64::INFINITY;
            for (solver, m) in Solver::ALL[1..].iter().zip(&row[1..]) {
                match *m {
                    Some(m) => {
                        if fastest.is_none_or(|(t, _)| m.micros < t) {
                            fastest = Some((m.micros, *solver));
                        }
                        peer_nfe_min = peer_nfe_min.min(m.nfe);
                        peer_err_min = peer_err_min.min(m.err);
                        cells.push(format!(
                            "{} / {} / {:.1e} / {:.2}x",
                            fmt_us(m.micros),
                            m.nfe,
                            m.err,
                            ours.micros / m.micros
                        ));
                    }
                    None => cells.push("-".into()),
                }
            }
            match fastest {
                Some((t, s)) => {
                    let ratio = ours.micros / t;
                    let time_ok = ratio <= 0.8;
                    let nfe_ok = ours.nfe <= peer_nfe_min;
                    let err_ok = ours.err <= peer_err_min;
                    let yn = |ok: bool| if ok { "yes" } else { "**no**" };
                    cells.push(format!("{:.2}x ({})", ratio, s.label()));
                    cells.push(format!("{} / {:.2}x", fmt_us(chain_us), chain_us / t));
                    cells.push(format!("{} / {} / {}", yn(time_ok), yn(nfe_ok), yn(err_ok)));
                    if !time_ok {
                        misses.push(format!(
                            "{} {} {}: ours {:.2}x {}",
                            P::NAME,
                            tol_label(tol),
                            method.name(),
                            ratio,
                            s.label()
                        ));
                    }
                    if !nfe_ok {
                        misses.push(format!(
                            "{} {} {}: NFE {} > peer {}",
                            P::NAME,
                            tol_label(tol),
                            method.name(),
                            ours.nfe,
                            peer_nfe_min
                        ));
                    }
                    if !err_ok {
                        misses.push(format!(
                            "{} {} {}: error {:.1e} > peer {:.1e}",
                            P::NAME,
                            tol_label(tol),
                            method.name(),
                            ours.err,
                            peer_err_min
                        ));
                    }
                }
                None => {
                    cells.push("-".into());
                    cells.push(fmt_us(chain_us));
                    cells.push("-".into());
                }
            }
            let row = format!("| {} |", cells.join(" | "));
            eprintln!("{row}");
            rows.push(row);
        }
    }
}

fn main() {
    let mut cfg = Config {
        samples: 21,
        batch: Duration::from_millis(20),
        problems: Vec::new(),
        solve_only: None,
        use_min: false,
        tols: TOLERANCES.to_vec(),
        plots: None,
        link_prefix: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--samples" => cfg.samples = val().parse().expect("--samples N"),
            "--batch-ms" => {
                cfg.batch = Duration::from_millis(val().parse().expect("--batch-ms MS"))
            }
            "--problem" => cfg.problems.push(val()),
            "--min" => cfg.use_min = true,
            "--sweep" => cfg.tols = SWEEP.to_vec(),
            "--plots" => cfg.plots = Some(PathBuf::from(val())),
            "--link-prefix" => cfg.link_prefix = Some(val()),
            "--solve" => {
                let solver = val();
                let method = val();
                let tol = val().parse().expect("--solve SOLVER METHOD TOL N");
                let n = val().parse().expect("--solve SOLVER METHOD TOL N");
                cfg.solve_only = Some((solver, method, tol, n));
            }
            "--bench" => {} // passed by `cargo bench`; ignored
            other => panic!("unknown argument {other}"),
        }
    }
    if cfg.solve_only.is_some() {
        solve_only::<Lorenz, 3>(&cfg);
        solve_only::<Arenstorf, 4>(&cfg);
        solve_only::<Linear10, 10>(&cfg);
        return;
    }
    let mut rows = Vec::new();
    let mut misses = Vec::new();
    let mut points = Vec::new();
    // Lines starting with `<!--` are comments in the markdown.
    table::<Lorenz, 3>(&cfg, &mut rows, &mut misses, &mut points);
    table::<Arenstorf, 4>(&cfg, &mut rows, &mut misses, &mut points);
    table::<Linear10, 10>(&cfg, &mut rows, &mut misses, &mut points);
    let mut header = vec![
        "problem",
        "tol",
        "method",
        "ours µs",
        "ours NFE",
        "ours error",
    ];
    let peer_labels: Vec<String> = Solver::ALL[1..]
        .iter()
        .map(|s| format!("{} µs / NFE / error / ours÷it", s.label()))
        .collect();
    header.extend(peer_labels.iter().map(String::as_str));
    header.push("ours ÷ fastest peer (same method)");
    header.push("RHS chain at our NFE µs / ÷ fastest peer");
    header.push("target met: time ≤ 0.8x / NFE ≤ peers / error ≤ peers");
    println!();
    println!("| {} |", header.join(" | "));
    println!("|{}", "---|".repeat(header.len()));
    for r in &rows {
        println!("{r}");
    }
    println!();
    if misses.is_empty() {
        println!("All targets met.");
    } else {
        println!("Targets missed:");
        for m in &misses {
            println!("- {m}");
        }
    }
    if let Some(dir) = &cfg.plots {
        write_plots(&cfg, dir, &points);
    }
}

/// Writes the work-precision diagrams and prints a markdown line linking them.
fn write_plots(
    cfg: &Config,
    dir: &std::path::Path,
    points: &[(&'static str, Method, plot::Point)],
) {
    let prefix = cfg
        .link_prefix
        .clone()
        .unwrap_or_else(|| dir.display().to_string());
    let mut problems: Vec<&'static str> = Vec::new();
    for (p, _, _) in points {
        if !problems.contains(p) {
            problems.push(p);
        }
    }
    let tols: Vec<String> = cfg.tols.iter().map(|t| tol_label(*t)).collect();
    println!();
    println!(
        "Work-precision diagrams (rtol = atol over {}; error at t1 against median time per solve \
         and against right-hand-side evaluations; one line per crate):",
        tols.join(", ")
    );
    println!();
    for problem in problems {
        for method in Method::ALL {
            let pts: Vec<plot::Point> = points
                .iter()
                .filter(|(p, m, _)| *p == problem && *m == method)
                .map(|(_, _, pt)| pt.clone())
                .collect();
            if pts.is_empty() {
                continue;
            }
            match plot::write(dir, problem, method.name(), &pts) {
                Ok(path) => {
                    let file = path.file_name().map(|f| f.to_string_lossy().into_owned());
                    println!(
                        "![{problem} {}]({prefix}/{})",
                        method.name(),
                        file.unwrap_or_default()
                    );
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    std::process::exit(1);
                }
            }
        }
    }
}
