//! Plumbing shared by the fast CPU kernels: reading f32 storage, per-thread scratch buffers, the
//! GEMM call, and the thread count.
//!
//! Owns every `unsafe` pointer hand-off to the `gemm` crate; it must never decide what a layer
//! computes — only how bytes are reached.

use std::cell::RefCell;

use candle_core::{CpuStorage, Device, Layout, Result, Shape, Storage, Tensor};

/// Errors raised by the fast kernels before they touch any data.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// A tensor's shape does not fit the op.
    #[error("{op}: {what}")]
    Shape {
        /// The op that refused the input.
        op: &'static str,
        /// What was wrong, with the offending dims.
        what: String,
    },
    /// Storage was not contiguous f32 on the CPU where a fast kernel needs it.
    #[error("{0}: expected contiguous f32 CPU storage")]
    Storage(&'static str),
}

impl OpError {
    /// Shorthand for a shape error wrapped as a candle error.
    pub fn shape(op: &'static str, what: impl Into<String>) -> candle_core::Error {
        candle_core::Error::wrap(OpError::Shape {
            op,
            what: what.into(),
        })
    }
}

/// The contiguous f32 slice of a CPU storage seen through `layout`.
pub fn slice<'a>(op: &'static str, s: &'a CpuStorage, layout: &Layout) -> Result<&'a [f32]> {
    match (s, layout.contiguous_offsets()) {
        (CpuStorage::F32(v), Some((a, b))) => Ok(&v[a..b]),
        _ => Err(candle_core::Error::wrap(OpError::Storage(op))),
    }
}

/// Runs `f` on the contiguous f32 data of `t` (made contiguous first if it is strided, e.g. a
/// broadcast gradient coming back from a mean).
pub fn with_f32<R>(op: &'static str, t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(cpu) => Ok(f(slice(op, cpu, layout)?)),
        _ => Err(candle_core::Error::wrap(OpError::Storage(op))),
    }
}

/// Wraps a freshly computed buffer as a CPU tensor without a backward graph.
pub fn tensor(data: Vec<f32>, shape: impl Into<Shape>) -> Result<Tensor> {
    Tensor::from_vec(data, shape, &Device::Cpu)
}

