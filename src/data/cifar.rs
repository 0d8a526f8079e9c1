//! The CIFAR-10 binary format: batch files in a directory, or streamed straight out of the
//! official `cifar-10-binary.tar.gz`.
//!
//! Owns the record layout and its validation. Must never write anything to disk (archives are
//! decompressed in memory, one member at a time) and never panic on a malformed file.
//!
//! Size policy: a batch file must hold a whole, non-zero number of 3,073-byte records. The count
//! is deliberately not pinned to 10,000, so subsets and generated data in the same format (see
//! `synthetic::write_binary_batches`) load too; a truncated download is caught by the archive's
//! gzip checksum and by `fetch`'s SHA-256 table instead.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use flate2::read::GzDecoder;

use super::{Cifar, DataError, Dataset, ARCHIVE_NAME, BATCHES_DIR};

/// Bytes per image: three 32×32 colour planes.
pub const IMAGE_BYTES: usize = 3 * 32 * 32;
/// Bytes per record: one label byte, then the image.
pub const RECORD_BYTES: usize = 1 + IMAGE_BYTES;
/// The training batch files, in the order their records are concatenated.
pub const TRAIN_FILES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];
/// The test batch file.
pub const TEST_FILE: &str = "test_batch.bin";
/// The class-name file (optional: the standard names are used when it is absent).
pub const META_FILE: &str = "batches.meta.txt";
/// The standard CIFAR-10 class names by label.
pub const CLASS_NAMES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

const FETCH_HINT: &str =
    "fetch the data again with `batchramp data fetch` (or pass --data synthetic)";

/// Reads the data set from `dir`: a directory holding `cifar-10-batches-bin/`, the batch files
/// themselves, or the archive `cifar-10-binary.tar.gz` (as written by `batchramp data fetch --to`).
pub fn read_dir(dir: &Path) -> Result<Cifar, DataError> {
    let nested = dir.join(BATCHES_DIR);
    let batches = if nested.is_dir() {
        nested
    } else if dir.join(TRAIN_FILES[0]).exists() || dir.join(TEST_FILE).exists() {
        dir.to_path_buf()
    } else if dir.join(ARCHIVE_NAME).is_file() {
        return read_archive(&dir.join(ARCHIVE_NAME));
    } else if !dir.is_dir() {
        return Err(DataError::NotFound {
            path: dir.to_path_buf(),
            hint: format!("pass a directory with {BATCHES_DIR}/ or the {ARCHIVE_NAME} archive"),
        });
    } else {
        return Err(DataError::MissingFile {
            source_path: dir.to_path_buf(),
            name: format!("{BATCHES_DIR}/ (or {}, or {ARCHIVE_NAME})", TRAIN_FILES[0]),
            hint: FETCH_HINT.to_string(),
        });
    };
    let mut slots = Slots::default();
    for (slot, name) in ALL_FILES.iter().enumerate() {
        let path = batches.join(name);
        let file = path.display().to_string();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(missing(&batches, name));
            }
            Err(source) => return Err(DataError::Io { file, source }),
        };
        slots.batches[slot] = Some(parse_batch(&file, &bytes)?);
    }
    let meta = batches.join(META_FILE);
    if meta.is_file() {
        let file = meta.display().to_string();
        let text = std::fs::read(&meta).map_err(|source| DataError::Io {
            file: file.clone(),
            source,
        })?;
        slots.classes = Some(parse_meta(&file, &text)?);
    }
    slots.finish(&batches)
}

/// Reads the data set straight out of a `.tar.gz` in the official layout (members may sit in
/// any folder; they are matched by file name). Nothing is extracted to disk.
pub fn read_archive(path: &Path) -> Result<Cifar, DataError> {
    let file = File::open(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => DataError::NotFound {
            path: path.to_path_buf(),
            hint: format!("pass the {ARCHIVE_NAME} archive or a directory; {FETCH_HINT}"),
        },
        _ => DataError::Io {
            file: path.display().to_string(),
            source,
        },
    })?;
    let corrupt = |e: std::io::Error| DataError::Archive {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    // 1 MiB buffer: the decoder asks for small reads; fewer syscalls matter at 170 MB.
    let gz = GzDecoder::new(BufReader::with_capacity(1 << 20, file));
    let mut archive = tar::Archive::new(gz);
    let mut slots = Slots::default();
    let mut buf = Vec::new();
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let member = entry.path().map_err(corrupt)?.into_owned();
        let Some(name) = member.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let label = format!("{}:{}", path.display(), member.display());
        let slot = ALL_FILES.iter().position(|f| *f == name);
        if slot.is_none() && name != META_FILE {
            continue;
        }
        let size = entry.size();
        if slot.is_some() && !size_ok(size) {
            return Err(DataError::BadSize { file: label, size });
        }
        buf.clear();
        buf.reserve(size as usize);
        entry.read_to_end(&mut buf).map_err(corrupt)?;
        match slot {
            Some(i) if slots.batches[i].is_none() => {
                slots.batches[i] = Some(parse_batch(&label, &buf)?)
            }
            Some(_) => {}
            None => slots.classes = Some(parse_meta(&label, &buf)?),
        }
    }
    // Read to the end of the gzip stream so its CRC and length trailer are checked.
    let mut rest = archive.into_inner();
    std::io::copy(&mut rest, &mut std::io::sink()).map_err(corrupt)?;
    slots.finish(path)
}

