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

/// True when the fast kernels can take this tensor (f32 on the CPU).
pub fn is_fast(t: &Tensor) -> bool {
    t.device().is_cpu() && t.dtype() == candle_core::DType::F32
}

/// Worker threads the kernels split work across (rayon's global pool, sized to the machine).
pub fn threads() -> usize {
    rayon::current_num_threads().max(1)
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
    parallel: bool,
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
    let par = if parallel && threads() > 1 {
        gemm::Parallelism::Rayon(threads())
    } else {
        gemm::Parallelism::None
    };
    gemm::gemm(
        m, n, k, dst.ptr, dst.cs, dst.rs, accumulate, lhs.ptr, lhs.cs, lhs.rs, rhs.ptr, rhs.cs,
        rhs.rs, 1.0, 1.0, false, false, false, par,
    );
}

/// A raw pointer that may cross into rayon tasks; each task writes a disjoint region.
#[derive(Clone, Copy)]
pub struct SendPtr(pub *mut f32);
// SAFETY: only used to hand disjoint output regions to parallel tasks; see each use.
unsafe impl Send for SendPtr {}
// SAFETY: as above.
unsafe impl Sync for SendPtr {}
