//! `neural-ode train` and `neural-ode eval` end to end.

use std::process::Command;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_neural-ode"))
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn tmp(name: &str) -> String {
    let d = std::env::temp_dir().join(format!("cli-train-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d.display().to_string()
}

#[test]
fn train_writes_model_metrics_and_plots_then_eval_and_resume() {
    let dir = tmp("run");
    let (code, out, err) = run(&[
        "train", "spiral", "--iters", "20", "--out", &dir, "--seed", "3",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("trained 20 iterations"), "{out}");
    for f in [
        "model.bin",
        "metrics.jsonl",
        "phase.png",
        "phase.svg",
        "time.png",
        "time.svg",
        "field.png",
        "field.svg",
        "loss.png",
        "loss.svg",
    ] {
        let p = std::path::Path::new(&dir).join(f);
        assert!(
            p.metadata().map(|m| m.len() > 0).unwrap_or(false),
            "{f} missing"
        );
    }
    let (code, out, err) = run(&["eval", &dir]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("iteration 20; full-trajectory loss"),
        "{out}"
    );
    // Training into a directory that holds a model needs --resume.
    let (code, _, err) = run(&["train", "spiral", "--iters", "5", "--out", &dir]);
    assert_ne!(code, 0);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    let (code, out, err) = run(&[
        "train",
        "spiral",
        "--resume",
        &dir,
        "--iters",
        "25",
        "--no-plots",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("trained 25 iterations"), "{out}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_flags_and_bad_files_give_one_line_errors() {
    let dir = tmp("bad");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(std::path::Path::new(&dir).join("model.bin"), b"not a model").unwrap();
    for args in [
        vec!["train", "spiral", "--grad", "magic"],
        vec!["train", "spiral", "--batch-mode", "sideways"],
        vec![
            "train",
            "spiral",
            "--method",
            "rk99",
            "--out",
            "/tmp/never-written-x",
        ],
        vec![
            "train",
            "spiral",
            "--rtol",
            "-1",
            "--out",
            "/tmp/never-written-y",
        ],
        vec!["train", "spiral", "--iters", "many"],
        vec!["train", "mnist"],
        vec!["eval", &dir],
        vec!["eval", "/nonexistent/run"],
        vec!["train", "spiral", "--resume", &dir],
    ] {
        let (code, out, err) = run(&args);
        assert_ne!(code, 0, "{args:?}");
        assert!(out.is_empty(), "{args:?}: {out}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    }
    // Nothing already saved is lost.
    assert_eq!(
        std::fs::read(std::path::Path::new(&dir).join("model.bin")).unwrap(),
        b"not a model"
    );
    assert!(!std::path::Path::new("/tmp/never-written-x/model.bin").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
