//! Model files: architecture, parameters and optimizer state in one checked, versioned file.
//!
//! # Format (version 1)
//!
//! ```text
//! offset  size  content
//!      0     8  magic bytes  "NODEMODL"
//!      8     4  format version, u32 little-endian (1)
//!     12     1  scalar type: 4 = f32, 8 = f64
//!     13     3  reserved, zero
//!     16     8  payload length n, u64 little-endian
//!     24     n  payload: bincode 2 (standard configuration) of the serde value
//!               { architecture, layout, params, optimizer }
//!   24+n     4  CRC-32 (IEEE) of bytes 0 .. 24+n, u32 little-endian
//! ```
//!
//! Writing goes to `<path>.tmp-<pid>` in the same directory, which is synced and renamed over
//! `path`, so a crash leaves either the old file or the new one, never a mix. Reading checks, in
//! order: magic, version, scalar type, reserved bytes, exact length, checksum, decoding, internal
//! consistency (parameter and optimizer-buffer lengths against the layout); then
//! [`load_model`] compares the architecture and layout with the expected ones. Every failure is
//! a [`FileError`], never a panic.
//!
//! ```
//! use nn_layers::{init_params, load_model, save_model, Activation, MlpConfig, ModelFile, ParamLayout};
//! use nn_layers::optim::{Optimizer, OptimizerConfig, RmsProp};
//! # let dir = std::env::temp_dir().join(format!("nn-layers-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir).unwrap();
//! let cfg = MlpConfig::new(&[2, 50, 2], Activation::Tanh);
//! let mut layout = ParamLayout::new();
//! let _mlp = cfg.build(&mut layout, "net")?;
//! let mut theta = vec![0.0f64; layout.len()];
//! init_params(&layout, &mut theta, 0)?;
//! let opt = OptimizerConfig::RmsProp(RmsProp::new(1e-3));
//! let state = Optimizer::<f64>::init_state(&opt, theta.len());
//! let file = ModelFile::new(cfg.clone(), layout.clone(), theta.clone())
//!     .with_optimizer(opt, state);
//! let path = dir.join("spiral.model");
//! save_model(&path, &file)?;
//! let back = load_model::<MlpConfig, f64>(&path, &cfg, &layout)?;
//! assert_eq!(back.params, theta);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt::Debug;
use std::io::Write;
use std::path::Path;

use autodiff::Scalar;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::FileError;
use crate::optim::{OptState, OptimizerConfig};
use crate::params::ParamLayout;

/// The magic bytes at the start of every model file.
pub const MAGIC: [u8; 8] = *b"NODEMODL";
/// The format version this build writes (and the newest it reads).
pub const FORMAT_VERSION: u32 = 1;
const HEADER: usize = 24;

/// An optimizer's configuration and state, saved with the model so training resumes exactly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedOptimizer<T> {
    /// The optimizer and its hyperparameters.
    pub config: OptimizerConfig,
    /// Its state (step count and buffers).
    pub state: OptState<T>,
}

/// Everything a model file holds.
///
/// `A` is the architecture description (any serde type with equality, e.g.
/// [`MlpConfig`](crate::MlpConfig), or a model crate's own configuration).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelFile<A, T> {
    /// The architecture.
    pub architecture: A,
    /// The parameter layout the architecture builds (names, shapes, offsets).
    pub layout: ParamLayout,
    /// The flat parameter vector.
    pub params: Vec<T>,
    /// Optimizer configuration and state, if saved.
    pub optimizer: Option<SavedOptimizer<T>>,
}

impl<A, T> ModelFile<A, T> {
    /// A model file without optimizer state.
    pub fn new(architecture: A, layout: ParamLayout, params: Vec<T>) -> Self {
        ModelFile {
            architecture,
            layout,
            params,
            optimizer: None,
        }
    }

    /// Adds optimizer configuration and state.
    pub fn with_optimizer(mut self, config: OptimizerConfig, state: OptState<T>) -> Self {
        self.optimizer = Some(SavedOptimizer { config, state });
        self
    }
}

