//! Plots of a spiral run (plotters; PNG and SVG): the true and learned trajectories in the
//! phase plane and over time, the learned vector field, and the loss curves.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::neural_ode::ModelError;
use crate::train::{IterMetrics, Trainer};

fn err<E: std::fmt::Debug>(path: &Path) -> impl Fn(E) -> ModelError + '_ {
    move |e| ModelError::Io {
        path: path.display().to_string(),
        reason: format!("{e:?}"),
    }
}

fn bounds(vals: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = vals.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    let pad = 0.05 * (hi - lo).max(1e-9);
    (lo - pad, hi + pad)
}

/// A figure that can be drawn on any plotters backend.
trait Draw {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

/// Writes `name.png` and `name.svg` in `dir` by drawing `fig` on both backends.
fn both(dir: &Path, name: &str, fig: &impl Draw) -> Result<(), ModelError> {
    let png = dir.join(format!("{name}.png"));
    let svg = dir.join(format!("{name}.svg"));
    {
        let root = BitMapBackend::new(&png, (800, 600)).into_drawing_area();
        fig.draw(&root).map_err(err(&png))?;
        root.present().map_err(err(&png))?;
    }
    {
        let root = SVGBackend::new(&svg, (800, 600)).into_drawing_area();
        fig.draw(&root).map_err(err(&svg))?;
        root.present().map_err(err(&svg))?;
    }
    Ok(())
}

macro_rules! drawer {
    ($name:ident, |$root:ident, $data:ident : $ty:ty| $body:block) => {
        struct $name<'a>(&'a $ty);
        impl Draw for $name<'_> {
            fn draw<DB: DrawingBackend>(
                &self,
                $root: &DrawingArea<DB, Shift>,
            ) -> Result<(), String> {
                let $data = self.0;
                (|| -> Result<(), Box<dyn std::error::Error + '_>> { $body })()
                    .map_err(|e| e.to_string())
            }
        }
    };
}

struct Curves {
    t: Vec<f64>,
    truth: Vec<f64>,
    learned: Vec<f64>,
}

drawer!(Phase, |root, c: Curves| {
    root.fill(&WHITE)?;
    let (x0, x1) = bounds(
        c.truth
            .iter()
            .step_by(2)
            .chain(c.learned.iter().step_by(2))
            .copied(),
    );
    let (y0, y1) = bounds(
        c.truth
            .iter()
            .skip(1)
            .step_by(2)
            .chain(c.learned.iter().skip(1).step_by(2))
            .copied(),
    );
    let mut chart = ChartBuilder::on(root)
        .caption("spiral: phase plane", ("sans-serif", 22))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(45)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    chart.configure_mesh().x_desc("x").y_desc("y").draw()?;
    chart
        .draw_series(LineSeries::new(
            c.truth.chunks(2).map(|p| (p[0], p[1])),
            &BLACK,
        ))?
        .label("true")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
    chart
        .draw_series(LineSeries::new(
            c.learned.chunks(2).map(|p| (p[0], p[1])),
            &BLUE,
        ))?
        .label("learned")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
    chart.configure_series_labels().border_style(BLACK).draw()?;
    Ok(())
});

