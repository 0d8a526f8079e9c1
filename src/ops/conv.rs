//! Fast CPU 2-D convolution (k ∈ {1, 3}, stride 1|2, zero padding, no bias) as a candle
//! `CustomOp2` with forward and backward, built on im2col panels and the `gemm` crate.
//!
//! Owns the NCHW ↔ GEMM data movement and the choice among the GEMM path, the direct 3×3
//! kernels ([`super::direct`]) and Winograd for the wide 3×3 layers ([`super::winograd`]). Hand-written for speed (candle's own backward is a naive
//! per-pixel loop). On the GEMM path the batch is cut into tasks of whole samples, each one
//! panel of about [`PANEL_COLS`] output pixels so the im2col panel stays in cache (the weight
//! gradient of wide layers is split by input channels instead); the direct path works in groups
//! of samples. Threads take tasks from a shared cursor, so a slower core takes fewer; every split
//! and every sum's order is fixed by the shapes alone, so results do not depend on thread timing. It must never compute the input gradient when the input does
//! not track gradients (the image at the stem).

use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};

use super::cpu::{self, Mat, MatMut, OpError, SendPtr};
use super::direct::{self, Plane};
use super::winograd;

/// Weight-gradient slots per thread in the direct backward pass (see [`backward_direct`]).
const SLOTS_PER_THREAD: usize = 4;

/// Output pixels (GEMM columns) per panel: big enough for an efficient GEMM, small enough that
/// the K × cols im2col panel of a wide layer stays near the L2 cache.
const PANEL_COLS: usize = 512;

/// Fewest input and output channels a convolution needs for the Winograd path.
const WINOGRAD_MIN_CHANNELS: usize = 128;

/// Shapes of one convolution.
#[derive(Clone, Copy, Debug)]
pub(super) struct Geom {
    n: usize,
    cin: usize,
    h: usize,
    w: usize,
    cout: usize,
    k: usize,
    stride: usize,
    pad: usize,
    ho: usize,
    wo: usize,
}

impl Geom {
    pub(super) fn new(x: &Shape, wt: &Shape, stride: usize, pad: usize) -> Result<Self> {
        let (n, cin, h, w) = x.dims4()?;
        let (cout, cin2, k, k2) = wt.dims4()?;
        if cin != cin2 || k != k2 || !(k == 1 || k == 3) || !(stride == 1 || stride == 2) {
            return Err(OpError::shape(
                "conv2d",
                format!(
                    "input {x:?} and weight {wt:?} with stride {stride} are not a supported \
                     convolution (square 1x1 or 3x3 kernel, matching channels, stride 1 or 2)"
                ),
            ));
        }
        if h + 2 * pad < k || w + 2 * pad < k {
            return Err(OpError::shape(
                "conv2d",
                format!("input {x:?} is smaller than the {k}x{k} kernel"),
            ));
        }
        let ho = (h + 2 * pad - k) / stride + 1;
        let wo = (w + 2 * pad - k) / stride + 1;
        Ok(Self {
            n,
            cin,
            h,
            w,
            cout,
            k,
            stride,
            pad,
            ho,
            wo,
        })
    }

    /// Output shape (N, Cout, Ho, Wo).
    pub(super) fn out_shape(&self) -> Shape {
        Shape::from((self.n, self.cout, self.ho, self.wo))
    }

    /// Values in the input (N·Cin·H·W), in the weight (Cout·Cin·k·k) and output channels.
    pub(super) fn lengths(&self) -> (usize, usize, usize) {
        (
            self.n * self.cin * self.h * self.w,
            self.cout * self.kdim(),
            self.cout,
        )
    }

    /// Output pixels per sample.
    fn p(&self) -> usize {
        self.ho * self.wo
    }

    /// GEMM reduction length of the forward pass: Cin·k·k.
    fn kdim(&self) -> usize {
        self.cin * self.k * self.k
    }

    /// A 1×1 stride-1 unpadded conv reads its input as the GEMM operand directly.
    fn is_pointwise(&self) -> bool {
        self.k == 1 && self.stride == 1 && self.pad == 0
    }

    /// Whether the direct 3×3 kernels take this conv's forward pass (and weight gradient).
    fn direct_forward(&self) -> bool {
        self.k == 3
            && self.stride == 1
            && self.pad == 1
            && self.h * self.w >= direct::MIN_PIXELS
            && direct::channels_ok(self.cout)
            && direct::available()
    }

    /// Whether a map too small for [`Geom::direct_forward`] (ResNet-18's 4×4 stage) runs
    /// through the direct kernels with a whole group of samples in one plane ([`conv_wide`]),
    /// producing `c_out` channels: the forward pass (`c_out` = Cout) or the input gradient
    /// (`c_out` = Cin).
    fn wide_direct(&self, c_out: usize) -> bool {
        self.k == 3
            && self.stride == 1
            && self.pad == 1
            && self.h * self.w < direct::MIN_PIXELS
            && self.w.is_multiple_of(4)
            && c_out.is_multiple_of(64)
            && direct::available()
    }

    /// Whether the convolution goes through Winograd ([`winograd`]: F(2×2, 3×3) for the forward
    /// pass and the input gradient, F(3×3, 2×2) for the weight gradient): 3×3 stride 1 pad 1 on
    /// even-sized maps, wide enough on both sides. Below 128 channels the transforms cost about
    /// what the saved multiplications do (forward, batch 32: 64 channels even, 16–32 channels
    /// 20–40% slower than the direct kernels; 128–512 channels 1.3–1.6× faster).
    fn winograd(&self) -> bool {
        self.k == 3
            && self.stride == 1
            && self.pad == 1
            && self.h.is_multiple_of(2)
            && self.w.is_multiple_of(2)
            && self.cin >= WINOGRAD_MIN_CHANNELS
            && self.cout >= WINOGRAD_MIN_CHANNELS
            && winograd::offsets_fit(self.n, self.cin.max(self.cout), self.h * self.w)
            && winograd::available()
    }

    /// Whether the direct kernels take the whole backward pass (`need_dx`: input gradient too,
    /// which needs the input channels in whole register tiles).
    fn direct_backward(&self, need_dx: bool) -> bool {
        self.direct_forward() && (!need_dx || direct::channels_ok(self.cin))
    }

    /// Range of output columns `ox` whose input column `ox*stride + kx - pad` lies inside the image.
    fn valid_ox(&self, kx: usize) -> (usize, usize) {
        let lo = if self.pad > kx {
            (self.pad - kx).div_ceil(self.stride)
        } else {
            0
        };
        let hi = if self.w + self.pad > kx {
            ((self.w - 1 + self.pad - kx) / self.stride + 1).min(self.wo)
        } else {
            0
        };
        (lo.min(hi), hi)
    }
}

