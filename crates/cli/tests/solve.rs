//! `neural-ode solve` end to end: outputs, and one-line errors with non-zero exit codes.

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

#[test]
fn json_output_has_the_final_state_and_statistics() {
    let (code, out, err) = run(&[
        "solve",
        "--problem",
        "exp-decay",
        "--method",
        "dop853",
        "--rtol",
        "1e-12",
        "--atol",
        "1e-14",
        "--output",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["problem"], "exp-decay");
    assert_eq!(v["method"], "dop853");
    assert_eq!(v["t_final"], 10.0);
    let y = v["y_final"][0].as_f64().unwrap();
    assert!((y - (-10.0f64).exp()).abs() < 1e-14, "{y}");
    assert!(v["statistics"]["nfe"].as_u64().unwrap() > 0);
    assert!(v["statistics"]["accepted"].as_u64().unwrap() > 0);
}

#[test]
fn csv_output_is_the_trajectory() {
    let (code, out, err) = run(&[
        "solve",
        "--problem",
        "vdp",
        "--output",
        "csv",
        "--points",
        "21",
        "--t1",
        "2",
    ]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "t,y0,y1");
    assert_eq!(lines.len(), 22);
    assert!(lines[1].starts_with("0,2.0"));
    assert!(lines[21].starts_with("2,"));
}

#[test]
fn text_output_and_fixed_steps() {
    let (code, out, err) = run(&[
        "solve",
        "--problem",
        "lorenz",
        "--method",
        "rk4",
        "--dt",
        "0.001",
        "--t1",
        "1",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("accepted = 1000"), "{out}");
    let (code, out, _) = run(&[
        "solve",
        "--problem",
        "arenstorf",
        "--method",
        "tsit5",
        "--rtol",
        "1e-10",
        "--atol",
        "1e-10",
    ]);
    assert_eq!(code, 0);
    // One period of the Arenstorf orbit returns to x = 0.994.
    let line = out.lines().find(|l| l.starts_with("y_final")).unwrap();
    let x: f64 = line
        .trim_start_matches("y_final = [")
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((x - 0.994).abs() < 1e-6, "{out}");
}

#[test]
fn bad_input_gives_one_line_errors() {
    for args in [
        vec!["solve", "--problem", "nope"],
        vec!["solve", "--problem", "vdp", "--method", "rk99"],
        vec!["solve", "--problem", "vdp", "--rtol", "abc"],
        vec!["solve", "--problem", "vdp", "--rtol", "-1"],
        vec!["solve", "--problem", "vdp", "--rtol", "0", "--atol", "0"],
        vec!["solve", "--problem", "vdp", "--method", "rk4"],
        vec!["solve", "--problem", "vdp", "--dt", "0"],
        vec!["solve", "--problem", "vdp", "--output", "xml"],
        vec!["solve"],
        vec!["frobnicate"],
    ] {
        let (code, out, err) = run(&args);
        assert_ne!(code, 0, "{args:?}");
        assert!(out.is_empty(), "{args:?}: {out}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error"), "{args:?}: {err}");
    }
}
