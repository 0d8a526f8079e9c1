//! Getting the CIFAR-10 archive onto disk: download over HTTPS (or copy a local file), check it,
//! and move it into place atomically.
//!
//! Owns the cache location and the table of known-good archives. Must never leave a partial
//! file under the final name, and never extract the archive (readers stream it).
//!
//! Trust policy: an archive whose SHA-256 is in [`KNOWN_ARCHIVES`] is accepted as is. One whose
//! size matches a known archive but whose hash does not, or one downloaded from the official
//! URL with the wrong hash, is rejected as corrupt. Any other archive (a local copy or mirror we
//! have no checksum for) is accepted only after it has been read completely as CIFAR-10 (every
//! batch present, sized right, labels valid, gzip CRC good), with a notice giving its SHA-256.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::DataError;

/// File name of the archive, as served officially and as stored in the cache.
pub const ARCHIVE_NAME: &str = "cifar-10-binary.tar.gz";
/// The official download location.
pub const OFFICIAL_URL: &str = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";

/// A known-good archive: its name in messages, size and SHA-256 (lower-case hex).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownArchive {
    /// What it is, for messages.
    pub name: &'static str,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256, lower-case hex.
    pub sha256: &'static str,
}

/// Archives whose checksums are known. The official one's size and SHA-256 are those recorded
/// by TensorFlow Datasets (`url_checksums/cifar10.txt`); the shared copy's come from
/// `shared/data/cifar-10-binary.tar.gz.sha256`, which is not in this repository.
pub const KNOWN_ARCHIVES: [KnownArchive; 2] = [
    KnownArchive {
        name: "the official CIFAR-10 binary archive",
        size: 170_052_171,
        sha256: "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
    },
    KnownArchive {
        name: "the project's shared CIFAR-10 copy (JPEG round-trip, shuffled)",
        size: 173_803_022,
        sha256: "497dca3a04158b6137f2e652d15e87b5b7edd142d19532bc238fdc9eab16a968",
    },
];

/// Why a fetched archive was accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// Its SHA-256 matched this known-good archive.
    Known(KnownArchive),
    /// Unknown checksum, but it read completely as CIFAR-10 with this many train/test images.
    Structure {
        /// Training images found.
        train: usize,
        /// Test images found.
        test: usize,
    },
}

/// The result of a fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// Where the archive now is.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its SHA-256, lower-case hex.
    pub sha256: String,
    /// Why it was accepted.
    pub trust: Trust,
    /// True when a good archive was already in place and nothing was copied.
    pub already_present: bool,
}

impl Fetched {
    /// One line for the user: where, how big, and why it is trusted.
    pub fn describe(&self) -> String {
        let what = if self.already_present {
            "CIFAR-10 is already in"
        } else {
            "CIFAR-10 saved to"
        };
        let why = match &self.trust {
            Trust::Known(k) => format!("checksum matches {}", k.name),
            Trust::Structure { train, test } => format!(
                "unknown checksum {}, accepted because it reads as CIFAR-10: {} training and {} test images",
                self.sha256,
                crate::format::count(*train as u64),
                crate::format::count(*test as u64)
            ),
        };
        format!(
            "{what} {} ({}; {why})",
            self.path.display(),
            crate::format::bytes(self.bytes)
        )
    }

    /// How `train` will find the archive: by itself when it is in the cache, else by name.
    pub fn how_train_finds_it(&self) -> String {
        let in_cache = cache_root().ok().is_some_and(|root| {
            self.path
                .parent()
                .and_then(|p| std::fs::canonicalize(p).ok())
                == std::fs::canonicalize(root).ok()
        });
        if in_cache {
            "`batchramp train` will now find it by itself (no --data needed)".into()
        } else {
            format!(
                "this is not the cache `train` looks in: pass --data {p} or set BATCHRAMP_DATA={p}",
                p = self.path.display()
            )
        }
    }
}

/// The cache root: `$BATCHRAMP_CACHE` if set, else the user's cache directory for batchramp.
pub fn cache_root() -> Result<PathBuf, DataError> {
    if let Some(dir) = std::env::var_os("BATCHRAMP_CACHE").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    directories::ProjectDirs::from("", "", "batchramp")
        .map(|d| d.cache_dir().to_path_buf())
        .ok_or(DataError::NoCacheDir)
}

/// Fetches the archive into `to` (default: the cache root) from `from` (a URL or a local file;
/// default: the official URL) and returns its path. Prints a progress bar on stderr when
/// `progress` is set, and a one-line notice when the archive was trusted by structure only.
pub fn fetch(to: Option<&Path>, from: Option<&str>, progress: bool) -> Result<PathBuf, DataError> {
    let fetched = fetch_archive(to, from, progress)?;
    if progress || matches!(fetched.trust, Trust::Structure { .. }) {
        eprintln!("{}", fetched.describe());
    }
    Ok(fetched.path)
}