/// A panel: `ns` whole samples from `s0`, or (when `ns == 1`) output rows `oy0..oy1` of one.
#[derive(Clone, Copy, Debug)]
struct Panel {
    s0: usize,
    ns: usize,
    oy0: usize,
    oy1: usize,
}

impl Panel {
    fn cols(&self, g: &Geom) -> usize {
        self.ns * (self.oy1 - self.oy0) * g.wo
    }
}

/// Cuts samples `s0..s1` into panels of about [`PANEL_COLS`] columns.
fn panels(g: &Geom, s0: usize, s1: usize) -> Vec<Panel> {
    let p = g.p();
    let mut out = Vec::new();
    if p >= PANEL_COLS {
        let rows = (PANEL_COLS / g.wo).max(1);
        for s in s0..s1 {
            let mut oy = 0;
            while oy < g.ho {
                let end = (oy + rows).min(g.ho);
                out.push(Panel {
                    s0: s,
                    ns: 1,
                    oy0: oy,
                    oy1: end,
                });
                oy = end;
            }
        }
    } else {
        let per = (PANEL_COLS / p).max(1);
        let mut s = s0;
        while s < s1 {
            let ns = per.min(s1 - s);
            out.push(Panel {
                s0: s,
                ns,
                oy0: 0,
                oy1: g.ho,
            });
            s += ns;
        }
    }
    out
}

/// Writes the im2col panel of `x` for `pl` and input channels `chans` into `col`: one row per
/// (ci, ky, kx), ci counted from `chans.start`, `cols` values each.
fn im2col(g: &Geom, x: &[f32], pl: &Panel, chans: std::ops::Range<usize>, col: &mut [f32]) {
    let cols = pl.cols(g);
    let rows = pl.oy1 - pl.oy0;
    let hw = g.h * g.w;
    for ci in chans.clone() {
        for ky in 0..g.k {
            for kx in 0..g.k {
                let r = ((ci - chans.start) * g.k + ky) * g.k + kx;
                let (lo, hi) = g.valid_ox(kx);
                let row = &mut col[r * cols..(r + 1) * cols];
                for j in 0..pl.ns {
                    let plane = &x[((pl.s0 + j) * g.cin + ci) * hw..][..hw];
                    for t in 0..rows {
                        let dst = &mut row[(j * rows + t) * g.wo..][..g.wo];
                        let iy = ((pl.oy0 + t) * g.stride + ky) as isize - g.pad as isize;
                        if iy < 0 || iy >= g.h as isize {
                            dst.fill(0.0);
                            continue;
                        }
                        let src = &plane[iy as usize * g.w..][..g.w];
                        dst[..lo].fill(0.0);
                        dst[hi..].fill(0.0);
                        let off = kx as isize - g.pad as isize;
                        if g.stride == 1 {
                            let a = (lo as isize + off) as usize;
                            dst[lo..hi].copy_from_slice(&src[a..a + (hi - lo)]);
                        } else if lo < hi {
                            let a = (lo as isize * 2 + off) as usize;
                            every_other(&src[a..a + 2 * (hi - lo) - 1], &mut dst[lo..hi]);
                        }
                    }
                }
            }
        }
    }
}

/// `dst[i] = src[2·i]` (`src` holds 2·len − 1 values): the stride-2 im2col gather, which as a
/// scalar loop was ~4% of a ResNet-20 step.
fn every_other(src: &[f32], dst: &mut [f32]) {
    assert_eq!(src.len() + 1, 2 * dst.len());
    #[cfg(target_arch = "x86_64")]
    if cpu::has_avx512() {
        // SAFETY: the CPU has AVX-512F; the lengths were checked above.
        unsafe { every_other_avx512(src, dst) };
        return;
    }
    for (d, s) in dst.iter_mut().zip(src.iter().step_by(2)) {
        *d = *s;
    }
}

/// Load/store masks covering the first `span` (≤ 32) floats of two consecutive 16-float vectors.
#[cfg(target_arch = "x86_64")]
fn span_masks(span: usize) -> (u16, u16) {
    let lo = if span >= 16 { 0xFFFF } else { (1 << span) - 1 };
    let hi = if span > 16 { (1 << (span - 16)) - 1 } else { 0 };
    (lo, hi)
}

/// [`every_other`] 16 outputs at a time: two (masked) loads of 16 and one two-source permute.
///
/// # Safety
/// The CPU must have AVX-512F; `src.len() + 1 == 2 * dst.len()`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn every_other_avx512(src: &[f32], dst: &mut [f32]) {
    use std::arch::x86_64::*;
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let mut i = 0;
    while i < dst.len() {
        let m = (dst.len() - i).min(16);
        // Source values 2i .. 2i + 2m − 1 (never past the slice's end).
        let (lo_mask, hi_mask) = span_masks(2 * m - 1);
        let p = src.as_ptr().add(2 * i);
        let a = _mm512_maskz_loadu_ps(lo_mask, p);
        let b = _mm512_maskz_loadu_ps(hi_mask, p.add(16));
        let v = _mm512_permutex2var_ps(a, even, b);
        _mm512_mask_storeu_ps(dst.as_mut_ptr().add(i), ((1u32 << m) - 1) as __mmask16, v);
        i += m;
    }
}

/// `dst[2·i] += src[i]` (`dst` holds 2·len − 1 values): the stride-2 col2im scatter, which as a
/// scalar loop was ~10% of a stride-2 convolution's forward and backward.
fn add_every_other(src: &[f32], dst: &mut [f32]) {
    assert_eq!(dst.len() + 1, 2 * src.len());
    #[cfg(target_arch = "x86_64")]
    if cpu::has_avx512() {
        // SAFETY: the CPU has AVX-512F; the lengths were checked above.
        unsafe { add_every_other_avx512(src, dst) };
        return;
    }
    for (d, s) in dst.iter_mut().step_by(2).zip(src) {
        *d += s;
    }
}

/// [`add_every_other`] 16 inputs at a time: each half spread to the even lanes of one vector
/// (odd lanes zero) and added to 16 destination values with masked loads and stores.
///
/// # Safety
/// The CPU must have AVX-512F; `dst.len() + 1 == 2 * src.len()`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn add_every_other_avx512(src: &[f32], dst: &mut [f32]) {
    use std::arch::x86_64::*;
    let spread_lo = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    let spread_hi = _mm512_setr_epi32(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
    let even: __mmask16 = 0x5555;
    let mut i = 0;
    while i < src.len() {
        let m = (src.len() - i).min(16);
        // Destination values 2i .. 2i + 2m − 1 (never past the slice's end).
        let (lo_mask, hi_mask) = span_masks(2 * m - 1);
        let s = _mm512_maskz_loadu_ps(((1u32 << m) - 1) as __mmask16, src.as_ptr().add(i));
        let d = dst.as_mut_ptr().add(2 * i);
        let a = _mm512_maskz_loadu_ps(lo_mask, d);
        let b = _mm512_maskz_loadu_ps(hi_mask, d.add(16));
        let a = _mm512_add_ps(a, _mm512_maskz_permutexvar_ps(even, spread_lo, s));
        let b = _mm512_add_ps(b, _mm512_maskz_permutexvar_ps(even, spread_hi, s));
        _mm512_mask_storeu_ps(d, lo_mask, a);
        _mm512_mask_storeu_ps(d.add(16), hi_mask, b);
        i += m;
    }
}