/// Training files then the test file: slot `i < 5` is `TRAIN_FILES[i]`, slot 5 is the test file.
const ALL_FILES: [&str; 6] = [
    TRAIN_FILES[0],
    TRAIN_FILES[1],
    TRAIN_FILES[2],
    TRAIN_FILES[3],
    TRAIN_FILES[4],
    TEST_FILE,
];

/// Batches as they are found, in any order, assembled once all are present.
#[derive(Default)]
struct Slots {
    batches: [Option<Dataset>; 6],
    classes: Option<Vec<String>>,
}

impl Slots {
    fn finish(self, source: &Path) -> Result<Cifar, DataError> {
        let [b1, b2, b3, b4, b5, test] = self.batches;
        let mut parts = Vec::with_capacity(5);
        for (name, part) in TRAIN_FILES.iter().zip([b1, b2, b3, b4, b5]) {
            parts.push(part.ok_or_else(|| missing(source, name))?);
        }
        let test = test.ok_or_else(|| missing(source, TEST_FILE))?;
        let total: usize = parts.iter().map(Dataset::len).sum();
        let mut train = Dataset {
            images: Vec::with_capacity(total * IMAGE_BYTES),
            labels: Vec::with_capacity(total),
        };
        for p in parts {
            train.images.extend_from_slice(&p.images);
            train.labels.extend_from_slice(&p.labels);
        }
        let classes = self
            .classes
            .unwrap_or_else(|| CLASS_NAMES.iter().map(|s| s.to_string()).collect());
        Ok(Cifar {
            train,
            test,
            classes,
        })
    }
}

fn missing(source: &Path, name: &str) -> DataError {
    DataError::MissingFile {
        source_path: source.to_path_buf(),
        name: name.to_string(),
        hint: format!("it is not a complete CIFAR-10 binary set; {FETCH_HINT}"),
    }
}

fn size_ok(size: u64) -> bool {
    size > 0 && size.is_multiple_of(RECORD_BYTES as u64)
}

/// Splits one batch file's bytes into labels and images, checking size and labels.
/// `file` names the file in errors.
pub fn parse_batch(file: &str, bytes: &[u8]) -> Result<Dataset, DataError> {
    if !size_ok(bytes.len() as u64) {
        return Err(DataError::BadSize {
            file: file.to_string(),
            size: bytes.len() as u64,
        });
    }
    let n = bytes.len() / RECORD_BYTES;
    let mut out = Dataset {
        images: Vec::with_capacity(n * IMAGE_BYTES),
        labels: Vec::with_capacity(n),
    };
    for (record, chunk) in bytes.chunks_exact(RECORD_BYTES).enumerate() {
        let label = chunk[0];
        if label > 9 {
            return Err(DataError::BadLabel {
                file: file.to_string(),
                record,
                label,
            });
        }
        out.labels.push(label);
        out.images.extend_from_slice(&chunk[1..]);
    }
    Ok(out)
}

