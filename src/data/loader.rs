//! The training sampler: one seeded shuffle per epoch, batches whose size may change at any
//! call, augmentation (4-pixel zero padding, random 32×32 crop, random horizontal flip),
//! per-channel normalisation to f32 NCHW, and a background thread that assembles the next batch
//! ahead of the training step. Also the in-order evaluation batches.
//!
//! Owns the order in which samples are seen and the checkpoint cursor. Every batch is a pure
//! function of (seed, epoch, position in the epoch, batch length): the shuffle comes from
//! (seed, epoch) and each sample's crop and flip from (seed, epoch, position). So prefetching,
//! threading and resuming from a cursor can never change what the trainer sees. Must never
//! block the caller on the worker beyond the one batch asked for, and never hang on drop.
//!
//! A batch never spans an epoch boundary: the last batch of an epoch is the remainder
//! (drop_last = false) and carries `last_in_epoch`.

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use rand::seq::SliceRandom;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::cifar::IMAGE_BYTES;
use super::Dataset;

/// Pixels per colour plane.
const PLANE: usize = 32 * 32;
/// Zero padding on each side before the random crop.
const PAD: usize = 4;

/// Per-channel mean and standard deviation of pixel values scaled to [0, 1].
// Not `Copy`, so callers can pass clones around without clippy's clone-on-copy complaint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    /// Mean of red, green, blue.
    pub mean: [f32; 3],
    /// Standard deviation of red, green, blue (population, never below 1/255).
    pub std: [f32; 3],
}

impl Normalization {
    /// Computes the statistics over every pixel of `data` (the training split). An empty set
    /// gives mean 0 and std 1.
    pub fn from_dataset(data: &Dataset) -> Normalization {
        let mut sum = [0u64; 3];
        let mut sq = [0u64; 3];
        for image in data.images.chunks_exact(IMAGE_BYTES) {
            for c in 0..3 {
                let plane = &image[c * PLANE..(c + 1) * PLANE];
                sum[c] += plane.iter().map(|&v| u64::from(v)).sum::<u64>();
                sq[c] += plane
                    .iter()
                    .map(|&v| u64::from(u32::from(v) * u32::from(v)))
                    .sum::<u64>();
            }
        }
        let n = (data.len() * PLANE) as f64;
        if n == 0.0 {
            return Normalization {
                mean: [0.0; 3],
                std: [1.0; 3],
            };
        }
        let mean: [f64; 3] = std::array::from_fn(|c| sum[c] as f64 / n / 255.0);
        let std = std::array::from_fn(|c| {
            let var = sq[c] as f64 / n / (255.0 * 255.0) - mean[c] * mean[c];
            (var.max(0.0).sqrt() as f32).max(1.0 / 255.0)
        });
        Normalization {
            mean: mean.map(|m| m as f32),
            std,
        }
    }

    /// Per channel, `(scale, bias)` so that a byte `v` maps to `v × scale + bias`.
    fn affine(&self) -> ([f32; 3], [f32; 3]) {
        let scale = std::array::from_fn(|c| 1.0 / (255.0 * self.std[c]));
        let bias = std::array::from_fn(|c| -self.mean[c] / self.std[c]);
        (scale, bias)
    }

    /// Normalises one CHW byte image into `out` (3,072 floats), without augmentation.
    pub fn apply(&self, image: &[u8], out: &mut [f32]) {
        let (scale, bias) = self.affine();
        write_plain(image, &scale, &bias, out);
    }
}

/// Where the sampler stands: the next batch starts at `position` of `epoch`'s shuffled order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LoaderCursor {
    /// Epoch, from 0.
    pub epoch: usize,
    /// Index into that epoch's shuffled order.
    pub position: usize,
}

/// One batch, ready for the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// `len × 3 × 32 × 32` normalised floats, NCHW.
    pub images: Vec<f32>,
    /// Class index per image.
    pub labels: Vec<u32>,
    /// Images in the batch.
    pub len: usize,
    /// Epoch the batch belongs to (0 for evaluation batches).
    pub epoch: usize,
    /// Position in the epoch's order (or in the test set) of the first image.
    pub first_position: usize,
    /// True for the last batch of the epoch (or of the test set).
    pub last_in_epoch: bool,
}