/// Adds the panel `col` (rows (ci, ky, kx) for input channels `chans`, ci counted from
/// `chans.start`, `cols` values each) back onto `dx` (the adjoint of [`im2col`]); `dx` holds the
/// input gradient of the whole batch.
///
/// # Safety
/// `dx` must point to the batch's input gradient (N × Cin × H × W), and no other thread may
/// touch the planes of the panel's samples and `chans` during the call.
unsafe fn col2im(g: &Geom, col: &[f32], pl: &Panel, chans: std::ops::Range<usize>, dx: SendPtr) {
    let cols = pl.cols(g);
    let rows = pl.oy1 - pl.oy0;
    let hw = g.h * g.w;
    for ci in chans.clone() {
        for ky in 0..g.k {
            for kx in 0..g.k {
                let r = ((ci - chans.start) * g.k + ky) * g.k + kx;
                let (lo, hi) = g.valid_ox(kx);
                let row = &col[r * cols..(r + 1) * cols];
                for j in 0..pl.ns {
                    let at = ((pl.s0 + j) * g.cin + ci) * hw;
                    // SAFETY: the caller's contract: this plane is ours alone.
                    let plane = unsafe { dx.slice(at..at + hw) };
                    for t in 0..rows {
                        let src = &row[(j * rows + t) * g.wo..][..g.wo];
                        let iy = ((pl.oy0 + t) * g.stride + ky) as isize - g.pad as isize;
                        if iy < 0 || iy >= g.h as isize {
                            continue;
                        }
                        let dst = &mut plane[iy as usize * g.w..][..g.w];
                        let off = kx as isize - g.pad as isize;
                        if g.stride == 1 {
                            let a = (lo as isize + off) as usize;
                            for (d, s) in dst[a..a + (hi - lo)].iter_mut().zip(&src[lo..hi]) {
                                *d += s;
                            }
                        } else if lo < hi {
                            let a = (lo as isize * 2 + off) as usize;
                            add_every_other(&src[lo..hi], &mut dst[a..a + 2 * (hi - lo) - 1]);
                        }
                    }
                }
            }
        }
    }
}

/// Forward pass over samples `s0..s1` into `y` (the whole output, NCHW).
fn forward_group(g: &Geom, x: &[f32], wt: &[f32], y: SendPtr, s0: usize, s1: usize) {
    let (p, kd) = (g.p(), g.kdim());
    let wmat = Mat::rows(wt.as_ptr(), kd);
    for pl in panels(g, s0, s1) {
        let cols = pl.cols(g);
        let col_len = if g.is_pointwise() && pl.ns == 1 {
            0
        } else {
            kd * cols
        };
        let tmp_len = if pl.ns > 1 { g.cout * cols } else { 0 };
        cpu::with_scratch([col_len, tmp_len], |[col, tmp]| {
            let rhs = if col_len == 0 {
                let base = &x[pl.s0 * g.cin * p + pl.oy0 * g.wo..];
                Mat::rows(base.as_ptr(), p)
            } else {
                im2col(g, x, &pl, 0..g.cin, col);
                Mat::rows(col.as_ptr(), cols)
            };
            if pl.ns == 1 {
                // SAFETY: this panel's output rows belong to this thread alone; extents are
                // cout rows of `cols` values at row stride p inside `y`.
                unsafe {
                    let dst = y.0.add(pl.s0 * g.cout * p + pl.oy0 * g.wo);
                    cpu::sgemm(g.cout, cols, kd, MatMut::rows(dst, p), false, wmat, rhs);
                }
            } else {
                // SAFETY: `tmp` is cout × cols, owned by this call.
                unsafe {
                    let dst = MatMut::rows(tmp.as_mut_ptr(), cols);
                    cpu::sgemm(g.cout, cols, kd, dst, false, wmat, rhs);
                }
                for j in 0..pl.ns {
                    for co in 0..g.cout {
                        let src = &tmp[co * cols + j * p..][..p];
                        // SAFETY: sample pl.s0 + j belongs to this thread's group.
                        unsafe {
                            let dst = y.0.add(((pl.s0 + j) * g.cout + co) * p);
                            std::ptr::copy_nonoverlapping(src.as_ptr(), dst, p);
                        }
                    }
                }
            }
        });
    }
}

/// Forward pass through the direct 3×3 kernels, the threads taking one side-by-side group of
/// samples ([`direct::group`]) at a time.
fn forward_direct(g: &Geom, x: &[f32], wt: &[f32]) -> Vec<f32> {
    let ns = direct::group(g.w);
    let full = Plane::new(g.h, g.w, ns);
    let wk = direct::pack_forward(wt, g.cout, g.cin);
    let (hw, p) = (g.h * g.w, g.p());
    let res_len = g.cout * full.positions();
    let fill = |yp: SendPtr| {
        cpu::for_chunks(g.n, ns, |_, r| {
            // Through a reference: the closure must capture the `Send` wrapper, not its field.
            let yp = &yp;
            cpu::with_scratch([g.cin * full.stride(), res_len, res_len], |[xt, yq, tmp]| {
                let mut s = r.start;
                while s < r.end {
                    let m = ns.min(r.end - s);
                    let pl = if m == ns {
                        full
                    } else {
                        Plane::new(g.h, g.w, m)
                    };
                    direct::pad_planes(&x[s * g.cin * hw..(s + m) * g.cin * hw], g.cin, &pl, xt);
                    // SAFETY: samples s..s+m belong to this task's range alone.
                    let ys = unsafe { yp.slice(s * g.cout * p..(s + m) * g.cout * p) };
                    // SAFETY: `direct_forward` checked `available()` and the channel count;
                    // the buffers are sized for the full group, which no group exceeds.
                    unsafe {
                        direct::conv_positions(xt, g.cin, &wk, g.cout, &pl, yq);
                        direct::unpack_positions(yq, g.cout, &pl, tmp, ys);
                    }
                    s += m;
                }
            })
        })
    };
    // SAFETY: every sample's output planes are written in full by `unpack_positions`.
    unsafe { cpu::filled(g.n * g.cout * p, fill) }
}