/// Reads `batches.meta.txt`: the ten class names, one per line (blank lines ignored).
pub fn parse_meta(file: &str, bytes: &[u8]) -> Result<Vec<String>, DataError> {
    let bad = |message: String| DataError::BadMeta {
        file: file.to_string(),
        message,
    };
    let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8 text".to_string()))?;
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    if names.len() != 10 {
        return Err(bad(format!("{} class names found", names.len())));
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synthetic::{generate, write_archive, write_binary_batches, SyntheticSpec};
    use std::io::Write;

    fn small() -> Cifar {
        generate(&SyntheticSpec {
            train: 23,
            test: 7,
            seed: 3,
        })
    }

    #[test]
    fn directory_nested_flat_and_archive_give_identical_data() {
        let data = small();
        let tmp = tempfile::tempdir().unwrap();
        let nested = tmp.path().join("nested");
        write_binary_batches(&nested.join(BATCHES_DIR), &data).unwrap();
        let flat = tmp.path().join("flat");
        write_binary_batches(&flat, &data).unwrap();
        let archive = tmp.path().join("a.tar.gz");
        write_archive(&archive, &data).unwrap();
        let fetched = tmp.path().join("fetched");
        std::fs::create_dir(&fetched).unwrap();
        std::fs::copy(&archive, fetched.join(ARCHIVE_NAME)).unwrap();

        assert_eq!(read_dir(&nested).unwrap(), data);
        assert_eq!(read_dir(&flat).unwrap(), data);
        assert_eq!(read_archive(&archive).unwrap(), data);
        assert_eq!(read_dir(&fetched).unwrap(), data);
    }

    #[test]
    fn records_split_into_label_and_chw_image() {
        let mut bytes = vec![7u8];
        bytes.extend((0..IMAGE_BYTES).map(|i| (i % 251) as u8));
        bytes.push(2);
        bytes.extend(std::iter::repeat_n(9u8, IMAGE_BYTES));
        let d = parse_batch("x", &bytes).unwrap();
        assert_eq!(d.labels, vec![7, 2]);
        assert_eq!(d.image(0)[1024], (1024 % 251) as u8);
        assert!(d.image(1).iter().all(|&b| b == 9));
    }

    #[test]
    fn truncated_wrong_size_and_empty_files_are_rejected_with_the_file_name() {
        let data = small();
        let tmp = tempfile::tempdir().unwrap();
        write_binary_batches(tmp.path(), &data).unwrap();
        let f = tmp.path().join("data_batch_3.bin");
        let len = std::fs::metadata(&f).unwrap().len();
        let file = std::fs::OpenOptions::new().write(true).open(&f).unwrap();
        file.set_len(len - 100).unwrap();
        let err = read_dir(tmp.path()).unwrap_err();
        assert!(
            matches!(err, DataError::BadSize { size, .. } if size == len - 100),
            "{err}"
        );
        assert!(err.to_string().contains("data_batch_3.bin"), "{err}");
        assert!(err.to_string().contains("batchramp data fetch"), "{err}");
        file.set_len(0).unwrap();
        assert!(matches!(
            read_dir(tmp.path()).unwrap_err(),
            DataError::BadSize { size: 0, .. }
        ));
        file.set_len(len + 1).unwrap();
        assert!(matches!(
            read_dir(tmp.path()).unwrap_err(),
            DataError::BadSize { .. }
        ));
    }

    #[test]
    fn bad_label_reports_file_and_record_index() {
        let data = small();
        let tmp = tempfile::tempdir().unwrap();
        write_binary_batches(tmp.path(), &data).unwrap();
        let f = tmp.path().join(TEST_FILE);
        let mut bytes = std::fs::read(&f).unwrap();
        bytes[3 * RECORD_BYTES] = 10;
        std::fs::write(&f, &bytes).unwrap();
        let err = read_dir(tmp.path()).unwrap_err();
        assert!(
            matches!(&err, DataError::BadLabel { record: 3, label: 10, file } if file.ends_with(TEST_FILE)),
            "{err}"
        );
        assert!(err.to_string().contains("record 3"), "{err}");
    }

    #[test]
    fn missing_batch_file_and_empty_directory_are_named() {
        let data = small();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(BATCHES_DIR);
        write_binary_batches(&dir, &data).unwrap();
        std::fs::remove_file(dir.join("data_batch_4.bin")).unwrap();
        let err = read_dir(tmp.path()).unwrap_err();
        assert!(
            matches!(&err, DataError::MissingFile { name, .. } if name == "data_batch_4.bin"),
            "{err}"
        );
        let empty = tempfile::tempdir().unwrap();
        let err = read_dir(empty.path()).unwrap_err();
        assert!(matches!(err, DataError::MissingFile { .. }), "{err}");
        assert!(err.to_string().contains(BATCHES_DIR), "{err}");
    }

    #[test]
    fn meta_file_gives_class_names_and_bad_meta_is_rejected() {
        let mut data = small();
        data.classes = (0..10).map(|i| format!("c{i}")).collect();
        let tmp = tempfile::tempdir().unwrap();
        write_binary_batches(tmp.path(), &data).unwrap();
        assert_eq!(read_dir(tmp.path()).unwrap().classes, data.classes);
        std::fs::write(tmp.path().join(META_FILE), "a\nb\n\n").unwrap();
        let err = read_dir(tmp.path()).unwrap_err();
        assert!(matches!(err, DataError::BadMeta { .. }), "{err}");
        std::fs::remove_file(tmp.path().join(META_FILE)).unwrap();
        assert_eq!(
            read_dir(tmp.path()).unwrap().classes,
            CLASS_NAMES.map(String::from).to_vec()
        );
    }

    #[test]
    fn corrupt_gzip_truncated_archive_and_not_gzip_are_archive_errors() {
        let data = small();
        let tmp = tempfile::tempdir().unwrap();
        let archive = tmp.path().join("a.tar.gz");
        write_archive(&archive, &data).unwrap();
        let bytes = std::fs::read(&archive).unwrap();

        let cut = tmp.path().join("cut.tar.gz");
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let err = read_archive(&cut).unwrap_err();
        assert!(matches!(err, DataError::Archive { .. }), "{err}");
        assert!(err.to_string().contains("cut.tar.gz"), "{err}");

        // Flip bytes in the middle of the deflate stream.
        let mut flipped = bytes.clone();
        for b in &mut flipped[bytes.len() / 2..bytes.len() / 2 + 64] {
            *b ^= 0x5a;
        }
        let bad = tmp.path().join("bad.tar.gz");
        std::fs::write(&bad, &flipped).unwrap();
        let err = read_archive(&bad).unwrap_err();
        assert!(
            matches!(err, DataError::Archive { .. } | DataError::BadLabel { .. }),
            "{err}"
        );

        let text = tmp.path().join("text.tar.gz");
        std::fs::write(&text, b"<html>not found</html>").unwrap();
        assert!(matches!(
            read_archive(&text).unwrap_err(),
            DataError::Archive { .. }
        ));
        let none = tmp.path().join("none.tar.gz");
        assert!(matches!(
            read_archive(&none).unwrap_err(),
            DataError::NotFound { .. }
        ));
    }

    #[test]
    fn tar_without_the_batches_names_the_first_missing_file() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("other.tar.gz");
        let gz = flate2::write::GzEncoder::new(
            File::create(&path).unwrap(),
            flate2::Compression::fast(),
        );
        let mut tar = tar::Builder::new(gz);
        let mut header = tar::Header::new_gnu();
        header.set_size(5);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, "readme.txt", &b"hello"[..])
            .unwrap();
        tar.into_inner().unwrap().finish().unwrap().flush().unwrap();
        let err = read_archive(&path).unwrap_err();
        assert!(
            matches!(&err, DataError::MissingFile { name, .. } if name == TRAIN_FILES[0]),
            "{err}"
        );
    }

    #[test]
    fn wrong_sized_member_in_archive_is_named_with_the_archive() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("odd.tar.gz");
        let gz = flate2::write::GzEncoder::new(
            File::create(&path).unwrap(),
            flate2::Compression::fast(),
        );
        let mut tar = tar::Builder::new(gz);
        let mut header = tar::Header::new_gnu();
        header.set_size(100);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(
            &mut header,
            "cifar-10-batches-bin/test_batch.bin",
            &[0u8; 100][..],
        )
        .unwrap();
        tar.into_inner().unwrap().finish().unwrap();
        let err = read_archive(&path).unwrap_err();
        assert!(matches!(err, DataError::BadSize { size: 100, .. }), "{err}");
        assert!(
            err.to_string()
                .contains("odd.tar.gz:cifar-10-batches-bin/test_batch.bin"),
            "{err}"
        );
    }

    /// Opt-in: reads the real data set named by BATCHRAMP_DATA (e.g. the shared copy).
    #[test]
    fn real_data_set_when_batchramp_data_is_set() {
        let Ok(path) = std::env::var("BATCHRAMP_DATA") else {
            eprintln!("note: BATCHRAMP_DATA not set; skipping the real CIFAR-10 read test");
            return;
        };
        let started = std::time::Instant::now();
        let source = crate::data::resolve_source(Some(&path)).unwrap();
        let data = crate::data::load(&source, &SyntheticSpec::default()).unwrap();
        eprintln!("read {path} in {:.2?}", started.elapsed());
        assert_eq!(data.train.len(), 50_000);
        assert_eq!(data.test.len(), 10_000);
        assert_eq!(data.classes, CLASS_NAMES.map(String::from).to_vec());
        assert_eq!(data.train.class_counts(), [5_000; 10]);
        assert_eq!(data.test.class_counts(), [1_000; 10]);
        // An archive of a known size must carry that archive's known SHA-256.
        let file = Path::new(&path);
        if let Some(k) = crate::data::fetch::KNOWN_ARCHIVES
            .iter()
            .find(|k| file.is_file() && std::fs::metadata(file).unwrap().len() == k.size)
        {
            assert_eq!(
                crate::data::fetch::hash_file(file).unwrap().1,
                k.sha256,
                "{}",
                k.name
            );
        }
    }
}
