//! The crate's error types.

/// Everything that can go wrong in this crate, except reading and writing model files
/// ([`FileError`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum NnError {
    /// An operation on the tape failed (usually a shape mismatch between a layer and its input).
    #[error(transparent)]
    Autodiff(#[from] autodiff::AutodiffError),
    /// A flat parameter (or gradient, or state) vector has the wrong length for its layout.
    #[error("{what}: expected {expected} values, got {got}")]
    LengthMismatch {
        /// Which vector.
        what: &'static str,
        /// The length the layout or configuration asks for.
        expected: usize,
        /// The length received.
        got: usize,
    },
    /// A parameter name was registered twice in one layout.
    #[error("parameter `{name}` is already registered (give each layer a distinct name)")]
    DuplicateParam {
        /// The name.
        name: String,
    },
    /// No parameter of this name is registered.
    #[error("no parameter named `{name}` in the layout")]
    UnknownParam {
        /// The name.
        name: String,
    },
    /// A layer's input has the wrong number of features.
    #[error("{layer}: input has {got} features, the layer expects {expected}")]
    InputWidth {
        /// The layer kind.
        layer: &'static str,
        /// The expected number of columns.
        expected: usize,
        /// The number of columns received.
        got: usize,
    },
    /// A configuration value is invalid.
    #[error("invalid configuration: {what}")]
    Config {
        /// What is wrong, in words.
        what: &'static str,
    },
    /// A class label is not below the number of classes.
    #[error("label {label} at position {index} is out of range for {classes} classes")]
    InvalidLabel {
        /// Position in the batch.
        index: usize,
        /// The label.
        label: usize,
        /// Number of classes.
        classes: usize,
    },
    /// A time-conditioned network was evaluated without a time input.
    #[error("the network has time-conditioned layers: call forward_t with a time value")]
    MissingTime,
    /// A value that must be finite is NaN or infinite.
    #[error("{what}: non-finite value (lower the learning rate or clip gradients)")]
    NonFinite {
        /// Where the value was found.
        what: &'static str,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = NnError> = std::result::Result<T, E>;

/// Why a model file (or a safetensors file) could not be written or read.
///
/// Loading never panics on bad input: every way a file can be wrong is one of these variants.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// The operating system refused a read, write, sync or rename.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file involved.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file does not start with this crate's magic bytes: it is some other kind of file.
    #[error("not a neural-ode model file (wrong magic bytes)")]
    Foreign,
    /// The file was written by a newer version of the format than this build reads.
    #[error("model file format version {found} is newer than the supported {supported} (upgrade nn-layers)")]
    NewerVersion {
        /// The file's version.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// The file is shorter than its header says: it was cut off.
    #[error("model file is truncated: expected {expected} bytes, found {found}")]
    Truncated {
        /// Bytes the header announces.
        expected: u64,
        /// Bytes present.
        found: u64,
    },
    /// The file is longer than its header says.
    #[error("model file has {extra} unexpected trailing bytes")]
    TrailingBytes {
        /// Number of bytes after the checksum.
        extra: u64,
    },
    /// The checksum does not match the contents: the file is corrupt.
    #[error("model file checksum mismatch (stored {stored:#010x}, computed {computed:#010x}): the file is corrupt")]
    Checksum {
        /// The checksum stored in the file.
        stored: u32,
        /// The checksum of the contents read.
        computed: u32,
    },
    /// The payload passed the checksum but does not decode (written by incompatible code).
    #[error("model file payload does not decode: {reason}")]
    Decode {
        /// The decoder's message.
        reason: String,
    },
    /// Encoding the payload failed.
    #[error("model file payload could not be encoded: {reason}")]
    Encode {
        /// The encoder's message.
        reason: String,
    },
    /// The file stores parameters of another scalar type.
    #[error("model file stores {found} parameters, {expected} were requested")]
    Dtype {
        /// The type requested.
        expected: &'static str,
        /// The type in the file.
        found: String,
    },
    /// The file's architecture (or parameter layout) differs from the one expected.
    #[error("architecture mismatch: {what}")]
    ArchitectureMismatch {
        /// What differs.
        what: String,
    },
    /// The file is internally inconsistent (e.g. a parameter count that contradicts the layout).
    #[error("model file is inconsistent: {what}")]
    Inconsistent {
        /// What is wrong.
        what: String,
    },
    /// A safetensors file could not be read or written.
    #[error("safetensors: {reason}")]
    Safetensors {
        /// The library's message, or what is wrong.
        reason: String,
    },
}