/// Backward pass through the direct 3×3 kernels: (dx if needed, dw if needed).
///
/// The work is two kinds of task taken from one shared cursor: first the weight-gradient slots
/// (a fixed cut of the batch, each with its own accumulator), then the input gradient one
/// side-by-side group at a time. The slots are few and long (ResNet-18's 8×8 stage at batch 32
/// has four); with the input gradient folded into them, the thread that finished first waited
/// for a whole slot at the end (~4% of a ResNet-18 step). Queued after them, the short input-
/// gradient tasks fill that wait.
fn backward_direct(
    g: &Geom,
    x: &[f32],
    wt: &[f32],
    dy: &[f32],
    need: Need,
) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
    let ns = direct::group(g.w);
    let full = Plane::new(g.h, g.w, ns);
    let (hw, p, q) = (g.h * g.w, g.p(), full.positions());
    let wkx = need.dx.then(|| direct::pack_input_grad(wt, g.cout, g.cin));
    let mut dx = need.dx.then(|| Vec::with_capacity(g.n * g.cin * hw));
    let dxp = SendPtr(dx.as_mut().map_or(std::ptr::null_mut(), |v| v.as_mut_ptr()));
    let wlen = if need.dw { g.cout * g.cin * 9 } else { 0 };
    // Groups per weight-gradient pass: up to the kernel's block, but small enough that the batch
    // still makes two slots per thread.
    let block = if need.dw {
        (g.n / (ns * 2 * cpu::threads())).clamp(1, direct::weight_grad_block())
    } else {
        1
    };
    // Each slot sums its samples in the same order whichever thread runs it, so the gradient is
    // bit-for-bit the same from run to run (resumed runs depend on it).
    let unit = block * ns;
    let units = g.n.div_ceil(unit);
    let slots = if need.dw {
        units.min(SLOTS_PER_THREAD * cpu::threads()).max(1)
    } else {
        0
    };
    let slot_range =
        |k: usize| (k * units / slots * unit)..((k + 1) * units / slots * unit).min(g.n);
    let groups = if need.dx { g.n.div_ceil(ns) } else { 0 };
    let plane_for = |m: usize| {
        if m == ns {
            full
        } else {
            Plane::new(g.h, g.w, m)
        }
    };
    let lens = [
        if need.dw {
            block * g.cin * full.stride()
        } else {
            0
        },
        g.cout * full.stride(),
        if need.dw {
            block * q * direct::dy_ld(g.cout)
        } else {
            0
        },
        if need.dx { q * g.cin } else { 0 },
        if need.dx { q * g.cin } else { 0 },
    ];
    let dw = cpu::with_scratch([slots * wlen], |[parts]| {
        let pp = SendPtr(parts.as_mut_ptr());
        cpu::for_chunks(slots + groups, 1, |_, tasks| {
            cpu::with_scratch(lens, |[xt, dyp, dyq, dxq, tmp]| {
                for k in tasks {
                    if k < slots {
                        // SAFETY: accumulator `k` ([Cin][9][Cout]) belongs to slot k alone.
                        let dwt = unsafe { pp.slice(k * wlen..(k + 1) * wlen) };
                        weight_grad_slot(
                            g,
                            x,
                            dy,
                            slot_range(k),
                            block,
                            &plane_for,
                            dwt,
                            [xt, dyp, dyq],
                        );
                        continue;
                    }
                    let s = (k - slots) * ns;
                    let m = ns.min(g.n - s);
                    let pl = plane_for(m);
                    let wk = wkx
                        .as_ref()
                        .expect("input-gradient tasks only when dx is needed");
                    direct::pad_planes(&dy[s * g.cout * p..(s + m) * g.cout * p], g.cout, &pl, dyp);
                    // SAFETY: group k's samples belong to this task alone.
                    let dxs = unsafe { dxp.slice(s * g.cin * hw..(s + m) * g.cin * hw) };
                    // SAFETY: `direct_backward` checked `available()` and that cin fills whole
                    // tiles; the buffers are sized for the full group.
                    unsafe {
                        direct::conv_positions(dyp, g.cout, wk, g.cin, &pl, dxq);
                        direct::unpack_positions(dxq, g.cin, &pl, tmp, dxs);
                    }
                }
            })
        });
        // [Cin][9][Cout] → (Cout, Cin, 3, 3)
        need.dw.then(|| sum_transposed(parts, wlen, g.cout))
    });
    if let Some(v) = dx.as_mut() {
        // SAFETY: every sample's input-gradient planes were written in full by
        // `unpack_positions`; f32 has no invalid bit patterns.
        unsafe { v.set_len(g.n * g.cin * hw) };
    }
    (dx, dw)
}

/// One weight-gradient slot of [`backward_direct`]: sums samples `r` into `dwt` (written, not
/// added to), `block` side-by-side groups per pass, through three scratch buffers: the padded
/// inputs, one padded output gradient, and the position-major output gradients.
#[allow(clippy::too_many_arguments)]
fn weight_grad_slot(
    g: &Geom,
    x: &[f32],
    dy: &[f32],
    r: std::ops::Range<usize>,
    block: usize,
    plane_for: &dyn Fn(usize) -> Plane,
    dwt: &mut [f32],
    [xt, dyp, dyq]: [&mut [f32]; 3],
) {
    let ns = direct::group(g.w);
    let (hw, p) = (g.h * g.w, g.p());
    let mut first = true;
    let mut s0 = r.start;
    while s0 < r.end {
        // Up to `block` whole groups, or the range's last, partial group alone.
        let m = ns.min(r.end - s0);
        let pl = plane_for(m);
        let nb = if m == ns {
            block.min((r.end - s0) / ns)
        } else {
            1
        };
        for j in 0..nb {
            let s = s0 + j * m;
            direct::pad_planes(&dy[s * g.cout * p..(s + m) * g.cout * p], g.cout, &pl, dyp);
            let xj = &mut xt[j * g.cin * pl.stride()..][..g.cin * pl.stride()];
            direct::pad_planes(&x[s * g.cin * hw..(s + m) * g.cin * hw], g.cin, &pl, xj);
            let len = pl.positions() * direct::dy_ld(g.cout);
            let dyj = &mut dyq[j * len..][..len];
            // SAFETY: the buffers are sized for `block` full groups, which no pass exceeds.
            unsafe { direct::positions_from_padded(dyp, g.cout, &pl, dyj) };
        }
        // SAFETY: `direct_backward` checked `available()`; `xt`/`dyq` hold the `nb` groups just
        // prepared.
        unsafe { direct::weight_grad(xt, dyq, nb, g.cin, g.cout, &pl, dwt, first) };
        first = false;
        s0 += nb * m;
    }
}