impl<A: PartialEq + Debug, T> ModelFile<A, T> {
    /// Checks that the file describes `architecture` with exactly `layout`.
    ///
    /// # Errors
    /// [`FileError::ArchitectureMismatch`] naming the first difference.
    pub fn check_architecture(
        &self,
        architecture: &A,
        layout: &ParamLayout,
    ) -> Result<(), FileError> {
        if &self.architecture != architecture {
            return Err(FileError::ArchitectureMismatch {
                what: format!(
                    "file has {:?}, expected {:?}",
                    self.architecture, architecture
                ),
            });
        }
        if &self.layout != layout {
            let diff = self
                .layout
                .specs()
                .iter()
                .zip(layout.specs())
                .find(|(a, b)| a != b)
                .map(|(a, b)| {
                    format!(
                        "tensor `{}` {}x{} vs expected `{}` {}x{}",
                        a.name, a.rows, a.cols, b.name, b.rows, b.cols
                    )
                })
                .unwrap_or_else(|| {
                    format!(
                        "{} tensors vs expected {}",
                        self.layout.specs().len(),
                        layout.specs().len()
                    )
                });
            return Err(FileError::ArchitectureMismatch {
                what: format!("parameter layout differs: {diff}"),
            });
        }
        Ok(())
    }
}

fn dtype_tag<T: Scalar>() -> Result<u8, FileError> {
    match std::mem::size_of::<T>() {
        4 => Ok(4),
        8 => Ok(8),
        _ => Err(FileError::Dtype {
            expected: std::any::type_name::<T>(),
            found: "a scalar type model files do not support".into(),
        }),
    }
}

fn dtype_name(tag: u8) -> String {
    match tag {
        4 => "f32".into(),
        8 => "f64".into(),
        t => format!("unknown type tag {t}"),
    }
}

