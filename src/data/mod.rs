//! The data layer: where CIFAR-10 comes from (`--data`, `$BATCHRAMP_DATA`, the cache, a
//! download), how its binary format is read (`cifar`), a small generated stand-in
//! (`synthetic`), and the training sampler (`loader`).
//!
//! Owns the in-memory form of the data set ([`Cifar`], [`Dataset`]) and every error about data
//! files ([`DataError`]). It must never touch the model, the terminal UI or the run directory,
//! and must never extract archives to disk: archives are read as streams.

pub mod cifar;
pub mod fetch;
pub mod loader;
pub mod synthetic;

use std::fmt;
use std::path::{Path, PathBuf};

pub use cifar::{CLASS_NAMES, IMAGE_BYTES, RECORD_BYTES};
pub use fetch::{cache_root, fetch, fetch_archive, Fetched, Trust, ARCHIVE_NAME, OFFICIAL_URL};
pub use loader::{test_batches, Batch, Loader, LoaderCursor, Normalization};
pub use synthetic::{write_archive, write_binary_batches, SyntheticSpec};

/// Name of the folder the official archive unpacks to; `--data DIR` may point above it.
pub const BATCHES_DIR: &str = "cifar-10-batches-bin";

/// Everything that can go wrong finding, fetching or reading data. Each message is one line
/// naming the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A path given by the user (or found in the environment) does not exist.
    #[error("{path}: no such file or directory; {hint}")]
    NotFound {
        /// The missing path.
        path: PathBuf,
        /// What the user can do.
        hint: String,
    },
    /// A directory or archive lacks one of the CIFAR-10 batch files.
    #[error("{source_path}: {name} is missing; {hint}")]
    MissingFile {
        /// The directory or archive searched.
        source_path: PathBuf,
        /// The file that was expected.
        name: String,
        /// What the user can do.
        hint: String,
    },
    /// A file (or archive member) could not be read.
    #[error("cannot read {file}: {source}")]
    Io {
        /// The file, `archive:member` for members.
        file: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A batch file whose size is not a whole, non-zero number of records.
    #[error(
        "{file}: {size} bytes is not a whole, non-zero number of {RECORD_BYTES}-byte CIFAR-10 \
         records (truncated or not a CIFAR-10 binary batch); fetch the data again with \
         `batchramp data fetch`"
    )]
    BadSize {
        /// The file, `archive:member` for members.
        file: String,
        /// Its size in bytes.
        size: u64,
    },
    /// A record whose label byte is not a class index 0–9.
    #[error(
        "{file}: record {record} has label byte {label}, expected 0-9 (corrupt or not CIFAR-10); \
         fetch the data again with `batchramp data fetch`"
    )]
    BadLabel {
        /// The file, `archive:member` for members.
        file: String,
        /// Zero-based record index within that file.
        record: usize,
        /// The byte found.
        label: u8,
    },
    /// `batches.meta.txt` does not list ten class names.
    #[error("{file}: {message}; expected the ten class names one per line (or delete the file to use the standard names)")]
    BadMeta {
        /// The file, `archive:member` for members.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A `.tar.gz` that cannot be decompressed or unpacked.
    #[error(
        "{path}: not a readable .tar.gz archive ({message}); the file may be truncated or corrupt, \
         fetch it again with `batchramp data fetch`"
    )]
    Archive {
        /// The archive.
        path: PathBuf,
        /// The decoder's complaint.
        message: String,
    },
    /// A download failed (network, HTTP status, short body).
    #[error("downloading {url} failed: {message}; check the network or pass a local copy with `batchramp data fetch --from FILE`")]
    Download {
        /// The URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// A fetched archive whose SHA-256 or size does not match the known-good value for it.
    #[error("{path}: {what} is {actual}, expected {expected} for {name}; the copy is corrupt or truncated, fetch it again")]
    Checksum {
        /// The fetched file (or its source).
        path: String,
        /// "SHA-256" or "size".
        what: &'static str,
        /// The known-good archive it was compared with.
        name: &'static str,
        /// Expected value.
        expected: String,
        /// Value found.
        actual: String,
    },
    /// No cache directory could be determined for this user.
    #[error(
        "no cache directory for this user; pass --data PATH, set BATCHRAMP_DATA or BATCHRAMP_CACHE"
    )]
    NoCacheDir,
    /// A request the data layer cannot satisfy (e.g. too few records to write the batch files).
    #[error("{0}")]
    Invalid(String),
}