/// Sums the per-slot weight-gradient accumulators in `parts` (each `wlen` long, laid out
/// K × `cout`) in slot order and returns the total transposed to the weight's (`cout`, K) layout.
/// Runs on every thread (ResNet-18's 256-channel layers have four 2.3 MiB accumulators).
fn sum_transposed(parts: &[f32], wlen: usize, cout: usize) -> Vec<f32> {
    const TILE: usize = 16;
    let k = wlen / cout;
    let nparts = parts.len() / wlen.max(1);
    // Tiles of 16 K-rows: each thread writes whole 16-value runs of the transposed rows.
    let fill = |dp: SendPtr| {
        cpu::for_ranges(k.div_ceil(TILE), |_, r| {
            // Through a reference: the closure must capture the `Send` wrapper, not its field.
            let dp = &dp;
            for tile in r {
                let k0 = tile * TILE;
                let kn = TILE.min(k - k0);
                for co in 0..cout {
                    // SAFETY: rows k0..k0+kn of output row `co` belong to this tile alone.
                    let out = unsafe { dp.slice(co * k + k0..co * k + k0 + kn) };
                    for (i, o) in out.iter_mut().enumerate() {
                        let at = (k0 + i) * cout + co;
                        *o = (0..nparts).map(|pi| parts[pi * wlen + at]).sum();
                    }
                }
            }
        })
    };
    // SAFETY: the tiles cover every (co, kk) element once.
    unsafe { cpu::filled(wlen, fill) }
}

/// Samples per plane on the wide direct path: ResNet-18's batch of 32 in one plane.
const WIDE_GROUP: usize = 32;

/// The 3×3 convolution of `src` (N × `c_in` maps) with weights packed for (`c_out`, `c_in`)
/// ([`direct::pack_forward`], or [`direct::pack_input_grad`] for the input gradient), for small
/// maps: up to [`WIDE_GROUP`] samples side by side in one padded plane, the work split by
/// blocks of 64 output channels. On ResNet-18's 4×4 stage (512 channels, 9 MiB of weights) a
/// split by samples made every task stream all the weights, which is why these maps went
/// through im2col and a GEMM at about half the FMA peak; here each task reads only its block's
/// weights, once per group.
fn conv_wide(g: &Geom, src: &[f32], c_in: usize, wk: &[f32], c_out: usize) -> Vec<f32> {
    const BLOCK: usize = 64;
    let (hw, n) = (g.h * g.w, g.n);
    let groups = n.div_ceil(WIDE_GROUP);
    let plane_of = |gi: usize| Plane::new(g.h, g.w, WIDE_GROUP.min(n - gi * WIDE_GROUP));
    let full = plane_of(0);
    let gstride = c_in * full.stride();
    let in_chunks = c_in.div_ceil(BLOCK);
    let blocks = c_out / BLOCK;
    cpu::with_scratch([groups * gstride], |[xt]| {
        let xp = SendPtr(xt.as_mut_ptr());
        cpu::for_chunks(groups * in_chunks, 1, |_, tasks| {
            for t in tasks {
                let (gi, pl) = (t / in_chunks, plane_of(t / in_chunks));
                let chans = (t % in_chunks) * BLOCK..((t % in_chunks + 1) * BLOCK).min(c_in);
                let s0 = gi * WIDE_GROUP;
                let at = gi * gstride + chans.start * pl.stride();
                // SAFETY: these padded planes of group gi belong to this task alone.
                let dst = unsafe { xp.slice(at..at + chans.len() * pl.stride()) };
                let m = WIDE_GROUP.min(n - s0);
                let group = &src[s0 * c_in * hw..(s0 + m) * c_in * hw];
                direct::pad_channel_planes(group, c_in, chans, &pl, dst);
            }
        });
        let xt: &[f32] = xt;
        let fill = |yp: SendPtr| {
            let res_len = BLOCK * full.positions();
            cpu::for_chunks(groups * blocks, 1, |_, tasks| {
                // Through a reference: the closure must capture the `Send` wrapper.
                let yp = &yp;
                cpu::with_scratch([res_len, res_len], |[res, tmp]| {
                    for t in tasks {
                        let (gi, cb) = (t / blocks, t % blocks);
                        let pl = plane_of(gi);
                        let x = &xt[gi * gstride..gi * gstride + c_in * pl.stride()];
                        let w = &wk[cb * BLOCK * c_in * 9..(cb + 1) * BLOCK * c_in * 9];
                        // SAFETY: `wide_direct` checked `available()`; blocks of 64 channels
                        // fill whole tiles; `res`/`tmp` are sized for the full group. Channels
                        // cb·64.. of group gi's samples belong to this task alone.
                        unsafe {
                            direct::conv_positions(x, c_in, w, BLOCK, &pl, res);
                            let dst = SendPtr(yp.0.add(gi * WIDE_GROUP * c_out * hw));
                            direct::unpack_channel_positions(
                                res,
                                BLOCK,
                                &pl,
                                tmp,
                                dst,
                                c_out,
                                cb * BLOCK,
                            );
                        }
                    }
                })
            })
        };
        // SAFETY: the tasks cover every (group, channel block), writing every plane of it.
        unsafe { cpu::filled(n * c_out * hw, fill) }
    })
}

/// Forward convolution of NCHW `x` with `wt`, returning the NCHW output buffer.
pub(super) fn forward(g: &Geom, x: &[f32], wt: &[f32]) -> Vec<f32> {
    if g.winograd() {
        let wt = winograd::Weights::new(wt, g.cout, g.cin);
        return winograd::forward(x, (g.n, g.h, g.w), &wt);
    }
    if g.direct_forward() {
        return forward_direct(g, x, wt);
    }
    if g.wide_direct(g.cout) {
        let wk = direct::pack_forward(wt, g.cout, g.cin);
        return conv_wide(g, x, g.cin, &wk, g.cout);
    }
    let tasks = sample_tasks(g);
    let fill = |yp: SendPtr| {
        cpu::for_chunks(tasks.len(), 1, |_, r| {
            for &(s0, s1) in &tasks[r] {
                forward_group(g, x, wt, yp, s0, s1);
            }
        })
    };
    // SAFETY: the tasks cover every sample, and the GEMMs write every output element of theirs
    // (read_dst = false never reads them).
    unsafe { cpu::filled(g.n * g.cout * g.p(), fill) }
}

/// The GEMM path's tasks: ranges of whole samples (so two tasks never add into the same input
/// plane in `col2im`), one panel's worth each, yet at least one per thread. The threads take
/// them from a shared cursor: with one fixed range per thread, the caller waited for the slower
/// core ~4% of a ResNet-18 step.
fn sample_tasks(g: &Geom) -> Vec<(usize, usize)> {
    let per = if g.p() >= PANEL_COLS {
        1
    } else {
        PANEL_COLS / g.p()
    };
    let per = per.min(g.n.div_ceil(cpu::threads())).max(1);
    (0..g.n.div_ceil(per))
        .map(|i| (i * per, ((i + 1) * per).min(g.n)))
        .collect()
}