/// [`fetch`] without printing anything but the progress bar; says how the archive was verified.
pub fn fetch_archive(
    to: Option<&Path>,
    from: Option<&str>,
    progress: bool,
) -> Result<Fetched, DataError> {
    let dir = match to {
        Some(d) => d.to_path_buf(),
        None => cache_root()?,
    };
    std::fs::create_dir_all(&dir).map_err(|source| DataError::Io {
        file: dir.display().to_string(),
        source,
    })?;
    let dest = dir.join(ARCHIVE_NAME);
    if from.is_none() && dest.is_file() {
        // Keep a good copy rather than downloading 170 MB again; a bad one is replaced.
        if let Ok((bytes, sha256)) = hash_file(&dest) {
            if let Some(k) = known_by_hash(&sha256) {
                return Ok(Fetched {
                    path: dest,
                    bytes,
                    sha256,
                    trust: Trust::Known(k),
                    already_present: true,
                });
            }
        }
    }
    let from = from.unwrap_or(OFFICIAL_URL);
    let mut partial = Partial::create(&dir)?;
    let (bytes, sha256) = if is_url(from) {
        download(from, &mut partial, progress)?
    } else {
        copy_local(Path::new(from), &mut partial, progress)?
    };
    let trust = judge(from, &partial.path, bytes, &sha256)?;
    partial.persist(&dest)?;
    Ok(Fetched {
        path: dest,
        bytes,
        sha256,
        trust,
        already_present: false,
    })
}

fn is_url(s: &str) -> bool {
    s.starts_with("https://") || s.starts_with("http://")
}

fn known_by_hash(sha256: &str) -> Option<KnownArchive> {
    KNOWN_ARCHIVES.iter().copied().find(|k| k.sha256 == sha256)
}

/// Applies the trust policy of the module comment to a fetched file.
fn judge(from: &str, file: &Path, bytes: u64, sha256: &str) -> Result<Trust, DataError> {
    if let Some(k) = known_by_hash(sha256) {
        return Ok(Trust::Known(k));
    }
    let official = KNOWN_ARCHIVES[0];
    let expected = if from == OFFICIAL_URL {
        Some(official)
    } else {
        KNOWN_ARCHIVES.iter().copied().find(|k| k.size == bytes)
    };
    if let Some(k) = expected {
        let (what, expected, actual) = if k.size != bytes {
            ("size", k.size.to_string(), bytes.to_string())
        } else {
            ("SHA-256", k.sha256.to_string(), sha256.to_string())
        };
        return Err(DataError::Checksum {
            path: from.to_string(),
            what,
            name: k.name,
            expected,
            actual,
        });
    }
    let data = super::cifar::read_archive(file).map_err(|e| retarget(e, file, from))?;
    Ok(Trust::Structure {
        train: data.train.len(),
        test: data.test.len(),
    })
}

/// Errors about the temporary file should name what the user passed.
fn retarget(e: DataError, tmp: &Path, from: &str) -> DataError {
    let tmp_name = tmp.display().to_string();
    match e {
        DataError::Archive { message, .. } => DataError::Archive {
            path: PathBuf::from(from),
            message,
        },
        DataError::MissingFile { name, hint, .. } => DataError::MissingFile {
            source_path: PathBuf::from(from),
            name,
            hint,
        },
        DataError::BadSize { file, size } => DataError::BadSize {
            file: file.replacen(&tmp_name, from, 1),
            size,
        },
        DataError::BadLabel {
            file,
            record,
            label,
        } => DataError::BadLabel {
            file: file.replacen(&tmp_name, from, 1),
            record,
            label,
        },
        DataError::BadMeta { file, message } => DataError::BadMeta {
            file: file.replacen(&tmp_name, from, 1),
            message,
        },
        other => other,
    }
}