/// Where the data comes from, after `--data`, `$BATCHRAMP_DATA` and the cache were consulted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataSource {
    /// A directory holding `cifar-10-batches-bin/`, the batch files themselves, or the archive.
    Dir(PathBuf),
    /// The official `cifar-10-binary.tar.gz` (or a file in its layout), read as a stream.
    Archive(PathBuf),
    /// The small generated data set of [`synthetic`].
    Synthetic,
}

impl fmt::Display for DataSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataSource::Dir(p) | DataSource::Archive(p) => write!(f, "{}", p.display()),
            DataSource::Synthetic => f.write_str("synthetic"),
        }
    }
}

/// Images and labels of one split, in file order.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Dataset {
    /// `len() × 3072` bytes: per image the red, green and blue 32×32 planes, row-major (CHW).
    pub images: Vec<u8>,
    /// One class index (0–9) per image.
    pub labels: Vec<u8>,
}

impl Dataset {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The 3,072 CHW bytes of image `i`. Panics if `i >= len()` (a programming error).
    pub fn image(&self, i: usize) -> &[u8] {
        &self.images[i * IMAGE_BYTES..(i + 1) * IMAGE_BYTES]
    }

    /// The first `n` records (all of them if `n >= len()`). The record order of the official
    /// files and of the shared copy is already shuffled, so a prefix is a fair sample.
    pub fn subset(&self, n: usize) -> Dataset {
        let n = n.min(self.len());
        Dataset {
            images: self.images[..n * IMAGE_BYTES].to_vec(),
            labels: self.labels[..n].to_vec(),
        }
    }

    /// Images per class index 0–9.
    pub fn class_counts(&self) -> [usize; 10] {
        let mut counts = [0; 10];
        for &l in &self.labels {
            counts[usize::from(l).min(9)] += 1;
        }
        counts
    }
}

impl fmt::Debug for Dataset {
    // The derived form would print every pixel.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dataset").field("len", &self.len()).finish()
    }
}

/// The whole data set: training and test splits and the class names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cifar {
    /// Training split (data_batch_1..5 in order).
    pub train: Dataset,
    /// Test split (test_batch).
    pub test: Dataset,
    /// Class names by label index.
    pub classes: Vec<String>,
}

/// Decides where the data comes from: `cli` (the `--data` value: `synthetic` or a path), else
/// `$BATCHRAMP_DATA`, else the cache directory (`$BATCHRAMP_CACHE` or the user's cache dir),
/// else downloads the official archive into the cache with a progress bar.
pub fn resolve_source(cli: Option<&str>) -> Result<DataSource, DataError> {
    let env = std::env::var("BATCHRAMP_DATA").ok();
    resolve_with(cli, env.as_deref(), fetch::cache_root, |dir| {
        fetch::fetch(Some(dir), None, true)
    })
}

/// [`resolve_source`] with its environment passed in, so tests need neither env vars nor network.
fn resolve_with(
    cli: Option<&str>,
    env: Option<&str>,
    cache: impl FnOnce() -> Result<PathBuf, DataError>,
    download: impl FnOnce(&Path) -> Result<PathBuf, DataError>,
) -> Result<DataSource, DataError> {
    if let Some(value) = cli.filter(|v| !v.is_empty()) {
        return classify(value, "--data");
    }
    if let Some(value) = env.filter(|v| !v.is_empty()) {
        return classify(value, "BATCHRAMP_DATA");
    }
    let root = cache()?;
    let archive = root.join(ARCHIVE_NAME);
    if archive.is_file() {
        return Ok(DataSource::Archive(archive));
    }
    if root.join(BATCHES_DIR).is_dir() {
        return Ok(DataSource::Dir(root));
    }
    download(&root).map(DataSource::Archive)
}