/// What the backward pass has to produce.
#[derive(Clone, Copy)]
pub(super) struct Need {
    pub(super) dx: bool,
    pub(super) dw: bool,
}

/// The output gradient of panel `pl` as a cout × cols matrix: read in place for a panel within
/// one sample, else gathered into `dyt` (cout × cols).
fn panel_dy(g: &Geom, dy: &[f32], pl: &Panel, dyt: &mut [f32]) -> Mat {
    let (p, cols) = (g.p(), pl.cols(g));
    if pl.ns == 1 {
        return Mat::rows(dy[pl.s0 * g.cout * p + pl.oy0 * g.wo..].as_ptr(), p);
    }
    for j in 0..pl.ns {
        for co in 0..g.cout {
            dyt[co * cols + j * p..][..p]
                .copy_from_slice(&dy[((pl.s0 + j) * g.cout + co) * p..][..p]);
        }
    }
    Mat::rows(dyt.as_ptr(), cols)
}

/// The backward pass of a layer whose weights outweigh its output gradient (ResNet-18's last
/// stage, the wide stride-2 layers at small batches), split by input channels instead of
/// samples. A weight-gradient task owns a range of dW's columns and sums over the whole batch;
/// an input-gradient task owns a range of dX's channel planes. Split by samples, every thread
/// re-packed the whole weight matrix (9 MiB) for each of its GEMMs and summed a 9 MiB partial
/// gradient afterwards; here the weights are packed once in all, and only the (smaller) output
/// gradient is read by every task. The ranges are fixed, so which thread runs one does not
/// change the result.
fn backward_by_channels(
    g: &Geom,
    x: &[f32],
    wt: &[f32],
    dy: &[f32],
    need: Need,
) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
    let (kd, kk, hw) = (g.kdim(), g.k * g.k, g.h * g.w);
    let chunk = g.cin.div_ceil(SLOTS_PER_THREAD * cpu::threads()).max(1);
    let ranges = g.cin.div_ceil(chunk);
    let chans_of = |i: usize| i * chunk..((i + 1) * chunk).min(g.cin);
    let all = panels(g, 0, g.n);
    // Every task reads every panel's output gradient: gather the multi-sample panels once, up
    // front (each task gathering its own copy was ~6% of the last stage's convolution).
    let mut at = Vec::with_capacity(all.len());
    let mut gathered = 0;
    for pl in &all {
        at.push(gathered);
        if pl.ns > 1 {
            gathered += g.cout * pl.cols(g);
        }
    }
    let mut dw = need.dw.then(|| Vec::with_capacity(g.cout * kd));
    let dwp = SendPtr(dw.as_mut().map_or(std::ptr::null_mut(), |v| v.as_mut_ptr()));
    let mut dx = need.dx.then(|| Vec::with_capacity(g.n * g.cin * hw));
    let dxp = SendPtr(dx.as_mut().map_or(std::ptr::null_mut(), |v| v.as_mut_ptr()));
    cpu::with_scratch([gathered], |[dyts]| {
        let gp = SendPtr(dyts.as_mut_ptr());
        cpu::for_chunks(all.len(), 1, |_, r| {
            for i in r.filter(|&i| all[i].ns > 1) {
                // SAFETY: panel i's region of the gather buffer belongs to this task alone.
                let dst = unsafe { gp.slice(at[i]..at[i] + g.cout * all[i].cols(g)) };
                panel_dy(g, dy, &all[i], dst);
            }
        });
        let dyts: &[f32] = dyts;
        let dy_of = |i: usize, pl: &Panel| {
            if pl.ns > 1 {
                Mat::rows(dyts[at[i]..].as_ptr(), pl.cols(g))
            } else {
                panel_dy(g, dy, pl, &mut [])
            }
        };
        // Weight-gradient ranges first, then input-gradient ranges.
        let dw_tasks = if need.dw { ranges } else { 0 };
        let dx_tasks = if need.dx { ranges } else { 0 };
        cpu::for_chunks(dw_tasks + dx_tasks, 1, |_, tasks| {
            // Through references: the closure must capture the `Send` wrappers, not their fields.
            let (dwp, dxp) = (&dwp, &dxp);
            for t in tasks {
                let chans = chans_of(t % ranges);
                let ksub = chans.len() * kk;
                if t < dw_tasks {
                    for (i, pl) in all.iter().enumerate() {
                        let cols = pl.cols(g);
                        cpu::with_scratch([ksub * cols], |[col]| {
                            im2col(g, x, pl, chans.clone(), col);
                            // dW[:, these columns] (+)= dY (cout × cols) · colᵀ (cols × ksub)
                            let dst = MatMut {
                                // SAFETY: columns chans·k² of every dW row lie inside the buffer.
                                ptr: unsafe { dwp.0.add(chans.start * kk) },
                                rs: kd as isize,
                                cs: 1,
                            };
                            let colt = Mat::cols(col.as_ptr(), cols);
                            // SAFETY: this task alone writes these columns; `col` is ksub × cols;
                            // the first panel writes them, the later ones add.
                            unsafe {
                                cpu::sgemm(g.cout, ksub, cols, dst, i > 0, dy_of(i, pl), colt)
                            };
                        });
                    }
                    continue;
                }
                for s in 0..g.n {
                    // SAFETY: these channel planes of `dx` belong to this task alone; `col2im`
                    // adds into them, so they start at zero.
                    unsafe {
                        std::ptr::write_bytes(
                            dxp.0.add((s * g.cin + chans.start) * hw),
                            0,
                            chans.len() * hw,
                        )
                    };
                }
                // Rows chans·k² of Wᵀ (K × cout).
                let wtm = Mat::cols(wt[chans.start * kk..].as_ptr(), kd);
                for (i, pl) in all.iter().enumerate() {
                    let cols = pl.cols(g);
                    cpu::with_scratch([ksub * cols], |[dcol]| {
                        // dcol (ksub × cols) = Wᵀ[these rows] (ksub × cout) · dY (cout × cols)
                        let dst = MatMut::rows(dcol.as_mut_ptr(), cols);
                        // SAFETY: `dcol` is ksub × cols, owned by this call.
                        unsafe { cpu::sgemm(ksub, cols, g.cout, dst, false, wtm, dy_of(i, pl)) };
                        // SAFETY: these channels' planes belong to this task alone.
                        unsafe { col2im(g, dcol, pl, chans.clone(), *dxp) };
                    });
                }
            }
        });
    });
    // SAFETY: the channel ranges cover every column of dW (each range's first panel writes all
    // cout rows of its columns) and every channel plane of dX (zeroed, then added to); f32 has
    // no invalid bit patterns.
    unsafe {
        if let Some(v) = dw.as_mut() {
            v.set_len(g.cout * kd);
        }
        if let Some(v) = dx.as_mut() {
            v.set_len(g.n * g.cin * hw);
        }
    }
    (dx, dw)
}