fn bar(total: Option<u64>, progress: bool, what: &str) -> indicatif::ProgressBar {
    if !progress {
        return indicatif::ProgressBar::hidden();
    }
    let bar = match total {
        Some(n) => indicatif::ProgressBar::new(n),
        None => indicatif::ProgressBar::no_length(),
    };
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    let style = indicatif::ProgressStyle::with_template(
        "{msg} {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(what.to_string());
    bar
}

fn download(url: &str, out: &mut Partial, progress: bool) -> Result<(u64, String), DataError> {
    let fail = |message: String| DataError::Download {
        url: url.to_string(),
        message,
    };
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(30))
        .timeout_read(Duration::from_secs(60))
        .build();
    let response = agent.get(url).call().map_err(|e| match e {
        ureq::Error::Status(code, r) => fail(format!("HTTP {code} {}", r.status_text())),
        // Transport's own Display repeats the URL, which the message already names.
        ureq::Error::Transport(t) => {
            let mut msg = t.kind().to_string();
            if let Some(m) = t.message() {
                msg.push_str(&format!(": {m}"));
            }
            if let Some(source) = std::error::Error::source(&t) {
                msg.push_str(&format!(": {source}"));
            }
            fail(msg)
        }
    })?;
    let expected: Option<u64> = response
        .header("Content-Length")
        .and_then(|v| v.parse().ok());
    let bar = bar(expected, progress, "downloading");
    let mut reader = bar.wrap_read(response.into_reader());
    let (bytes, sha) = copy_hashing(&mut reader, out).map_err(|e| match e {
        CopyError::Read(e) => fail(e.to_string()),
        CopyError::Write(source) => DataError::Io {
            file: out.path.display().to_string(),
            source,
        },
    })?;
    bar.finish_and_clear();
    if let Some(n) = expected.filter(|&n| n != bytes) {
        return Err(fail(format!(
            "got {bytes} of {n} bytes (connection closed early)"
        )));
    }
    Ok((bytes, sha))
}

fn copy_local(src: &Path, out: &mut Partial, progress: bool) -> Result<(u64, String), DataError> {
    let file = File::open(src).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => DataError::NotFound {
            path: src.to_path_buf(),
            hint: format!("--from takes an https:// URL or a local {ARCHIVE_NAME}"),
        },
        _ => DataError::Io {
            file: src.display().to_string(),
            source,
        },
    })?;
    let total = file.metadata().ok().map(|m| m.len());
    let bar = bar(total, progress, "copying");
    let mut reader = bar.wrap_read(file);
    let result = copy_hashing(&mut reader, out).map_err(|e| match e {
        CopyError::Read(source) => DataError::Io {
            file: src.display().to_string(),
            source,
        },
        CopyError::Write(source) => DataError::Io {
            file: out.path.display().to_string(),
            source,
        },
    });
    bar.finish_and_clear();
    result
}

enum CopyError {
    Read(std::io::Error),
    Write(std::io::Error),
}

/// Copies `reader` into the partial file while hashing; returns bytes and hex SHA-256.
fn copy_hashing(reader: &mut impl Read, out: &mut Partial) -> Result<(u64, String), CopyError> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        hasher.update(&buf[..n]);
        out.file.write_all(&buf[..n]).map_err(CopyError::Write)?;
        total += n as u64;
    }
    Ok((total, hex(&hasher.finalize())))
}

