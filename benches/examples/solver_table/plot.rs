//! Work-precision diagrams (plotters, SVG): for one problem and one method, the error at the
//! final time against the median time per solve and against the number of right-hand-side
//! evaluations, one line per solver crate, one point per tolerance.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

/// One solve of the sweep: who, at what tolerance, and what it cost and achieved.
#[derive(Clone, Debug)]
pub struct Point {
    /// Solver label (`ours`, `diffsol`, ...).
    pub solver: &'static str,
    /// `rtol = atol`.
    pub tol: f64,
    /// Median microseconds per solve.
    pub micros: f64,
    /// Right-hand-side evaluations.
    pub nfe: usize,
    /// Max-norm error at the final time against the reference.
    pub err: f64,
}

/// Errors are drawn on a log axis: a zero error is shown at this floor.
const ERR_FLOOR: f64 = 1e-16;

const COLORS: [RGBColor; 6] = [
    RGBColor(0, 0, 0),
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
];

fn log_range(vals: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = vals
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::INFINITY, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        return 1.0..10.0;
    }
    (lo / 1.5)..(hi * 1.5)
}

/// Draws one panel: error against `x` (time or NFE) for every solver in `points`.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    x_desc: &str,
    points: &[Point],
    solvers: &[&'static str],
    x: fn(&Point) -> f64,
) -> Result<(), Box<dyn std::error::Error + 'static>>
where
    DB::ErrorType: 'static,
{
    let xr = log_range(points.iter().map(x));
    let yr = log_range(points.iter().map(|p| p.err.max(ERR_FLOOR)));
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(xr.log_scale(), yr.log_scale())?;
    chart
        .configure_mesh()
        .x_labels(6)
        .y_labels(8)
        .x_desc(x_desc)
        .y_desc("max error at t1")
        .y_label_formatter(&|v| format!("{v:.0e}"))
        .x_label_formatter(&|v| {
            if *v >= 100.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.2}")
            }
        })
        .draw()?;
    for (k, solver) in solvers.iter().enumerate() {
        let color = COLORS[k % COLORS.len()];
        // Joined in tolerance order, loosest first.
        let mut mine: Vec<&Point> = points.iter().filter(|p| p.solver == *solver).collect();
        mine.sort_by(|a, b| b.tol.total_cmp(&a.tol));
        let series: Vec<(f64, f64)> = mine.iter().map(|p| (x(p), p.err.max(ERR_FLOOR))).collect();
        let width = if *solver == "ours" { 3 } else { 1 };
        chart
            .draw_series(LineSeries::new(
                series.iter().copied(),
                color.stroke_width(width),
            ))?
            .label(*solver)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(width))
            });
        chart.draw_series(
            series
                .iter()
                .map(|&(a, b)| Circle::new((a, b), 3, color.filled())),
        )?;
    }
    // Label our points with their tolerance.
    chart.draw_series(points.iter().filter(|p| p.solver == "ours").map(|p| {
        Text::new(
            crate::tol_label(p.tol),
            (x(p), p.err.max(ERR_FLOOR)),
            ("sans-serif", 11).into_font(),
        )
    }))?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    problem: &str,
    method: &str,
    points: &[Point],
) -> Result<(), Box<dyn std::error::Error + 'static>>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let mut solvers: Vec<&'static str> = Vec::new();
    for p in points {
        if !solvers.contains(&p.solver) {
            solvers.push(p.solver);
        }
    }
    let (left, right) = root.split_horizontally(root.dim_in_pixel().0 / 2);
    panel(
        &left,
        &format!("{problem} {method}: error vs time"),
        "µs per solve (median)",
        points,
        &solvers,
        |p| p.micros,
    )?;
    panel(
        &right,
        &format!("{problem} {method}: error vs evaluations"),
        "right-hand-side evaluations",
        points,
        &solvers,
        |p| p.nfe as f64,
    )?;
    root.present()?;
    Ok(())
}

/// Writes `DIR/PROBLEM-METHOD.svg` (and a PNG beside it, for viewers without SVG; git
/// ignores it) and returns the SVG's path.
///
/// # Errors
/// The directory cannot be created or the file cannot be written.
pub fn write(dir: &Path, problem: &str, method: &str, points: &[Point]) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join(format!("{problem}-{method}.svg"));
    let tmp = dir.join(format!(".{problem}-{method}.svg.tmp"));
    {
        let root = SVGBackend::new(&tmp, (1100, 450)).into_drawing_area();
        draw(&root, problem, method, points).map_err(|e| format!("{}: {e}", tmp.display()))?;
    }
    std::fs::rename(&tmp, &path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let png = dir.join(format!("{problem}-{method}.png"));
    {
        let root = BitMapBackend::new(&png, (1100, 450)).into_drawing_area();
        draw(&root, problem, method, points).map_err(|e| format!("{}: {e}", png.display()))?;
    }
    Ok(path)
}