/// Backward over samples `s0..s1`: sums into `dwt` (this group's own K × Cout accumulator, i.e.
/// dW transposed: the orientation the GEMM runs fastest in; its contents on entry are
/// overwritten) and writes this group's samples of `dx` (zero-initialised, whole input shape).
#[allow(clippy::too_many_arguments)]
fn backward_group(
    g: &Geom,
    x: &[f32],
    wt: &[f32],
    dy: &[f32],
    need: Need,
    dx: SendPtr,
    dwt: &mut [f32],
    (s0, s1): (usize, usize),
) {
    let (kd, hw) = (g.kdim(), g.h * g.w);
    for (i, pl) in panels(g, s0, s1).into_iter().enumerate() {
        let cols = pl.cols(g);
        let direct = g.is_pointwise() && pl.ns == 1;
        let col_len = if need.dw && !direct { kd * cols } else { 0 };
        let dcol_len = if need.dx && !direct { kd * cols } else { 0 };
        let dyt_len = if pl.ns > 1 { g.cout * cols } else { 0 };
        cpu::with_scratch([col_len, dcol_len, dyt_len], |[col, dcol, dyt]| {
            let dym = panel_dy(g, dy, &pl, dyt);
            if need.dw {
                // dW (cout × K) += dY (cout × cols) · colᵀ (cols × K), stored transposed.
                let colt = if direct {
                    Mat::cols(x[pl.s0 * g.cin * hw + pl.oy0 * g.wo..].as_ptr(), hw)
                } else {
                    im2col(g, x, &pl, 0..g.cin, col);
                    Mat::cols(col.as_ptr(), cols)
                };
                let dst = MatMut {
                    ptr: dwt.as_mut_ptr(),
                    rs: 1,
                    cs: g.cout as isize,
                };
                // SAFETY: `dwt` is this group's own K × cout accumulator.
                unsafe { cpu::sgemm(g.cout, kd, cols, dst, i > 0, dym, colt) };
            }
            if need.dx {
                // dcol (K × cols) = Wᵀ (K × cout) · dY (cout × cols)
                let wtm = Mat::cols(wt.as_ptr(), kd);
                if direct {
                    // SAFETY: rows oy0..oy1 of sample s0 belong to this thread; a pointwise conv's
                    // panel maps one-to-one onto those input pixels.
                    unsafe {
                        let dst = MatMut::rows(dx.0.add(pl.s0 * g.cin * hw + pl.oy0 * g.wo), hw);
                        cpu::sgemm(kd, cols, g.cout, dst, false, wtm, dym);
                    }
                } else {
                    let dst = MatMut::rows(dcol.as_mut_ptr(), cols);
                    // SAFETY: `dcol` is K × cols, owned by this call.
                    unsafe { cpu::sgemm(kd, cols, g.cout, dst, false, wtm, dym) };
                    // SAFETY: samples s0..s1 of `dx` belong to this thread's group alone.
                    unsafe { col2im(g, dcol, &pl, 0..g.cin, dx) };
                }
            }
        });
    }
}

/// Backward convolution: (dx if needed, dw if needed).
pub(super) fn backward(
    g: &Geom,
    x: &[f32],
    wt: &[f32],
    dy: &[f32],
    need: Need,
) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
    if g.winograd() {
        let dx = need.dx.then(|| {
            let wt = winograd::Weights::new(wt, g.cout, g.cin);
            winograd::input_grad(dy, (g.n, g.h, g.w), &wt)
        });
        let dw = need
            .dw
            .then(|| winograd::weight_grad(x, (g.n, g.cin, g.h, g.w), dy, g.cout));
        return (dx, dw);
    }
    if g.direct_backward(need.dx) {
        return backward_direct(g, x, wt, dy, need);
    }
    if need.dx && g.wide_direct(g.cin) {
        // The input gradient on the wide direct path, the weight gradient on the GEMM path.
        let wk = direct::pack_input_grad(wt, g.cout, g.cin);
        let dx = conv_wide(g, dy, g.cout, &wk, g.cin);
        let weights_only = Need {
            dx: false,
            dw: true,
        };
        let dw = need
            .dw
            .then(|| backward(g, x, wt, dy, weights_only).1)
            .flatten();
        return (Some(dx), dw);
    }
    let (hw, kd) = (g.h * g.w, g.kdim());
    // Weights larger than the output gradient (per thread): split by input channels.
    if kd * cpu::threads() > g.n * g.p() {
        return backward_by_channels(g, x, wt, dy, need);
    }
    let wlen = if need.dw { g.cout * kd } else { 0 };
    let mut dx = need.dx.then(|| Vec::with_capacity(g.n * g.cin * hw));
    let dxp = SendPtr(dx.as_mut().map_or(std::ptr::null_mut(), |v| v.as_mut_ptr()));
    // Slots of whole tasks, each with its own K × cout accumulator, fixed by the shapes so the
    // sum does not depend on which thread ran which slot. Without a weight gradient every task
    // is a slot.
    let tasks = sample_tasks(g);
    let slots = if need.dw {
        tasks.len().min(SLOTS_PER_THREAD * cpu::threads())
    } else {
        tasks.len()
    };
    let slot_samples = |k: usize| {
        (
            tasks[k * tasks.len() / slots].0,
            tasks[(k + 1) * tasks.len() / slots - 1].1,
        )
    };
    let dw = cpu::with_scratch([slots * wlen], |[parts]| {
        let pp = SendPtr(parts.as_mut_ptr());
        cpu::for_chunks(slots, 1, |_, ks| {
            for k in ks {
                let (s0, s1) = slot_samples(k);
                if need.dx {
                    // SAFETY: this slot's samples of `dx` belong to it alone; `col2im` adds into
                    // them, so they start at zero.
                    unsafe {
                        std::ptr::write_bytes(dxp.0.add(s0 * g.cin * hw), 0, (s1 - s0) * g.cin * hw)
                    };
                }
                // SAFETY: accumulator `k` is used by this slot alone.
                let dwt = unsafe { pp.slice(k * wlen..(k + 1) * wlen) };
                backward_group(g, x, wt, dy, need, dxp, dwt, (s0, s1));
            }
        });
        // K × cout → (cout, K)
        need.dw.then(|| sum_transposed(parts, wlen, g.cout))
    });
    if let Some(v) = dx.as_mut() {
        // SAFETY: the slots cover every sample, each zeroed its planes before adding into them;
        // f32 has no invalid bit patterns.
        unsafe { v.set_len(g.n * g.cin * hw) };
    }
    (dx, dw)
}