/// Crop offset into the padded 40×40 image (0..=8 each way) and mirror flag of one sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Augment {
    /// Horizontal offset into the padded image, 0..=8 (4 = centred).
    pub dx: usize,
    /// Vertical offset into the padded image, 0..=8 (4 = centred).
    pub dy: usize,
    /// Mirror left–right after cropping.
    pub flip: bool,
}

impl Augment {
    /// The identity: centred crop, no flip.
    pub const NONE: Augment = Augment {
        dx: PAD,
        dy: PAD,
        flip: false,
    };

    fn from_word(w: u32) -> Augment {
        // The modulo bias of 2^32 over 9 is below 1e-8: irrelevant here.
        Augment {
            dx: (w % 9) as usize,
            dy: ((w / 9) % 9) as usize,
            flip: (w / 81) & 1 == 1,
        }
    }
}

/// A ChaCha8 key from the run seed, a counter (the epoch) and a purpose tag, so the shuffle and
/// the augmentation draw from unrelated streams.
fn stream_key(seed: u64, epoch: usize, tag: &[u8; 8]) -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&(epoch as u64).to_le_bytes());
    key[16..24].copy_from_slice(tag);
    key
}

/// The shuffled order of `n` samples for `epoch`.
pub fn permutation(seed: u64, epoch: usize, n: usize) -> Vec<u32> {
    // u32 indices halve the memory of the order; 4 billion images would not fit in memory anyway.
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.shuffle(&mut ChaCha8Rng::from_seed(stream_key(
        seed,
        epoch,
        b"shuffle\0",
    )));
    order
}

/// Augmentation of `count` consecutive positions from `position` in `epoch`: one 32-bit word of
/// a per-epoch ChaCha stream per position, found by seeking, so the result does not depend on
/// which batch (or thread) a position was drawn in.
pub fn augmentations(seed: u64, epoch: usize, position: usize, count: usize) -> Vec<Augment> {
    let mut rng = ChaCha8Rng::from_seed(stream_key(seed, epoch, b"augment\0"));
    rng.set_word_pos(position as u128);
    (0..count)
        .map(|_| Augment::from_word(rng.next_u32()))
        .collect()
}

fn write_plain(src: &[u8], scale: &[f32; 3], bias: &[f32; 3], out: &mut [f32]) {
    for c in 0..3 {
        let (s, b) = (scale[c], bias[c]);
        for (o, &v) in out[c * PLANE..(c + 1) * PLANE]
            .iter_mut()
            .zip(&src[c * PLANE..(c + 1) * PLANE])
        {
            *o = f32::from(v) * s + b;
        }
    }
}

/// Pads the image with black (zero) pixels, crops 32×32 at `aug`'s offset, mirrors if asked,
/// and normalises; padding becomes the normalised value of 0, as with padding before
/// normalising. Written row by row with the valid column range computed once, so the inner
/// loops are straight copies.
fn write_augmented(src: &[u8], scale: &[f32; 3], bias: &[f32; 3], aug: Augment, out: &mut [f32]) {
    let (dx, dy) = (aug.dx, aug.dy);
    // Output columns whose source column (x + dx − 4, or 31 − x + dx − 4 when flipped) is inside.
    let (x_lo, x_hi) = if aug.flip {
        (dx.saturating_sub(PAD), (28 + dx).min(32))
    } else {
        (PAD.saturating_sub(dx), (36 - dx).min(32))
    };
    for c in 0..3 {
        let (s, b) = (scale[c], bias[c]);
        for y in 0..32 {
            let row = &mut out[c * PLANE + y * 32..c * PLANE + y * 32 + 32];
            let sy = y + dy;
            if !(PAD..PAD + 32).contains(&sy) {
                row.fill(b);
                continue;
            }
            let src_row = &src[c * PLANE + (sy - PAD) * 32..c * PLANE + (sy - PAD) * 32 + 32];
            row[..x_lo].fill(b);
            row[x_hi..].fill(b);
            let inner = &mut row[x_lo..x_hi];
            if aug.flip {
                // Source columns 31 − x + dx − 4 for x in x_lo..x_hi, in decreasing order.
                let first = 27 + dx - (x_hi - 1);
                let cols = &src_row[first..first + inner.len()];
                for (o, &v) in inner.iter_mut().zip(cols.iter().rev()) {
                    *o = f32::from(v) * s + b;
                }
            } else {
                let first = x_lo + dx - PAD;
                let cols = &src_row[first..first + inner.len()];
                for (o, &v) in inner.iter_mut().zip(cols) {
                    *o = f32::from(v) * s + b;
                }
            }
        }
    }
}

