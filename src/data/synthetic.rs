//! A small generated data set in CIFAR-10's shape (32×32 RGB, ten classes), for tests, demos
//! and machines without the real data, plus writers for the official binary layout so tests
//! anywhere in the crate can make small data files.
//!
//! Owns the generator and the writers. Generation must stay a pure function of the spec (same
//! seed → same bytes on every machine) and must never read or download anything.
//!
//! Each class is a colour/pattern template: classes come in pairs sharing a background hue
//! (so colour alone gives at most five-way information), and the two classes of a pair have
//! orthogonal stripes (each pair its own angle and period). Every image jitters the colour, places the striped patch at a random
//! position and size, draws the stripe contrast at random (some images are nearly blank and so
//! genuinely ambiguous) and adds pixel noise. A small ResNet gets well above chance within a
//! couple of epochs, but not 100%.

use std::f32::consts::PI;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::cifar::{CLASS_NAMES, IMAGE_BYTES, META_FILE, RECORD_BYTES, TEST_FILE, TRAIN_FILES};
use super::{Cifar, DataError, Dataset, BATCHES_DIR};

/// Size and seed of the generated set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SyntheticSpec {
    /// Training images.
    pub train: usize,
    /// Test images.
    pub test: usize,
    /// Seed; the same seed always gives the same bytes.
    pub seed: u64,
}

impl Default for SyntheticSpec {
    fn default() -> Self {
        SyntheticSpec {
            train: 2000,
            test: 500,
            seed: 0,
        }
    }
}

/// Background hues, one per pair of classes (RGB).
const HUES: [[f32; 3]; 5] = [
    [90.0, 120.0, 200.0],
    [110.0, 170.0, 90.0],
    [200.0, 110.0, 90.0],
    [170.0, 160.0, 80.0],
    [130.0, 100.0, 150.0],
];
const COLOUR_JITTER: f32 = 45.0;
const STRIPE_AMPLITUDE: f32 = 60.0;
/// Standard deviation of the per-pixel noise, in pixel units.
const NOISE_SIGMA: f32 = 22.0;

/// Generates the training and test splits described by `spec`, with the standard class names.
pub fn generate(spec: &SyntheticSpec) -> Cifar {
    Cifar {
        train: generate_split(spec.seed, 0, spec.train),
        test: generate_split(spec.seed, 1, spec.test),
        classes: CLASS_NAMES.iter().map(|s| s.to_string()).collect(),
    }
}

/// One split: balanced labels in a seeded order, each image drawn from its class template.
fn generate_split(seed: u64, split: u64, n: usize) -> Dataset {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&split.to_le_bytes());
    key[16..24].copy_from_slice(b"synthset");
    let mut rng = ChaCha8Rng::from_seed(key);
    let mut labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    labels.shuffle(&mut rng);
    let mut images = vec![0u8; n * IMAGE_BYTES];
    for (image, &label) in images.chunks_exact_mut(IMAGE_BYTES).zip(&labels) {
        draw(image, label, &mut rng);
    }
    Dataset { images, labels }
}