/// The convolution as a candle custom op (`x`, `weight`) → `y`.
pub struct Conv2d {
    /// Stride in both directions.
    pub stride: usize,
    /// Zero padding on every side.
    pub pad: usize,
}

impl CustomOp2 for Conv2d {
    fn name(&self) -> &'static str {
        "batchramp-conv2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = Geom::new(l1.shape(), l2.shape(), self.stride, self.pad)?;
        let x = cpu::slice("conv2d", s1, l1)?;
        let wt = cpu::slice("conv2d", s2, l2)?;
        let y = forward(&g, x, wt);
        Ok((CpuStorage::F32(y), g.out_shape()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        wt: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let g = Geom::new(x.shape(), wt.shape(), self.stride, self.pad)?;
        // The stem's input is the image batch: nothing upstream wants its gradient.
        let need = Need {
            dx: x.track_op(),
            dw: wt.track_op(),
        };
        if !need.dx && !need.dw {
            return Ok((None, None));
        }
        let (dx, dw) = cpu::with_f32("conv2d", x, |xs| {
            cpu::with_f32("conv2d", wt, |ws| {
                cpu::with_f32("conv2d", grad, |gs| backward(&g, xs, ws, gs, need))
            })
        })???;
        let dx = dx.map(|v| cpu::tensor(v, x.shape())).transpose()?;
        let dw = dw.map(|v| cpu::tensor(v, wt.shape())).transpose()?;
        Ok((dx, dw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geom(x: (usize, usize, usize, usize), cout: usize, k: usize, stride: usize) -> Geom {
        let xs = Shape::from(x);
        let ws = Shape::from((cout, x.1, k, k));
        Geom::new(&xs, &ws, stride, k / 2).unwrap()
    }

    /// The shapes the gradient checks use for the direct kernels really take them here.
    #[test]
    fn direct_path_is_chosen_where_expected() {
        let on = direct::available();
        assert_eq!(geom((3, 16, 16, 16), 16, 3, 1).direct_backward(true), on);
        assert_eq!(geom((2, 32, 17, 19), 32, 3, 1).direct_backward(true), on);
        assert_eq!(geom((9, 16, 16, 16), 64, 3, 1).direct_backward(true), on);
        assert_eq!(geom((2, 5, 32, 32), 16, 3, 1).direct_forward(), on);
        assert!(!geom((2, 5, 32, 32), 16, 3, 1).direct_backward(true));
        assert_eq!(geom((2, 5, 32, 32), 16, 3, 1).direct_backward(false), on);
        assert_eq!(geom((5, 64, 8, 8), 64, 3, 1).direct_backward(true), on);
        assert_eq!(geom((3, 32, 8, 9), 32, 3, 1).direct_backward(true), on);
        // 4×4 maps: the wide path where the outputs come in blocks of 64, else the GEMM path
        let small = geom((32, 512, 4, 4), 512, 3, 1);
        assert!(!small.direct_forward());
        assert_eq!(small.wide_direct(small.cout), on);
        assert_eq!(geom((3, 32, 4, 4), 64, 3, 1).wide_direct(64), on);
        assert!(!geom((3, 32, 4, 4), 32, 3, 1).wide_direct(32));
        assert!(!geom((3, 32, 4, 4), 32, 3, 1).direct_forward());
        // stride 2 and pointwise convs stay on the GEMM path
        assert!(!geom((2, 16, 32, 32), 32, 3, 2).direct_forward());
        assert!(!geom((2, 16, 32, 32), 32, 1, 1).direct_forward());
        assert!(!geom((2, 64, 8, 8), 64, 3, 2).wide_direct(64));
    }

    #[test]
    fn winograd_is_chosen_where_expected() {
        let on = winograd::available();
        // ResNet-18's last three stages, and uneven channel counts
        assert_eq!(geom((32, 128, 16, 16), 128, 3, 1).winograd(), on);
        assert_eq!(geom((32, 512, 4, 4), 512, 3, 1).winograd(), on);
        assert_eq!(geom((1, 130, 2, 6), 129, 3, 1).winograd(), on);
        // narrow layers, odd maps, stride 2 and 1×1 stay on the other paths
        assert!(!geom((32, 64, 32, 32), 64, 3, 1).winograd());
        assert!(!geom((32, 128, 16, 16), 64, 3, 1).winograd());
        assert!(!geom((2, 128, 5, 5), 128, 3, 1).winograd());
        assert!(!geom((2, 128, 16, 16), 256, 3, 2).winograd());
        assert!(!geom((2, 128, 16, 16), 256, 1, 1).winograd());
        // a batch whose offsets would overflow the gathers' i32 lanes
        assert!(!geom((70_000, 128, 16, 16), 128, 3, 1).winograd());
        assert!(winograd::offsets_fit(32, 512, 1024));
        assert!(!winograd::offsets_fit(usize::MAX, 2, 2));
    }

    #[test]
    fn every_other_picks_the_even_elements() {
        for len in [1, 2, 15, 16, 17, 31, 32, 33, 40] {
            let src: Vec<f32> = (0..2 * len - 1).map(|v| v as f32).collect();
            let mut dst = vec![-1.0; len];
            every_other(&src, &mut dst);
            let want: Vec<f32> = (0..len).map(|i| (2 * i) as f32).collect();
            assert_eq!(dst, want, "len {len}");
        }
    }

    #[test]
    fn add_every_other_adds_to_the_even_elements() {
        for len in [1, 2, 8, 9, 15, 16, 17, 31, 32, 33, 40] {
            let src: Vec<f32> = (0..len).map(|v| v as f32 + 1.0).collect();
            let mut dst: Vec<f32> = (0..2 * len - 1).map(|v| 1000.0 * v as f32).collect();
            add_every_other(&src, &mut dst);
            for (j, &d) in dst.iter().enumerate() {
                let add = if j % 2 == 0 {
                    (j / 2) as f32 + 1.0
                } else {
                    0.0
                };
                assert_eq!(d, 1000.0 * j as f32 + add, "len {len} index {j}");
            }
        }
    }

    #[test]
    fn panels_cover_every_output_column_once() {
        for (x, cout, k, s) in [
            ((5, 8, 7, 7), 6, 3, 1),
            ((2, 4, 32, 32), 8, 3, 1),
            ((3, 3, 48, 48), 4, 3, 2),
        ] {
            let g = geom(x, cout, k, s);
            let total: usize = panels(&g, 0, g.n).iter().map(|pl| pl.cols(&g)).sum();
            assert_eq!(total, g.n * g.p());
        }
    }
}