/// Turns a `--data`-style value into a source; `origin` names where it came from for errors.
fn classify(value: &str, origin: &str) -> Result<DataSource, DataError> {
    if value == "synthetic" {
        return Ok(DataSource::Synthetic);
    }
    let path = PathBuf::from(value);
    if path.is_dir() {
        Ok(DataSource::Dir(path))
    } else if path.is_file() {
        if path.extension().is_some_and(|e| e == "bin") {
            return Err(DataError::Invalid(format!(
                "{origin} {value}: a single batch file cannot be read alone; pass the directory holding \
                 data_batch_1..5.bin and test_batch.bin"
            )));
        }
        Ok(DataSource::Archive(path))
    } else {
        Err(DataError::NotFound {
            path,
            hint: format!(
                "{origin} takes a directory with {BATCHES_DIR}/, the {ARCHIVE_NAME} archive, or \
                 `synthetic`; `batchramp data fetch` downloads the archive"
            ),
        })
    }
}

/// Reads (or generates) the data set described by `source`; `synth` sizes the synthetic set.
pub fn load(source: &DataSource, synth: &SyntheticSpec) -> Result<Cifar, DataError> {
    match source {
        DataSource::Dir(dir) => cifar::read_dir(dir),
        DataSource::Archive(path) => cifar::read_archive(path),
        DataSource::Synthetic => Ok(synthetic::generate(synth)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_cache() -> Result<PathBuf, DataError> {
        Err(DataError::NoCacheDir)
    }

    fn no_download(_: &Path) -> Result<PathBuf, DataError> {
        panic!("must not download")
    }

    #[test]
    fn cli_value_wins_over_env_and_synthetic_is_a_keyword() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_str().unwrap();
        let got = resolve_with(Some("synthetic"), Some(dir), no_cache, no_download).unwrap();
        assert_eq!(got, DataSource::Synthetic);
        let got = resolve_with(None, Some(dir), no_cache, no_download).unwrap();
        assert_eq!(got, DataSource::Dir(tmp.path().to_path_buf()));
        let file = tmp.path().join("x.tar.gz");
        std::fs::write(&file, b"").unwrap();
        let got = resolve_with(file.to_str(), None, no_cache, no_download).unwrap();
        assert_eq!(got, DataSource::Archive(file));
    }

    #[test]
    fn missing_path_and_lone_batch_file_are_errors_naming_the_value() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("nope");
        let err = resolve_with(missing.to_str(), None, no_cache, no_download).unwrap_err();
        assert!(matches!(err, DataError::NotFound { .. }), "{err}");
        assert!(err.to_string().contains("nope"), "{err}");
        let bin = tmp.path().join("data_batch_1.bin");
        std::fs::write(&bin, b"").unwrap();
        let err = resolve_with(bin.to_str(), None, no_cache, no_download).unwrap_err();
        assert!(err.to_string().contains("data_batch_1.bin"), "{err}");
    }

    #[test]
    fn cache_archive_then_cache_dir_then_download() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let cache = || Ok(root.clone());
        // Empty cache: the download is asked for, into the cache root.
        let got = resolve_with(None, None, cache, |dir| Ok(dir.join("downloaded"))).unwrap();
        assert_eq!(got, DataSource::Archive(root.join("downloaded")));
        std::fs::create_dir(root.join(BATCHES_DIR)).unwrap();
        let got = resolve_with(None, None, cache, no_download).unwrap();
        assert_eq!(got, DataSource::Dir(root.clone()));
        std::fs::write(root.join(ARCHIVE_NAME), b"").unwrap();
        let got = resolve_with(None, None, cache, no_download).unwrap();
        assert_eq!(got, DataSource::Archive(root.join(ARCHIVE_NAME)));
    }

    #[test]
    fn subset_takes_a_prefix_and_clamps() {
        let d = Dataset {
            images: (0..3 * IMAGE_BYTES)
                .map(|i| (i / IMAGE_BYTES) as u8)
                .collect(),
            labels: vec![4, 5, 6],
        };
        let s = d.subset(2);
        assert_eq!(s.labels, vec![4, 5]);
        assert_eq!(s.image(1)[0], 1);
        assert_eq!(d.subset(10), d);
        assert_eq!(format!("{d:?}"), "Dataset { len: 3 }");
    }
}