/// Draws one image of class `label` into `out` (CHW bytes).
fn draw(out: &mut [u8], label: u8, rng: &mut ChaCha8Rng) {
    let k = usize::from(label);
    let hue = HUES[k / 2];
    let bg: [f32; 3] =
        std::array::from_fn(|c| hue[c] + rng.gen_range(-COLOUR_JITTER..COLOUR_JITTER));
    // The two classes of a hue have orthogonal stripes; hues differ in angle and period too.
    let angle = (k % 2) as f32 * PI / 2.0 + (k / 2) as f32 * PI / 5.0;
    let (dir_x, dir_y) = (angle.cos(), angle.sin());
    let period = 4.0 + ((k / 2) % 3) as f32 * 1.5;
    let phase = rng.gen_range(0.0..2.0 * PI);
    let contrast = STRIPE_AMPLITUDE * rng.gen_range(0.1f32..1.0);
    let size = rng.gen_range(14..=26usize);
    let (x0, y0) = (rng.gen_range(0..=32 - size), rng.gen_range(0..=32 - size));
    for y in 0..32 {
        for x in 0..32 {
            let inside = (x0..x0 + size).contains(&x) && (y0..y0 + size).contains(&y);
            let stripe = if inside {
                let u = x as f32 * dir_x + y as f32 * dir_y;
                contrast * (2.0 * PI * u / period + phase).sin()
            } else {
                0.0
            };
            for c in 0..3 {
                let v = bg[c] + stripe + NOISE_SIGMA * approx_normal(rng);
                out[c * 1024 + y * 32 + x] = v.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
}

/// A cheap unit-variance, roughly normal draw: the centred sum of four uniform bytes
/// (Irwin–Hall). Hand-written because a proper normal per pixel costs several times more and
/// the shape of the noise does not matter here.
fn approx_normal(rng: &mut ChaCha8Rng) -> f32 {
    let w: u32 = rng.gen();
    let sum: u32 = w.to_le_bytes().iter().map(|&b| u32::from(b)).sum();
    // Four uniform bytes: mean 510, variance 4 × (256² − 1) / 12.
    (sum as f32 - 510.0) / 147.8
}

/// Writes `data` in the official binary layout into `dir` (created if needed):
/// `data_batch_1..5.bin` (the training split cut into five contiguous parts),
/// `test_batch.bin` and `batches.meta.txt`. Needs at least 5 training and 1 test image,
/// since every batch file must hold a record.
pub fn write_binary_batches(dir: &Path, data: &Cifar) -> Result<(), DataError> {
    check_writable(data)?;
    std::fs::create_dir_all(dir).map_err(|source| DataError::Io {
        file: dir.display().to_string(),
        source,
    })?;
    for (name, bytes) in files(data) {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(|source| DataError::Io {
            file: path.display().to_string(),
            source,
        })?;
    }
    Ok(())
}

/// Writes `data` as a gzip-compressed tar in the layout of the official
/// `cifar-10-binary.tar.gz` (members under `cifar-10-batches-bin/`). Same limits as
/// [`write_binary_batches`].
pub fn write_archive(path: &Path, data: &Cifar) -> Result<(), DataError> {
    check_writable(data)?;
    let io = |source| DataError::Io {
        file: path.display().to_string(),
        source,
    };
    let file = File::create(path).map_err(io)?;
    let gz = flate2::write::GzEncoder::new(BufWriter::new(file), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (name, bytes) in files(data) {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(
            &mut header,
            format!("{BATCHES_DIR}/{name}"),
            bytes.as_slice(),
        )
        .map_err(io)?;
    }
    let mut out = tar.into_inner().map_err(io)?.finish().map_err(io)?;
    out.flush().map_err(io)?;
    Ok(())
}

fn check_writable(data: &Cifar) -> Result<(), DataError> {
    if data.train.len() < 5 || data.test.is_empty() {
        return Err(DataError::Invalid(format!(
            "cannot write CIFAR-10 batch files for {} training and {} test images: need at least 5 and 1",
            data.train.len(),
            data.test.len()
        )));
    }
    Ok(())
}

/// The files of the binary layout, by name, with their contents.
fn files(data: &Cifar) -> Vec<(&'static str, Vec<u8>)> {
    let n = data.train.len();
    let mut out = Vec::with_capacity(7);
    let mut start = 0;
    for (i, name) in TRAIN_FILES.iter().enumerate() {
        let count = n / 5 + usize::from(i < n % 5);
        out.push((*name, records(&data.train, start..start + count)));
        start += count;
    }
    out.push((TEST_FILE, records(&data.test, 0..data.test.len())));
    let mut meta = data.classes.join("\n");
    meta.push_str("\n\n");
    out.push((META_FILE, meta.into_bytes()));
    out
}

fn records(d: &Dataset, range: std::ops::Range<usize>) -> Vec<u8> {
    let mut out = Vec::with_capacity(range.len() * RECORD_BYTES);
    for i in range {
        out.push(d.labels[i]);
        out.extend_from_slice(d.image(i));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let spec = SyntheticSpec {
            train: 40,
            test: 10,
            seed: 7,
        };
        let a = generate(&spec);
        assert_eq!(a, generate(&spec));
        let b = generate(&SyntheticSpec { seed: 8, ..spec });
        assert_ne!(a.train.images, b.train.images);
        assert_ne!(a.train.images[..IMAGE_BYTES * 10], a.test.images[..]);
        assert_eq!(a.train.len(), 40);
        assert_eq!(a.train.images.len(), 40 * IMAGE_BYTES);
        assert_eq!(a.test.len(), 10);
        assert_eq!(a.train.class_counts(), [4; 10]);
        assert_eq!(a.classes.len(), 10);
    }

    /// Learnable but not trivial: a nearest-class-mean classifier on colour statistics beats
    /// chance on held-out data but stays far from perfect (the stripes need a convolution).
    #[test]
    fn classes_are_separable_but_not_trivially() {
        let data = generate(&SyntheticSpec {
            train: 2000,
            test: 500,
            seed: 1,
        });
        let feature = |img: &[u8]| -> [f32; 3] {
            std::array::from_fn(|c| {
                img[c * 1024..(c + 1) * 1024]
                    .iter()
                    .map(|&b| f32::from(b))
                    .sum::<f32>()
                    / 1024.0
            })
        };
        let mut means = [[0f32; 3]; 10];
        for i in 0..data.train.len() {
            let f = feature(data.train.image(i));
            for c in 0..3 {
                means[usize::from(data.train.labels[i])][c] += f[c] / 200.0;
            }
        }
        let correct = (0..data.test.len())
            .filter(|&i| {
                let f = feature(data.test.image(i));
                let dist = |m: &[f32; 3]| (0..3).map(|c| (m[c] - f[c]).powi(2)).sum::<f32>();
                let best = (0..10)
                    .min_by(|&a, &b| dist(&means[a]).total_cmp(&dist(&means[b])))
                    .unwrap();
                best == usize::from(data.test.labels[i])
            })
            .count();
        let acc = correct as f64 / data.test.len() as f64;
        eprintln!("nearest-mean accuracy {acc}");
        assert!(acc > 0.2 && acc < 0.6, "nearest-mean accuracy {acc}");
    }

    #[test]
    fn writers_refuse_too_small_sets() {
        let tiny = generate(&SyntheticSpec {
            train: 4,
            test: 1,
            seed: 0,
        });
        let tmp = tempfile::tempdir().unwrap();
        assert!(matches!(
            write_binary_batches(tmp.path(), &tiny),
            Err(DataError::Invalid(_))
        ));
        assert!(matches!(
            write_archive(&tmp.path().join("a.tar.gz"), &tiny),
            Err(DataError::Invalid(_))
        ));
    }

    #[test]
    fn training_split_is_cut_into_five_nearly_equal_files() {
        let data = generate(&SyntheticSpec {
            train: 12,
            test: 3,
            seed: 0,
        });
        let sizes: Vec<usize> = files(&data)
            .iter()
            .take(6)
            .map(|(_, b)| b.len() / RECORD_BYTES)
            .collect();
        assert_eq!(sizes, vec![3, 3, 2, 2, 2, 3]);
    }
}