/// Size and SHA-256 of a file on disk.
pub fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let bytes = std::io::copy(&mut file, &mut hasher)?;
    Ok((bytes, hex(&hasher.finalize())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A temporary file in the target directory, removed on drop unless persisted.
struct Partial {
    path: PathBuf,
    file: File,
    kept: bool,
}

impl Partial {
    fn create(dir: &Path) -> Result<Partial, DataError> {
        let path = dir.join(format!(".{ARCHIVE_NAME}.partial-{}", std::process::id()));
        let file = File::create(&path).map_err(|source| DataError::Io {
            file: path.display().to_string(),
            source,
        })?;
        Ok(Partial {
            path,
            file,
            kept: false,
        })
    }

    /// fsyncs the data, renames it to `dest` (atomic on one file system) and syncs the directory.
    fn persist(mut self, dest: &Path) -> Result<(), DataError> {
        let io = |file: &Path| {
            let file = file.display().to_string();
            move |source| DataError::Io { file, source }
        };
        self.file.flush().map_err(io(&self.path))?;
        self.file.sync_all().map_err(io(&self.path))?;
        std::fs::rename(&self.path, dest).map_err(io(dest))?;
        self.kept = true;
        if let Some(dir) = dest.parent() {
            // Makes the rename itself durable; not possible (nor needed) on every platform.
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synthetic::{generate, write_archive, SyntheticSpec};
    use crate::data::{load, DataSource};

    fn archive(dir: &Path) -> PathBuf {
        let data = generate(&SyntheticSpec {
            train: 20,
            test: 5,
            seed: 11,
        });
        let path = dir.join("src.tar.gz");
        write_archive(&path, &data).unwrap();
        path
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("partial"))
            .collect()
    }

    #[test]
    fn local_archive_with_unknown_checksum_is_accepted_by_structure() {
        let tmp = tempfile::tempdir().unwrap();
        let src = archive(tmp.path());
        let to = tmp.path().join("cache");
        let got = fetch_archive(Some(&to), src.to_str(), false).unwrap();
        assert_eq!(got.path, to.join(ARCHIVE_NAME));
        assert_eq!(got.trust, Trust::Structure { train: 20, test: 5 });
        assert_eq!(
            std::fs::read(&got.path).unwrap(),
            std::fs::read(&src).unwrap()
        );
        assert_eq!(
            hash_file(&got.path).unwrap(),
            (got.bytes, got.sha256.clone())
        );
        assert!(got.describe().contains(&got.sha256));
        assert!(leftovers(&to).is_empty());
        let data = load(&DataSource::Dir(to.clone()), &SyntheticSpec::default()).unwrap();
        assert_eq!(data.train.len(), 20);
    }

    #[test]
    fn broken_local_file_is_rejected_and_leaves_nothing_behind() {
        let tmp = tempfile::tempdir().unwrap();
        let src = archive(tmp.path());
        let bytes = std::fs::read(&src).unwrap();
        let cut = tmp.path().join("cut.tar.gz");
        std::fs::write(&cut, &bytes[..bytes.len() - 40]).unwrap();
        let to = tmp.path().join("cache");
        let err = fetch_archive(Some(&to), cut.to_str(), false).unwrap_err();
        assert!(matches!(err, DataError::Archive { .. }), "{err}");
        assert!(err.to_string().contains("cut.tar.gz"), "{err}");
        assert!(!to.join(ARCHIVE_NAME).exists());
        assert!(leftovers(&to).is_empty());

        let missing = tmp.path().join("missing.tar.gz");
        let err = fetch_archive(Some(&to), missing.to_str(), false).unwrap_err();
        assert!(matches!(err, DataError::NotFound { .. }), "{err}");
        assert!(leftovers(&to).is_empty());
    }

    #[test]
    fn size_of_a_known_archive_with_another_hash_is_a_checksum_error() {
        let tmp = tempfile::tempdir().unwrap();
        let err = judge("x.tar.gz", tmp.path(), KNOWN_ARCHIVES[1].size, "00").unwrap_err();
        assert!(
            matches!(
                err,
                DataError::Checksum {
                    what: "SHA-256",
                    ..
                }
            ),
            "{err}"
        );
        let err = judge(OFFICIAL_URL, tmp.path(), 10, "00").unwrap_err();
        assert!(
            matches!(err, DataError::Checksum { what: "size", .. }),
            "{err}"
        );
        let k = judge("x", tmp.path(), 1, KNOWN_ARCHIVES[0].sha256).unwrap();
        assert_eq!(k, Trust::Known(KNOWN_ARCHIVES[0]));
    }

    /// Serves `body` once over plain HTTP on loopback, announcing `length` bytes (or a 404).
    fn serve_once(body: Vec<u8>, length: usize, status: &'static str) -> String {
        use std::io::{BufRead, BufReader};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 2 {
                line.clear();
            }
            let mut stream = stream;
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        });
        format!("http://{addr}/{ARCHIVE_NAME}")
    }

    #[test]
    fn download_over_loopback_http_is_checked_like_a_copy() {
        let tmp = tempfile::tempdir().unwrap();
        let bytes = std::fs::read(archive(tmp.path())).unwrap();
        let to = tmp.path().join("cache");

        let url = serve_once(bytes.clone(), bytes.len(), "200 OK");
        let got = fetch_archive(Some(&to), Some(&url), false).unwrap();
        assert_eq!(got.trust, Trust::Structure { train: 20, test: 5 });
        assert_eq!(std::fs::read(&got.path).unwrap(), bytes);

        // The connection closes before the announced length: an error, and the old copy stays.
        let url = serve_once(bytes[..1000].to_vec(), bytes.len(), "200 OK");
        let err = fetch_archive(Some(&to), Some(&url), false).unwrap_err();
        assert!(matches!(err, DataError::Download { .. }), "{err}");
        assert_eq!(std::fs::read(to.join(ARCHIVE_NAME)).unwrap(), bytes);
        assert!(leftovers(&to).is_empty());

        let url = serve_once(Vec::new(), 0, "404 Not Found");
        let err = fetch_archive(Some(&to), Some(&url), false).unwrap_err();
        assert!(err.to_string().contains("HTTP 404"), "{err}");
    }

    #[test]
    fn hashes_are_lower_case_hex_of_the_right_length() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("abc");
        std::fs::write(&f, b"abc").unwrap();
        let (n, h) = hash_file(&f).unwrap();
        assert_eq!(n, 3);
        assert_eq!(
            h,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        for k in KNOWN_ARCHIVES {
            assert_eq!(k.sha256.len(), 64);
            assert!(k
                .sha256
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        }
    }
}