/// What a batch is a function of (besides the loader's fixed seed, data and flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    epoch: usize,
    position: usize,
    len: usize,
}

/// The parts of a loader that the worker thread shares.
struct Shared {
    train: Arc<Dataset>,
    scale: [f32; 3],
    bias: [f32; 3],
    seed: u64,
    augment: bool,
}

impl Shared {
    fn assemble(&self, order: &[u32], key: Key) -> Batch {
        let mut images = vec![0f32; key.len * IMAGE_BYTES];
        let mut labels = Vec::with_capacity(key.len);
        let augs = if self.augment {
            augmentations(self.seed, key.epoch, key.position, key.len)
        } else {
            Vec::new()
        };
        let ids = &order[key.position..key.position + key.len];
        for (i, (out, &id)) in images.chunks_exact_mut(IMAGE_BYTES).zip(ids).enumerate() {
            let id = id as usize;
            labels.push(u32::from(self.train.labels[id]));
            let src = self.train.image(id);
            match augs.get(i) {
                Some(&aug) => write_augmented(src, &self.scale, &self.bias, aug, out),
                None => write_plain(src, &self.scale, &self.bias, out),
            }
        }
        Batch {
            images,
            labels,
            len: key.len,
            epoch: key.epoch,
            first_position: key.position,
            last_in_epoch: key.position + key.len == self.train.len(),
        }
    }
}

/// A request to the worker: assemble the batch for `key` from `order`.
struct Job {
    key: Key,
    order: Arc<Vec<u32>>,
}

/// The prefetch thread and its channels; dropping it stops and joins the thread.
struct Worker {
    jobs: Option<Sender<Job>>,
    done: Receiver<(Key, Batch)>,
    handle: Option<JoinHandle<()>>,
    /// The last job sent, whose result has not been taken yet.
    requested: Option<Key>,
}

impl Worker {
    fn spawn(shared: Arc<Shared>) -> Option<Worker> {
        let (jobs, job_rx) = crossbeam_channel::unbounded::<Job>();
        let (done_tx, done) = crossbeam_channel::unbounded();
        let handle = std::thread::Builder::new()
            .name("batch-prefetch".into())
            .spawn(move || {
                for job in job_rx {
                    let batch = shared.assemble(&job.order, job.key);
                    if done_tx.send((job.key, batch)).is_err() {
                        break;
                    }
                }
            })
            // Without a thread the loader simply assembles every batch itself.
            .ok()?;
        Some(Worker {
            jobs: Some(jobs),
            done,
            handle: Some(handle),
            requested: None,
        })
    }

    /// The prefetched batch for `key` if that is what was asked for; otherwise drops finished
    /// stale results and returns None.
    fn take(&mut self, key: Key) -> Option<Batch> {
        if self.requested == Some(key) {
            self.requested = None;
            // Earlier, stale results may still be queued ahead of this one.
            while let Ok((k, batch)) = self.done.recv() {
                if k == key {
                    return Some(batch);
                }
            }
            return None;
        }
        while self.done.try_recv().is_ok() {}
        None
    }