/// Encodes a model file to bytes (the format above).
///
/// # Errors
/// [`FileError::Encode`] if the architecture cannot be serialised.
pub fn to_bytes<A: Serialize, T: Scalar + Serialize>(
    file: &ModelFile<A, T>,
) -> Result<Vec<u8>, FileError> {
    let tag = dtype_tag::<T>()?;
    let payload =
        bincode::serde::encode_to_vec(file, bincode::config::standard()).map_err(|e| {
            FileError::Encode {
                reason: e.to_string(),
            }
        })?;
    let mut out = Vec::with_capacity(HEADER + payload.len() + 4);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&[tag, 0, 0, 0]);
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// Decodes and checks a model file from bytes (everything but the architecture comparison).
///
/// # Errors
/// Every way the bytes can be wrong is a [`FileError`]; see the module documentation.
pub fn from_bytes<A: DeserializeOwned, T: Scalar + DeserializeOwned>(
    bytes: &[u8],
) -> Result<ModelFile<A, T>, FileError> {
    let found = bytes.len() as u64;
    if bytes.len() < MAGIC.len() {
        return Err(if MAGIC.starts_with(bytes) && !bytes.is_empty() {
            FileError::Truncated {
                expected: HEADER as u64,
                found,
            }
        } else {
            FileError::Foreign
        });
    }
    if bytes[..8] != MAGIC {
        return Err(FileError::Foreign);
    }
    if bytes.len() < HEADER {
        return Err(FileError::Truncated {
            expected: HEADER as u64,
            found,
        });
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version > FORMAT_VERSION {
        return Err(FileError::NewerVersion {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if version == 0 {
        return Err(FileError::Inconsistent {
            what: "format version 0 does not exist".into(),
        });
    }
    let tag = bytes[12];
    let want = dtype_tag::<T>()?;
    if tag != want {
        return Err(FileError::Dtype {
            expected: if want == 4 { "f32" } else { "f64" },
            found: dtype_name(tag),
        });
    }
    if bytes[13..16] != [0, 0, 0] {
        return Err(FileError::Inconsistent {
            what: "reserved header bytes are not zero".into(),
        });
    }
    let plen = u64::from_le_bytes(bytes[16..24].try_into().expect("8 bytes"));
    let total = plen
        .checked_add(HEADER as u64 + 4)
        .ok_or(FileError::Truncated {
            expected: u64::MAX,
            found,
        })?;
    if found < total {
        return Err(FileError::Truncated {
            expected: total,
            found,
        });
    }
    if found > total {
        return Err(FileError::TrailingBytes {
            extra: found - total,
        });
    }
    let end = total as usize - 4;
    let stored = u32::from_le_bytes(bytes[end..].try_into().expect("4 bytes"));
    let computed = crc32fast::hash(&bytes[..end]);
    if stored != computed {
        return Err(FileError::Checksum { stored, computed });
    }
    let (file, used): (ModelFile<A, T>, usize) =
        bincode::serde::decode_from_slice(&bytes[HEADER..end], bincode::config::standard())
            .map_err(|e| FileError::Decode {
                reason: e.to_string(),
            })?;
    if used != end - HEADER {
        return Err(FileError::Decode {
            reason: format!("{} payload bytes left undecoded", end - HEADER - used),
        });
    }
    check_consistency(&file)?;
    Ok(file)
}

fn check_consistency<A, T>(file: &ModelFile<A, T>) -> Result<(), FileError> {
    let n = file.layout.len();
    if file.params.len() != n {
        return Err(FileError::Inconsistent {
            what: format!("{} parameters for a layout of {n}", file.params.len()),
        });
    }
    let mut offset = 0;
    for s in file.layout.specs() {
        if s.offset != offset {
            return Err(FileError::Inconsistent {
                what: format!(
                    "tensor `{}` at offset {} instead of {offset}",
                    s.name, s.offset
                ),
            });
        }
        offset = s
            .rows
            .checked_mul(s.cols)
            .and_then(|l| l.checked_add(offset))
            .ok_or_else(|| FileError::Inconsistent {
                what: format!("tensor `{}` is impossibly large", s.name),
            })?;
    }
    if offset != n {
        return Err(FileError::Inconsistent {
            what: "layout length disagrees with its tensors".into(),
        });
    }
    if let Some(o) = &file.optimizer {
        if o.state.slots.iter().any(|s| s.len() != n) {
            return Err(FileError::Inconsistent {
                what: "optimizer buffers do not match the parameter count".into(),
            });
        }
    }
    Ok(())
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FileError + '_ {
    move |source| FileError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Writes `bytes` to `path` atomically: to `<path>.tmp-<pid>` in the same directory, synced,
/// then renamed over `path` (and the directory synced where the platform allows).
///
/// # Errors
/// [`FileError::Io`] if any step fails; the temporary file is removed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    let name = path
        .file_name()
        .ok_or_else(|| FileError::Io {
            path: path.display().to_string(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file path"),
        })?
        .to_string_lossy()
        .into_owned();
    let tmp = path.with_file_name(format!("{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(io(path))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return result;
    }
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        // Best effort: persists the rename on Unix; opening a directory fails on some platforms.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Saves a model file atomically (see the module documentation).
///
/// # Errors
/// [`FileError::Encode`] or [`FileError::Io`].
pub fn save_model<A: Serialize, T: Scalar + Serialize>(
    path: impl AsRef<Path>,
    file: &ModelFile<A, T>,
) -> Result<(), FileError> {
    let bytes = to_bytes(file)?;
    write_atomic(path.as_ref(), &bytes)
}

/// Reads and checks a model file without comparing its architecture (to inspect a file, or to
/// build the model it describes).
///
/// # Errors
/// [`FileError::Io`] or any check of [`from_bytes`].
pub fn read_model<A: DeserializeOwned, T: Scalar + DeserializeOwned>(
    path: impl AsRef<Path>,
) -> Result<ModelFile<A, T>, FileError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(io(path))?;
    from_bytes(&bytes)
}

/// Reads and checks a model file and verifies that it holds `architecture` with `layout`.
///
/// # Errors
/// As [`read_model`], plus [`FileError::ArchitectureMismatch`].
pub fn load_model<A: DeserializeOwned + PartialEq + Debug, T: Scalar + DeserializeOwned>(
    path: impl AsRef<Path>,
    architecture: &A,
    layout: &ParamLayout,
) -> Result<ModelFile<A, T>, FileError> {
    let file = read_model(path)?;
    file.check_architecture(architecture, layout)?;
    Ok(file)
}