drawer!(TimeSeries, |root, c: Curves| {
    root.fill(&WHITE)?;
    let (y0, y1) = bounds(c.truth.iter().chain(&c.learned).copied());
    let t1 = *c.t.last().unwrap_or(&1.0);
    let mut chart = ChartBuilder::on(root)
        .caption("spiral: states over time", ("sans-serif", 22))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(45)
        .build_cartesian_2d(0.0..t1, y0..y1)?;
    chart.configure_mesh().x_desc("t").draw()?;
    for (k, (color, name)) in [(RED, "x"), (GREEN, "y")].into_iter().enumerate() {
        chart
            .draw_series(LineSeries::new(
                c.t.iter().zip(c.truth.chunks(2)).map(|(&t, p)| (t, p[k])),
                color.mix(0.5),
            ))?
            .label(format!("{name} true"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.mix(0.5)));
        chart
            .draw_series(LineSeries::new(
                c.t.iter().zip(c.learned.chunks(2)).map(|(&t, p)| (t, p[k])),
                color,
            ))?
            .label(format!("{name} learned"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart.configure_series_labels().border_style(BLACK).draw()?;
    Ok(())
});

struct Field {
    arrows: Vec<((f64, f64), (f64, f64))>,
    range: (f64, f64),
}

drawer!(FieldPlot, |root, f: Field| {
    root.fill(&WHITE)?;
    let (lo, hi) = f.range;
    let mut chart = ChartBuilder::on(root)
        .caption(
            "learned vector field f(y) (segments point along f)",
            ("sans-serif", 22),
        )
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(45)
        .build_cartesian_2d(lo..hi, lo..hi)?;
    chart.configure_mesh().x_desc("x").y_desc("y").draw()?;
    for &((x, y), (dx, dy)) in &f.arrows {
        chart.draw_series(LineSeries::new([(x, y), (x + dx, y + dy)], &BLUE))?;
        chart.draw_series(std::iter::once(Circle::new(
            (x + dx, y + dy),
            2,
            BLUE.filled(),
        )))?;
    }
    Ok(())
});

drawer!(LossPlot, |root, m: Vec<IterMetrics>| {
    root.fill(&WHITE)?;
    let n = m.last().map(|x| x.iter).unwrap_or(1).max(1);
    let vals = m
        .iter()
        .map(|x| x.loss)
        .chain(m.iter().filter_map(|x| x.eval_loss));
    let (lo, hi) = vals.fold((f64::INFINITY, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
    let lo = lo.max(1e-6) * 0.8;
    let hi = hi.max(lo * 2.0) * 1.2;
    let mut chart = ChartBuilder::on(root)
        .caption("loss", ("sans-serif", 22))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(55)
        .build_cartesian_2d(0usize..n, (lo..hi).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("iteration")
        .y_desc("mean |error|")
        .draw()?;
    chart
        .draw_series(LineSeries::new(
            m.iter().map(|x| (x.iter, x.loss)),
            BLUE.mix(0.4),
        ))?
        .label("minibatch")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.mix(0.4)));
    chart
        .draw_series(LineSeries::new(
            m.iter().filter_map(|x| x.eval_loss.map(|l| (x.iter, l))),
            &RED,
        ))?
        .label("full trajectory")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
    chart.configure_series_labels().border_style(BLACK).draw()?;
    Ok(())
});

/// Writes `phase`, `time`, `field` and `loss` plots (PNG and SVG) of the run into `dir`;
/// `metrics` are the run's iterations (from `metrics.jsonl`).
///
/// # Errors
/// A failed solve of the learned trajectory, or a file that cannot be written.
pub fn write_all(trainer: &Trainer, metrics: &[IterMetrics], dir: &Path) -> Result<(), ModelError> {
    let (learned, _) = trainer.predict_trajectory()?;
    let curves = Curves {
        t: trainer.data().t.clone(),
        truth: trainer.data().y.clone(),
        learned,
    };
    both(dir, "phase", &Phase(&curves))?;
    both(dir, "time", &TimeSeries(&curves))?;
    let (lo, hi) = (-2.2, 2.2);
    let k = 21;
    let mut arrows = Vec::with_capacity(k * k);
    for i in 0..k {
        for j in 0..k {
            let x = lo + (hi - lo) * i as f64 / (k - 1) as f64;
            let y = lo + (hi - lo) * j as f64 / (k - 1) as f64;
            let d = trainer.field(x, y);
            let norm = (d[0] * d[0] + d[1] * d[1]).sqrt().max(1e-12);
            let len = 0.08 * (hi - lo) / (k as f64 / 10.0);
            arrows.push(((x, y), (len * d[0] / norm, len * d[1] / norm)));
        }
    }
    let field = Field {
        arrows,
        range: (lo, hi),
    };
    both(dir, "field", &FieldPlot(&field))?;
    let m = metrics.to_vec();
    both(dir, "loss", &LossPlot(&m))?;
    Ok(())
}