    fn request(&mut self, key: Key, order: Arc<Vec<u32>>) {
        let sent = self
            .jobs
            .as_ref()
            .is_some_and(|j| j.send(Job { key, order }).is_ok());
        self.requested = sent.then_some(key);
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing the job channel ends the thread's loop after at most one batch.
        self.jobs = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The training sampler. See the module comment for its guarantees.
pub struct Loader {
    shared: Arc<Shared>,
    norm: Normalization,
    cursor: LoaderCursor,
    /// Shuffled orders of at most two epochs (the current one and the one prefetched into).
    orders: Vec<(usize, Arc<Vec<u32>>)>,
    worker: Option<Worker>,
}

impl Loader {
    /// A loader at epoch 0, position 0, with prefetching on. `augment` turns the random crop and
    /// flip on (training) or off.
    pub fn new(train: Arc<Dataset>, norm: Normalization, seed: u64, augment: bool) -> Loader {
        let (scale, bias) = norm.affine();
        let shared = Arc::new(Shared {
            train,
            scale,
            bias,
            seed,
            augment,
        });
        let worker = Worker::spawn(shared.clone());
        Loader {
            shared,
            norm,
            cursor: LoaderCursor::default(),
            orders: Vec::new(),
            worker,
        }
    }

    /// Turns the background prefetch thread on or off (batches are identical either way).
    pub fn with_prefetch(mut self, on: bool) -> Loader {
        if !on {
            self.worker = None;
        } else if self.worker.is_none() {
            self.worker = Worker::spawn(self.shared.clone());
        }
        self
    }

    /// The same loader positioned at `cursor` (see [`Loader::seek`]).
    pub fn with_cursor(mut self, cursor: LoaderCursor) -> Loader {
        self.seek(cursor);
        self
    }

    /// Moves to `cursor`, e.g. one saved in a checkpoint. A position at or past the end of the
    /// epoch means that epoch is finished: the loader moves to the start of the next one.
    pub fn seek(&mut self, cursor: LoaderCursor) {
        self.cursor = cursor;
        self.normalize_cursor();
    }

    /// Where the next batch will start (for checkpoints).
    pub fn cursor(&self) -> LoaderCursor {
        self.cursor
    }

    /// The normalisation applied to every image.
    pub fn normalization(&self) -> &Normalization {
        &self.norm
    }

    /// Number of training images (one epoch).
    pub fn len(&self) -> usize {
        self.shared.train.len()
    }

    /// True when there are no training images.
    pub fn is_empty(&self) -> bool {
        self.shared.train.is_empty()
    }

    /// The next `batch_size` images of the epoch (fewer at its end; `batch_size` 0 counts as 1).
    /// The size may differ from call to call; the order does not depend on it.
    pub fn next_batch(&mut self, batch_size: usize) -> Batch {
        let n = self.len();
        self.normalize_cursor();
        let LoaderCursor { epoch, position } = self.cursor;
        if n == 0 {
            self.cursor = LoaderCursor {
                epoch: epoch + 1,
                position: 0,
            };
            return Batch {
                images: Vec::new(),
                labels: Vec::new(),
                len: 0,
                epoch,
                first_position: 0,
                last_in_epoch: true,
            };
        }
        let size = batch_size.max(1);
        let key = Key {
            epoch,
            position,
            len: size.min(n - position),
        };
        let prefetched = self.worker.as_mut().and_then(|w| w.take(key));
        let batch = match prefetched {
            Some(b) => b,
            None => {
                let order = self.order(epoch);
                self.shared.assemble(&order, key)
            }
        };
        self.cursor.position += key.len;
        self.normalize_cursor();
        if self.worker.is_some() {
            let LoaderCursor { epoch, position } = self.cursor;
            let next = Key {
                epoch,
                position,
                len: size.min(n - position),
            };
            let order = self.order(epoch);
            if let Some(w) = self.worker.as_mut() {
                w.request(next, order);
            }
        }
        batch
    }

    fn normalize_cursor(&mut self) {
        let n = self.len();
        if n > 0 && self.cursor.position >= n {
            self.cursor = LoaderCursor {
                epoch: self.cursor.epoch + 1,
                position: 0,
            };
        }
    }

    /// The shuffled order of `epoch`, computed once and kept while it is current.
    fn order(&mut self, epoch: usize) -> Arc<Vec<u32>> {
        if let Some((_, o)) = self.orders.iter().find(|(e, _)| *e == epoch) {
            return o.clone();
        }
        let order = Arc::new(permutation(self.shared.seed, epoch, self.len()));
        self.orders
            .retain(|(e, _)| *e + 1 >= epoch && *e <= epoch + 1);
        self.orders.truncate(1);
        self.orders.push((epoch, order.clone()));
        order
    }
}

/// In-order evaluation batches of `test`, normalised, never augmented.
pub fn test_batches<'a>(test: &'a Dataset, norm: &Normalization, batch: usize) -> TestBatches<'a> {
    let (scale, bias) = norm.affine();
    TestBatches {
        data: test,
        scale,
        bias,
        batch: batch.max(1),
        position: 0,
    }
}

/// Iterator returned by [`test_batches`].
pub struct TestBatches<'a> {
    data: &'a Dataset,
    scale: [f32; 3],
    bias: [f32; 3],
    batch: usize,
    position: usize,
}