/// Whether the CPU has AVX-512F (checked once).
pub fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *ON.get_or_init(|| std::arch::is_x86_feature_detected!("avx512f"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether an AVX-512 kernel path runs: the CPU has AVX-512F and the environment variable
/// `off_var` (an A/B timing switch) is unset, read once into `cell`.
pub fn avx512_unless(cell: &std::sync::OnceLock<bool>, off_var: &str) -> bool {
    has_avx512() && !*cell.get_or_init(|| std::env::var_os(off_var).is_some())
}

/// Defines a function whose body is compiled twice: for AVX-512 (taken when the CPU has it, so
/// plain element loops vectorise to 16 lanes) and for the baseline target.
macro_rules! multiversion {
    ($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty $body:block) => {
        $(#[$doc])*
        fn $name($($arg: $ty),*) -> $ret {
            #[inline(always)]
            fn body($($arg: $ty),*) -> $ret $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                unsafe fn wide($($arg: $ty),*) -> $ret {
                    body($($arg),*)
                }
                if $crate::ops::cpu::has_avx512() {
                    // SAFETY: the CPU supports the features `wide` was compiled for.
                    return unsafe { wide($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}
pub(crate) use multiversion;

/// True when the fast kernels can take this tensor (f32 on the CPU).
pub fn is_fast(t: &Tensor) -> bool {
    t.device().is_cpu() && t.dtype() == candle_core::DType::F32
}

/// Worker threads the kernels split work across: candle's own CPU pool plus the calling thread.
///
/// Sharing candle's pool (instead of a second rayon pool) keeps the thread count at the core
/// count, so the two pools never fight over the cores or spin while the other works.
pub fn threads() -> usize {
    candle_core::utils::barrier_pool().n_workers() + 1
}

/// Splits `0..n` into at most [`threads`] contiguous near-equal ranges and runs
/// `f(index, range)` on each in parallel (the caller's thread takes one); returns when all are
/// done. Must not be called from inside `f` (candle's pool does not nest).
pub fn for_ranges(n: usize, f: impl Fn(usize, std::ops::Range<usize>) + Sync) {
    let t = threads().min(n);
    if t <= 1 {
        if n > 0 {
            f(0, 0..n);
        }
        return;
    }
    candle_core::utils::barrier_pool().execute(|tid| {
        if tid < t {
            f(tid, tid * n / t..(tid + 1) * n / t);
        }
    });
}

/// Runs `f(thread, range)` over `0..n` cut into ranges of `chunk` items, which the threads
/// take from a shared cursor until none are left; returns when all are done.
///
/// Unlike [`for_ranges`]' equal shares, a thread that runs slower (its core shared with another
/// program, or woken late from parking) takes fewer ranges instead of keeping the others
/// spinning at the barrier: with equal shares the caller's thread spent ~10% of a ResNet-18 step
/// waiting for the pool's. Which thread runs a range varies from run to run, so `f` must give
/// the same result whichever does. Must not be called from inside `f`.
pub fn for_chunks(n: usize, chunk: usize, f: impl Fn(usize, std::ops::Range<usize>) + Sync) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let chunk = chunk.max(1);
    if threads().min(n.div_ceil(chunk)) <= 1 {
        if n > 0 {
            f(0, 0..n);
        }
        return;
    }
    let cursor = AtomicUsize::new(0);
    candle_core::utils::barrier_pool().execute(|tid| loop {
        let start = cursor.fetch_add(chunk, Ordering::Relaxed);
        if start >= n {
            break;
        }
        f(tid, start..(start + chunk).min(n));
    });
}

/// `(0..n).map(f)` computed in parallel contiguous ranges, results in order.
pub fn par_map<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let parts: Vec<std::sync::Mutex<Vec<T>>> = (0..threads())
        .map(|_| std::sync::Mutex::new(Vec::new()))
        .collect();
    for_ranges(n, |tid, r| {
        let out: Vec<T> = r.map(&f).collect();
        *parts[tid].lock().unwrap_or_else(|e| e.into_inner()) = out;
    });
    parts
        .into_iter()
        .flat_map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()))
        .collect()
}

/// Like [`for_ranges`] over `0..n` with `grain` items per range at least, so that small
/// element-wise jobs stay on one thread.
pub fn for_ranges_grain(n: usize, grain: usize, f: impl Fn(usize, std::ops::Range<usize>) + Sync) {
    if n <= grain.max(1) {
        if n > 0 {
            f(0, 0..n);
        }
        return;
    }
    let chunks = n.div_ceil(grain.max(1)).min(threads());
    for_ranges(chunks, |tid, r| {
        f(tid, r.start * n / chunks..r.end * n / chunks)
    });
}

thread_local! {
    static SCRATCH: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

/// Lends `N` per-thread scratch buffers of the given lengths to `f`. Buffers are kept between
/// calls so the big im2col panels are not re-faulted in on every op; their contents on entry are
/// unspecified (stale data from an earlier call), so `f` must write before it reads.
pub fn with_scratch<const N: usize, R>(
    lens: [usize; N],
    f: impl FnOnce([&mut [f32]; N]) -> R,
) -> R {
    let mut bufs: Vec<Vec<f32>> = SCRATCH.with(|s| {
        let mut pool = s.borrow_mut();
        (0..N).map(|_| pool.pop().unwrap_or_default()).collect()
    });
    for (b, &len) in bufs.iter_mut().zip(lens.iter()) {
        if b.len() < len {
            b.resize(len, 0.0);
        }
    }
    let out = {
        let mut it = bufs.iter_mut();
        let views: [&mut [f32]; N] =
            std::array::from_fn(|i| &mut it.next().expect("N buffers")[..lens[i]]);
        f(views)
    };
    // Returned even if `f` borrowed them recursively: the pool only grows to the nesting depth.
    SCRATCH.with(|s| s.borrow_mut().extend(bufs));
    out
}

/// A strided matrix operand: element (i, j) lives at `ptr + i*rs + j*cs`.
#[derive(Clone, Copy)]
pub struct Mat {
    /// Address of element (0, 0).
    pub ptr: *const f32,
    /// Row stride in elements.
    pub rs: isize,
    /// Column stride in elements.
    pub cs: isize,
}

/// A strided mutable matrix: element (i, j) lives at `ptr + i*rs + j*cs`.
#[derive(Clone, Copy)]
pub struct MatMut {
    /// Address of element (0, 0).
    pub ptr: *mut f32,
    /// Row stride in elements.
    pub rs: isize,
    /// Column stride in elements.
    pub cs: isize,
}

impl MatMut {
    /// A row-major matrix with row stride `rs`.
    pub fn rows(ptr: *mut f32, rs: usize) -> Self {
        Self {
            ptr,
            rs: rs as isize,
            cs: 1,
        }
    }
}

impl Mat {
    /// A row-major matrix with row stride `rs`.
    pub fn rows(ptr: *const f32, rs: usize) -> Self {
        Self {
            ptr,
            rs: rs as isize,
            cs: 1,
        }
    }

    /// The transpose of a row-major matrix with row stride `rs` (a column-major view).
    pub fn cols(ptr: *const f32, rs: usize) -> Self {
        Self {
            ptr,
            rs: 1,
            cs: rs as isize,
        }
    }
}

/// `dst (m×n) = [dst +] lhs (m×k) · rhs (k×n)` through the `gemm` crate.
///
/// # Safety
/// Every operand must be valid for the strides and extents given, and `dst` must not alias
/// `lhs` or `rhs` or be written by another thread during the call.
#[allow(clippy::too_many_arguments)]
pub unsafe fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    dst: MatMut,
    accumulate: bool,
    lhs: Mat,
    rhs: Mat,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m as isize {
                for j in 0..n as isize {
                    *dst.ptr.offset(i * dst.rs + j * dst.cs) = 0.0;
                }
            }
        }
        return;
    }
    gemm::gemm(
        m,
        n,
        k,
        dst.ptr,
        dst.cs,
        dst.rs,
        accumulate,
        lhs.ptr,
        lhs.cs,
        lhs.rs,
        rhs.ptr,
        rhs.cs,
        rhs.rs,
        1.0,
        1.0,
        false,
        false,
        false,
        // Parallelism is ours (one panel group per thread); gemm's rayon split would add a
        // second pool competing for the same cores.
        gemm::Parallelism::None,
    );
}

/// A new buffer of `len` f32 written by `fill` through the pointer it is given (typically from
/// parallel tasks), without zero-filling it first: a serial memset of every activation-sized
/// output cost ~3% of a ResNet-20 step while the pool's thread waited.
///
/// # Safety
/// `fill` must write all `len` elements (and nothing past them) before it returns.
pub unsafe fn filled(len: usize, fill: impl FnOnce(SendPtr)) -> Vec<f32> {
    let mut v: Vec<f32> = Vec::with_capacity(len);
    fill(SendPtr(v.as_mut_ptr()));
    // SAFETY: the caller's contract: every element was written; f32 has no invalid bit patterns.
    unsafe { v.set_len(len) };
    v
}

/// A raw pointer that may cross into parallel tasks; each task writes a disjoint region.
#[derive(Clone, Copy)]
pub struct SendPtr(pub *mut f32);

impl SendPtr {
    /// The mutable slice `range` of the buffer this points into.
    ///
    /// # Safety
    /// `range` must lie inside the buffer, and no other live slice may overlap it.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slice(&self, range: std::ops::Range<usize>) -> &mut [f32] {
        std::slice::from_raw_parts_mut(self.0.add(range.start), range.len())
    }
}
// SAFETY: only used to hand disjoint output regions to parallel tasks; see each use.
unsafe impl Send for SendPtr {}
// SAFETY: as above.
unsafe impl Sync for SendPtr {}
