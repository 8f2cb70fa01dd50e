//! Model files: bit-identical round trips; every corruption is a typed error, never a panic,
//! never an accepted change. safetensors round trips.

use nn_layers::optim::{Adam, OptState, Optimizer, OptimizerConfig};
use nn_layers::safetensors_io::{
    export_safetensors, import_safetensors, load_safetensors, save_safetensors,
};
use nn_layers::serialize::{from_bytes, to_bytes, FORMAT_VERSION};
use nn_layers::{
    init_params, load_model, read_model, save_model, Activation, FileError, MlpConfig, ModelFile,
    ParamLayout,
};
use proptest::prelude::*;

fn model() -> (MlpConfig, ParamLayout, ModelFile<MlpConfig, f64>) {
    let cfg = MlpConfig::new(&[2, 6, 2], Activation::Tanh);
    let mut layout = ParamLayout::new();
    cfg.build(&mut layout, "net").unwrap();
    let mut theta = vec![0.0; layout.len()];
    init_params(&layout, &mut theta, 1).unwrap();
    theta[3] = -0.0; // signed zero must survive
    theta[4] = f64::MIN_POSITIVE / 3.0; // and subnormals
    let opt = OptimizerConfig::Adam(Adam::new(1e-3));
    let mut state: OptState<f64> = Optimizer::<f64>::init_state(&opt, theta.len());
    let mut th = theta.clone();
    let g: Vec<f64> = (0..theta.len()).map(|i| (i as f64).sin()).collect();
    opt.step(&mut th, &g, &mut state).unwrap();
    let file = ModelFile::new(cfg.clone(), layout.clone(), theta).with_optimizer(opt, state);
    (cfg, layout, file)
}

fn dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("nn-layers-it-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn save_then_load_is_bit_identical() {
    let (cfg, layout, file) = model();
    // A directory of its own: the leftover check below must not see the temporary files of
    // tests running at the same time.
    let own = dir().join("bit-identical");
    std::fs::create_dir_all(&own).unwrap();
    let path = own.join("m.model");
    save_model(&path, &file).unwrap();
    let back = load_model::<MlpConfig, f64>(&path, &cfg, &layout).unwrap();
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&back.params), bits(&file.params));
    assert_eq!(back, file);
    // Saving again gives the same bytes; no temporary file is left behind.
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes, to_bytes(&back).unwrap());
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty());
    std::fs::remove_file(&path).unwrap();

    // f32 files too, and the scalar type is checked.
    let f32file = ModelFile::new(
        cfg.clone(),
        layout.clone(),
        file.params.iter().map(|&x| x as f32).collect(),
    );
    let bytes = to_bytes(&f32file).unwrap();
    assert_eq!(from_bytes::<MlpConfig, f32>(&bytes).unwrap(), f32file);
    assert!(matches!(
        from_bytes::<MlpConfig, f64>(&bytes),
        Err(FileError::Dtype { .. })
    ));
}

#[test]
fn typed_errors_for_each_kind_of_bad_file() {
    let (cfg, _, file) = model();
    let bytes = to_bytes(&file).unwrap();
    let load = |b: &[u8]| from_bytes::<MlpConfig, f64>(b);
    assert!(matches!(
        load(b"PK\x03\x04 not a model at all, a zip file"),
        Err(FileError::Foreign)
    ));
    assert!(matches!(load(b""), Err(FileError::Foreign)));
    assert!(matches!(
        load(&bytes[..5]),
        Err(FileError::Truncated { .. })
    ));
    assert!(matches!(
        load(&bytes[..bytes.len() - 1]),
        Err(FileError::Truncated { .. })
    ));
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        load(&longer),
        Err(FileError::TrailingBytes { extra: 1 })
    ));
    let mut newer = bytes.clone();
    newer[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    assert!(matches!(load(&newer), Err(FileError::NewerVersion { .. })));
    let mut flipped = bytes.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x10;
    assert!(matches!(load(&flipped), Err(FileError::Checksum { .. })));

    // Architecture and layout mismatches.
    let path = dir().join("arch.model");
    save_model(&path, &file).unwrap();
    let other = MlpConfig::new(&[2, 7, 2], Activation::Tanh);
    let mut other_layout = ParamLayout::new();
    other.build(&mut other_layout, "net").unwrap();
    assert!(matches!(
        load_model::<MlpConfig, f64>(&path, &other, &other_layout),
        Err(FileError::ArchitectureMismatch { .. })
    ));
    let mut renamed = ParamLayout::new();
    cfg.build(&mut renamed, "other").unwrap();
    assert!(matches!(
        load_model::<MlpConfig, f64>(&path, &cfg, &renamed),
        Err(FileError::ArchitectureMismatch { .. })
    ));
    assert!(read_model::<MlpConfig, f64>(&path).is_ok());
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(
        read_model::<MlpConfig, f64>(&path),
        Err(FileError::Io { .. })
    ));

    // A payload that passes the checksum but contradicts itself.
    let mut bad = file.clone();
    bad.params.pop();
    assert!(matches!(
        load(&to_bytes(&bad).unwrap()),
        Err(FileError::Inconsistent { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    /// Flipping, truncating or appending bytes never panics and never yields an accepted file.
    #[test]
    fn corrupted_files_are_always_rejected(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 0..4),
        cut in proptest::option::of(any::<prop::sample::Index>()),
        extra in proptest::collection::vec(any::<u8>(), 0..3),
    ) {
        let (_, _, file) = model();
        let orig = to_bytes(&file).unwrap();
        let mut b = orig.clone();
        for (i, x) in &flips {
            let i = i.index(b.len());
            b[i] ^= x;
        }
        if let Some(c) = cut {
            b.truncate(c.index(b.len()));
        }
        b.extend_from_slice(&extra);
        let r = from_bytes::<MlpConfig, f64>(&b);
        if b == orig {
            prop_assert!(r.is_ok());
        } else {
            prop_assert!(r.is_err(), "a changed file was accepted");
        }
    }
}

#[test]
fn safetensors_round_trip_and_checks() {
    let (_, layout, file) = model();
    let bytes = export_safetensors(&layout, &file.params).unwrap();
    let mut back = vec![0.0f64; layout.len()];
    assert!(import_safetensors(&bytes, &layout, &mut back)
        .unwrap()
        .is_empty());
    assert_eq!(back, file.params);
    // f64 file into f32 parameters converts.
    let mut back32 = vec![0.0f32; layout.len()];
    import_safetensors(&bytes, &layout, &mut back32).unwrap();
    assert_eq!(back32[0], file.params[0] as f32);
    // A Linear weight in x out is exported as PyTorch's [out, in].
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.tensor("net.0.weight").unwrap().shape(), &[6, 2]);
    assert_eq!(st.tensor("net.0.bias").unwrap().shape(), &[6]);
    // Missing tensors and wrong shapes are errors; garbage is an error.
    let mut small = ParamLayout::new();
    MlpConfig::new(&[2, 5, 2], Activation::Tanh)
        .build(&mut small, "net")
        .unwrap();
    let mut th = vec![0.0; small.len()];
    assert!(matches!(
        import_safetensors(&bytes, &small, &mut th),
        Err(FileError::Safetensors { .. })
    ));
    assert!(import_safetensors(b"garbage", &layout, &mut back).is_err());
    let path = dir().join("p.safetensors");
    save_safetensors(&path, &layout, &file.params).unwrap();
    load_safetensors(&path, &layout, &mut back).unwrap();
    assert_eq!(back, file.params);
    std::fs::remove_file(&path).unwrap();
}