impl Iterator for TestBatches<'_> {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        let n = self.data.len();
        if self.position >= n {
            return None;
        }
        let start = self.position;
        let len = self.batch.min(n - start);
        self.position += len;
        let mut images = vec![0f32; len * IMAGE_BYTES];
        for (i, out) in images.chunks_exact_mut(IMAGE_BYTES).enumerate() {
            write_plain(self.data.image(start + i), &self.scale, &self.bias, out);
        }
        Some(Batch {
            images,
            labels: self.data.labels[start..start + len]
                .iter()
                .map(|&l| u32::from(l))
                .collect(),
            len,
            epoch: 0,
            first_position: start,
            last_in_epoch: start + len == n,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.data.len() - self.position.min(self.data.len())).div_ceil(self.batch);
        (left, Some(left))
    }
}

impl ExactSizeIterator for TestBatches<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synthetic::{generate, SyntheticSpec};

    /// `n` generated training images (pixel noise makes every image distinct).
    fn data(n: usize) -> Arc<Dataset> {
        let d = generate(&SyntheticSpec {
            train: n,
            test: 1,
            seed: 5,
        });
        Arc::new(d.train)
    }

    fn identity() -> Normalization {
        Normalization {
            mean: [0.0; 3],
            std: [1.0 / 255.0; 3],
        }
    }

    /// Recovers which training image each batch entry came from, given no augmentation and the
    /// identity normalisation (images are distinct).
    fn ids(d: &Dataset, b: &Batch) -> Vec<usize> {
        b.images
            .chunks_exact(IMAGE_BYTES)
            .map(|img| {
                let bytes: Vec<u8> = img.iter().map(|&v| v as u8).collect();
                (0..d.len())
                    .find(|&i| d.image(i) == bytes.as_slice())
                    .expect("image from the set")
            })
            .collect()
    }

    #[test]
    fn every_sample_once_per_epoch_across_batch_size_changes() {
        let d = data(103);
        let mut loader = Loader::new(d.clone(), identity(), 9, false);
        let sizes = [10, 10, 7, 32, 1, 64, 5];
        let mut seen = Vec::new();
        let mut i = 0;
        loop {
            let b = loader.next_batch(sizes[i % sizes.len()]);
            i += 1;
            assert_eq!(b.epoch, 0);
            assert_eq!(b.first_position, seen.len());
            assert_eq!(b.labels.len(), b.len);
            assert_eq!(b.images.len(), b.len * IMAGE_BYTES);
            let got = ids(&d, &b);
            for (&id, &l) in got.iter().zip(&b.labels) {
                assert_eq!(u32::from(d.labels[id]), l);
            }
            seen.extend(got);
            if b.last_in_epoch {
                break;
            }
        }
        assert_eq!(seen.len(), 103);
        let mut sorted = seen.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..103).collect::<Vec<_>>());
        assert_ne!(seen, sorted, "the order is shuffled");
        assert_eq!(
            loader.cursor(),
            LoaderCursor {
                epoch: 1,
                position: 0
            }
        );
        // The next epoch has its own order.
        let b = loader.next_batch(103);
        assert_eq!((b.epoch, b.len, b.last_in_epoch), (1, 103, true));
        assert_ne!(ids(&d, &b), seen);
    }

    fn run(loader: &mut Loader, sizes: &[usize]) -> Vec<Batch> {
        sizes.iter().map(|&s| loader.next_batch(s)).collect()
    }

    #[test]
    fn prefetch_resume_and_size_changes_give_identical_batches() {
        let d = data(50);
        let norm = Normalization::from_dataset(&d);
        let sizes = [8, 8, 8, 3, 3, 20, 20, 20, 7, 8, 8, 1, 16, 16];
        let mut plain = Loader::new(d.clone(), norm.clone(), 42, true).with_prefetch(false);
        let expected = run(&mut plain, &sizes);
        let mut pre = Loader::new(d.clone(), norm.clone(), 42, true);
        assert_eq!(run(&mut pre, &sizes), expected);

        // Resume from every cursor along the way, with and without prefetch.
        let mut fresh = Loader::new(d.clone(), norm.clone(), 42, true).with_prefetch(false);
        for (i, &s) in sizes.iter().enumerate() {
            let cursor = fresh.cursor();
            let b = fresh.next_batch(s);
            assert_eq!(b, expected[i]);
            let mut resumed = Loader::new(d.clone(), norm.clone(), 42, true).with_cursor(cursor);
            assert_eq!(run(&mut resumed, &sizes[i..]), expected[i..]);
        }

        // A different seed gives different batches.
        let mut other = Loader::new(d, norm, 43, true);
        assert_ne!(run(&mut other, &sizes), expected);
    }

    #[test]
    fn epoch_boundaries_are_never_spanned_and_seek_past_end_moves_on() {
        let d = data(10);
        let mut loader = Loader::new(d, identity(), 1, false);
        let b: Vec<(usize, usize, usize, bool)> = (0..5)
            .map(|_| loader.next_batch(4))
            .map(|b| (b.epoch, b.first_position, b.len, b.last_in_epoch))
            .collect();
        assert_eq!(
            b,
            vec![
                (0, 0, 4, false),
                (0, 4, 4, false),
                (0, 8, 2, true),
                (1, 0, 4, false),
                (1, 4, 4, false)
            ]
        );
        loader.seek(LoaderCursor {
            epoch: 3,
            position: 10,
        });
        assert_eq!(
            loader.cursor(),
            LoaderCursor {
                epoch: 4,
                position: 0
            }
        );
        assert_eq!(loader.next_batch(0).len, 1);
    }

    #[test]
    fn empty_training_set_gives_empty_final_batches() {
        let mut loader = Loader::new(Arc::new(Dataset::default()), identity(), 0, true);
        let b = loader.next_batch(8);
        assert_eq!((b.len, b.last_in_epoch, b.epoch), (0, true, 0));
        assert_eq!(loader.next_batch(8).epoch, 1);
    }

    /// Reference augmentation, written the slow obvious way: pad to 40×40, crop, mirror.
    fn reference(src: &[u8], aug: Augment) -> Vec<f32> {
        let mut padded = vec![0u8; 3 * 40 * 40];
        for c in 0..3 {
            for y in 0..32 {
                for x in 0..32 {
                    padded[c * 1600 + (y + 4) * 40 + x + 4] = src[c * 1024 + y * 32 + x];
                }
            }
        }
        let mut out = vec![0f32; IMAGE_BYTES];
        for c in 0..3 {
            for y in 0..32 {
                for x in 0..32 {
                    let cx = if aug.flip { 31 - x } else { x };
                    out[c * 1024 + y * 32 + x] =
                        f32::from(padded[c * 1600 + (y + aug.dy) * 40 + cx + aug.dx]);
                }
            }
        }
        out
    }

    #[test]
    fn crop_and_flip_match_the_reference_for_every_offset() {
        let src: Vec<u8> = (0..IMAGE_BYTES).map(|i| (i % 255 + 1) as u8).collect();
        let (scale, bias) = identity().affine();
        let mut out = vec![0f32; IMAGE_BYTES];
        for dx in 0..9 {
            for dy in 0..9 {
                for flip in [false, true] {
                    let aug = Augment { dx, dy, flip };
                    write_augmented(&src, &scale, &bias, aug, &mut out);
                    let want = reference(&src, aug);
                    for (a, b) in out.iter().zip(&want) {
                        assert!((a - b).abs() < 1e-3, "{aug:?}: {a} vs {b}");
                    }
                }
            }
        }
        // Spot checks by hand: centred and unflipped is the image itself; dx=dy=0 shifts the
        // image right and down by 4 with black above and left; a flip mirrors each row.
        write_augmented(&src, &scale, &bias, Augment::NONE, &mut out);
        assert!(out
            .iter()
            .zip(&src)
            .all(|(&a, &b)| (a - f32::from(b)).abs() < 1e-3));
        write_augmented(
            &src,
            &scale,
            &bias,
            Augment {
                dx: 0,
                dy: 0,
                flip: false,
            },
            &mut out,
        );
        assert_eq!(out[0].round(), 0.0);
        assert_eq!(out[4 * 32 + 4].round(), f32::from(src[0]));
        write_augmented(
            &src,
            &scale,
            &bias,
            Augment {
                dx: 4,
                dy: 4,
                flip: true,
            },
            &mut out,
        );
        assert_eq!(out[0].round(), f32::from(src[31]));
        assert_eq!(out[31].round(), f32::from(src[0]));
    }

    #[test]
    fn augmentation_is_a_function_of_position_and_varies() {
        let all = augmentations(3, 2, 0, 200);
        assert_eq!(augmentations(3, 2, 57, 10), all[57..67]);
        assert_ne!(augmentations(3, 3, 0, 200), all);
        assert!(all.iter().any(|a| a.flip) && all.iter().any(|a| !a.flip));
        for d in 0..9 {
            assert!(all.iter().any(|a| a.dx == d) && all.iter().any(|a| a.dy == d));
        }
    }

    #[test]
    fn normalisation_statistics_and_output() {
        // Two images: red plane all 0 or all 255, green all 51, blue half 0 half 255.
        let mut images = vec![0u8; 2 * IMAGE_BYTES];
        images[IMAGE_BYTES..IMAGE_BYTES + PLANE].fill(255);
        for img in images.chunks_exact_mut(IMAGE_BYTES) {
            img[PLANE..2 * PLANE].fill(51);
            img[2 * PLANE + 512..].fill(255);
        }
        let d = Dataset {
            images,
            labels: vec![0, 1],
        };
        let n = Normalization::from_dataset(&d);
        assert!((n.mean[0] - 0.5).abs() < 1e-6 && (n.std[0] - 0.5).abs() < 1e-6);
        assert!((n.mean[1] - 0.2).abs() < 1e-6 && (n.std[1] - 1.0 / 255.0).abs() < 1e-6);
        assert!((n.mean[2] - 0.5).abs() < 1e-6 && (n.std[2] - 0.5).abs() < 1e-6);
        let mut out = vec![0f32; IMAGE_BYTES];
        n.apply(d.image(1), &mut out);
        assert!((out[0] - 1.0).abs() < 1e-5, "{}", out[0]);
        assert!(out[PLANE].abs() < 1e-3);
        assert!((out[2 * PLANE] + 1.0).abs() < 1e-5);

        // Over a whole normalised data set each channel has mean ≈ 0 and std ≈ 1.
        let d = data(200);
        let n = Normalization::from_dataset(&d);
        let batch: Vec<Batch> = test_batches(&d, &n, 64).collect();
        for c in 0..3 {
            let v: Vec<f64> = batch
                .iter()
                .flat_map(|b| {
                    b.images
                        .chunks_exact(IMAGE_BYTES)
                        .flat_map(move |i| i[c * PLANE..(c + 1) * PLANE].to_vec())
                })
                .map(f64::from)
                .collect();
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64;
            assert!(
                mean.abs() < 1e-3 && (var - 1.0).abs() < 1e-3,
                "channel {c}: {mean} {var}"
            );
        }
        assert_eq!(
            Normalization::from_dataset(&Dataset::default()).std,
            [1.0; 3]
        );
    }

    #[test]
    fn test_batches_are_in_order_and_cover_the_set() {
        let d = data(23);
        let batches: Vec<Batch> = test_batches(&d, &identity(), 10).collect();
        assert_eq!(
            batches.iter().map(|b| b.len).collect::<Vec<_>>(),
            vec![10, 10, 3]
        );
        assert_eq!(test_batches(&d, &identity(), 10).len(), 3);
        assert!(batches[2].last_in_epoch && !batches[1].last_in_epoch);
        let order: Vec<usize> = batches.iter().flat_map(|b| ids(&d, b)).collect();
        assert_eq!(order, (0..23).collect::<Vec<_>>());
        assert_eq!(
            batches[1].labels,
            d.labels[10..20]
                .iter()
                .map(|&l| u32::from(l))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn dropping_a_loader_with_a_pending_prefetch_returns_promptly() {
        let d = data(300);
        let started = std::time::Instant::now();
        for _ in 0..20 {
            let mut loader = Loader::new(d.clone(), identity(), 0, true);
            loader.next_batch(256);
            drop(loader);
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn assembling_a_batch_of_128_is_fast() {
        let d = data(512);
        let mut loader = Loader::new(d, identity(), 0, true).with_prefetch(false);
        loader.next_batch(128);
        let started = std::time::Instant::now();
        for _ in 0..20 {
            loader.next_batch(128);
        }
        let per = started.elapsed() / 20;
        eprintln!("batch of 128 (augmented, no prefetch): {per:?}");
        // Generous: the test profile is lightly optimised and the machine is shared.
        assert!(per < std::time::Duration::from_millis(50), "{per:?}");
    }
}
