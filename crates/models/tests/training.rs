//! Spiral training end to end: the loss falls, the gradient methods agree, interrupted runs
//! resume exactly, and bad model files are rejected.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use models::{GradKind, ModelError, TrainConfig, Trainer};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("models-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn config(iters: usize, grad: GradKind) -> TrainConfig {
    let mut c = TrainConfig {
        iters,
        eval_every: 50,
        ..Default::default()
    };
    c.solver.grad = grad;
    c
}

#[test]
fn a_short_run_lowers_the_trajectory_loss() {
    let mut t = Trainer::new(config(250, GradKind::Adjoint)).unwrap();
    let (start, _) = t.evaluate().unwrap();
    let dir = tmp("short");
    let mut evals = Vec::new();
    t.run(&dir, &AtomicBool::new(false), |m| evals.extend(m.eval_loss))
        .unwrap();
    let (end, _) = t.evaluate().unwrap();
    assert_eq!(evals.len(), 5);
    assert!(end < 0.6 * start, "loss {start} -> {end}");
    assert_eq!(t.iteration(), 250);
    let lines = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 250);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn gradient_methods_agree_on_the_first_step() {
    let mut grads = Vec::new();
    for grad in [
        GradKind::Direct,
        GradKind::Checkpointed(3),
        GradKind::Adjoint,
    ] {
        let mut c = config(1, grad);
        c.solver.rtol = 1e-10;
        c.solver.atol = 1e-12;
        let t = Trainer::new(c).unwrap();
        grads.push(t.loss_and_grad().unwrap().dtheta);
    }
    let scale = grads[0].iter().fold(0.0f64, |a, v| a.max(v.abs()));
    assert!(scale > 1e-4);
    let dist = |a: &[f64], b: &[f64]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max)
            / scale
    };
    assert!(
        dist(&grads[0], &grads[1]) < 1e-12,
        "direct vs checkpointed {}",
        dist(&grads[0], &grads[1])
    );
    assert!(
        dist(&grads[0], &grads[2]) < 1e-6,
        "direct vs adjoint {}",
        dist(&grads[0], &grads[2])
    );
}

#[test]
fn an_interrupted_run_resumes_exactly() {
    let full_dir = tmp("full");
    let mut full = Trainer::new(config(40, GradKind::Direct)).unwrap();
    full.run(&full_dir, &AtomicBool::new(false), |_| {})
        .unwrap();

    let dir = tmp("resumed");
    let mut first = Trainer::new(config(40, GradKind::Direct)).unwrap();
    let stop = AtomicBool::new(false);
    first
        .run(&dir, &stop, |m| {
            if m.iter == 17 {
                stop.store(true, Ordering::SeqCst);
            }
        })
        .unwrap();
    assert_eq!(first.iteration(), 17);
    let mut resumed = Trainer::load(&dir.join("model.bin"), None).unwrap();
    assert_eq!(resumed.iteration(), 17);
    resumed.run(&dir, &AtomicBool::new(false), |_| {}).unwrap();
    assert_eq!(resumed.iteration(), 40);
    assert_eq!(resumed.params(), full.params());
    // The metrics of both parts add up to the uninterrupted run's (timings aside).
    let strip = |s: String| -> Vec<(usize, u64)> {
        s.lines()
            .map(|l| {
                let m: models::IterMetrics = serde_json::from_str(l).unwrap();
                (m.iter, m.loss.to_bits())
            })
            .collect()
    };
    assert_eq!(
        strip(std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap()),
        strip(std::fs::read_to_string(full_dir.join("metrics.jsonl")).unwrap())
    );
    std::fs::remove_dir_all(dir).unwrap();
    std::fs::remove_dir_all(full_dir).unwrap();
}

#[test]
fn corrupt_truncated_and_foreign_model_files_are_rejected() {
    let dir = tmp("files");
    let mut t = Trainer::new(config(2, GradKind::Adjoint)).unwrap();
    t.run(&dir, &AtomicBool::new(false), |_| {}).unwrap();
    let path = dir.join("model.bin");
    let good = std::fs::read(&path).unwrap();
    let bad = dir.join("bad.bin");
    let check = |bytes: &[u8]| {
        std::fs::write(&bad, bytes).unwrap();
        match Trainer::load(&bad, None) {
            Err(ModelError::File(_)) | Err(ModelError::Config(_)) => {}
            Err(e) => panic!("unexpected error kind: {e}"),
            Ok(_) => panic!("a damaged file was accepted"),
        }
    };
    check(&good[..good.len() / 2]);
    let mut flipped = good.clone();
    let i = flipped.len() - 20;
    flipped[i] ^= 0x40;
    check(&flipped);
    check(b"PK\x03\x04 definitely a zip file, not a model");
    check(&[]);
    assert!(matches!(
        Trainer::load(&dir.join("missing.bin"), None),
        Err(ModelError::File(_))
    ));
    // The good file still loads.
    assert_eq!(Trainer::load(&path, None).unwrap().iteration(), 2);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn per_sample_mode_is_thread_count_independent_and_agrees_with_shared_steps() {
    let mut c = config(1, GradKind::Direct);
    c.solver.rtol = 1e-10;
    c.solver.atol = 1e-12;
    let shared = Trainer::new(c.clone()).unwrap().loss_and_grad().unwrap();
    c.batch_mode = models::BatchMode::PerSample;
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let c = c.clone();
        pool.install(move || Trainer::new(c).unwrap().loss_and_grad().unwrap())
    };
    let one = run(1);
    for threads in [2, 8] {
        let other = run(threads);
        assert_eq!(one.loss.to_bits(), other.loss.to_bits());
        assert_eq!(one.dtheta, other.dtheta, "{threads} threads");
    }
    // Different step sequences, same problem: the losses and gradients agree closely.
    assert!(
        (one.loss - shared.loss).abs() < 1e-8,
        "{} vs {}",
        one.loss,
        shared.loss
    );
    let scale = shared.dtheta.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    let dist = one
        .dtheta
        .iter()
        .zip(&shared.dtheta)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
        / scale;
    assert!(dist < 1e-6, "{dist}");
}
