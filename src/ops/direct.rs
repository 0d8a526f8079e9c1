//! Direct AVX-512 kernels for 3×3, stride-1, pad-1 convolutions on NCHW planes of at least
//! [`MIN_PIXELS`] pixels: forward, input gradient (the forward kernel on the padded output
//! gradient with flipped, transposed weights) and weight gradient.
//!
//! Hand-written for speed: for the narrow layers of CIFAR ResNets (16–128 channels on 32×32 and
//! 16×16 maps) an im2col panel costs as much as the GEMM on it. Here every plane is copied once
//! into a zero-bordered "padded-width" plane whose row stride is W+2, so each of the nine taps is
//! one constant offset and a 16-lane load reads 16 consecutive output positions; the two border
//! columns per row produce garbage lanes that are dropped when the result is compacted.
//! It must never be entered without the `avx512f` check in [`available`]; the caller falls back
//! to the im2col GEMM path otherwise.

/// Output channels per register tile (and the divisor the channel counts must respect).
pub const CB: usize = 8;
/// 16-lane vectors of output positions per register tile.
const QV: usize = 3;
/// Output positions per register tile.
const QT: usize = QV * 16;
/// Smallest plane (H·W) the direct path takes; below it the border waste and short rows favour
/// the GEMM path.
pub const MIN_PIXELS: usize = 256;
/// Output-position vectors summed in registers before a horizontal reduction in the weight
/// gradient (several small samples are chained to reach it).
const DW_VECTORS: usize = 256;

/// Whether this CPU runs the direct kernels.
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Padded-width geometry of one H×W plane.
#[derive(Clone, Copy, Debug)]
pub struct Plane {
    h: usize,
    w: usize,
    /// Row stride of the padded plane: W + 2.
    wp: usize,
    /// Output positions computed: H·(W+2) rounded up to a whole tile.
    qr: usize,
    /// Elements per padded plane: covers every tap read of every tile.
    stride: usize,
}

impl Plane {
    /// Geometry for an H×W map.
    pub fn new(h: usize, w: usize) -> Self {
        let wp = w + 2;
        let qr = (h * wp).div_ceil(QT) * QT;
        let stride = (qr + 2 * wp + 2).div_ceil(16) * 16;
        Self {
            h,
            w,
            wp,
            qr,
            stride,
        }
    }

    /// Elements per padded plane.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// Elements per padded-width result plane.
    pub fn result_len(&self) -> usize {
        self.qr
    }

    /// Samples whose weight-gradient sums share one horizontal reduction.
    pub fn samples_per_block(&self) -> usize {
        (DW_VECTORS * 16 / self.qr).max(1)
    }

    /// Offsets of the nine taps (ky, kx) relative to an output position.
    fn taps(&self) -> [usize; 9] {
        std::array::from_fn(|t| (t / 3) * self.wp + t % 3)
    }
}

/// Copies `c` planes of H×W from `src` into zero-bordered padded planes in `dst` (every element
/// of `dst`'s `c` planes is written, slack included).
pub fn pad_planes(src: &[f32], c: usize, pl: &Plane, dst: &mut [f32]) {
    let (h, w, wp) = (pl.h, pl.w, pl.wp);
    for ch in 0..c {
        let d = &mut dst[ch * pl.stride..(ch + 1) * pl.stride];
        let s = &src[ch * h * w..(ch + 1) * h * w];
        d[..wp].fill(0.0);
        for y in 0..h {
            let row = &mut d[(y + 1) * wp..(y + 2) * wp];
            row[0] = 0.0;
            row[1..=w].copy_from_slice(&s[y * w..(y + 1) * w]);
            row[w + 1] = 0.0;
        }
        d[(h + 1) * wp..].fill(0.0);
    }
}

/// Copies the valid positions of `c` padded-width result planes (stride `qr`) into H×W planes.
pub fn compact(src: &[f32], c: usize, pl: &Plane, dst: &mut [f32]) {
    let (h, w, wp) = (pl.h, pl.w, pl.wp);
    for ch in 0..c {
        for y in 0..h {
            dst[(ch * h + y) * w..][..w].copy_from_slice(&src[ch * pl.qr + y * wp..][..w]);
        }
    }
}

/// Packs weights (Cout, Cin, 3, 3) for the forward kernel: `[Cout/CB][Cin][9][CB]`.
pub fn pack_forward(wt: &[f32], cout: usize, cin: usize) -> Vec<f32> {
    let mut out = vec![0f32; cout * cin * 9];
    for co in 0..cout {
        let (cb, c) = (co / CB, co % CB);
        for ci in 0..cin {
            for t in 0..9 {
                out[((cb * cin + ci) * 9 + t) * CB + c] = wt[(co * cin + ci) * 9 + t];
            }
        }
    }
    out
}

/// Packs weights (Cout, Cin, 3, 3) for the input gradient: the forward layout of the conv whose
/// outputs are the Cin input channels, with each kernel flipped: `[Cin/CB][Cout][9][CB]`.
pub fn pack_input_grad(wt: &[f32], cout: usize, cin: usize) -> Vec<f32> {
    let mut out = vec![0f32; cout * cin * 9];
    for ci in 0..cin {
        let (cb, c) = (ci / CB, ci % CB);
        for co in 0..cout {
            for t in 0..9 {
                out[((cb * cout + co) * 9 + t) * CB + c] = wt[(co * cin + ci) * 9 + (8 - t)];
            }
        }
    }
    out
}

/// Convolves `cin` padded planes `xt` with packed weights into `cout` padded-width result planes
/// `out` (stride `pl.qr`). `cout` must be a multiple of [`CB`].
///
/// # Safety
/// The CPU must support AVX-512F ([`available`]); `xt` holds `cin` planes of `pl.stride`, `wk`
/// is packed for (`cout`, `cin`), `out` holds `cout * pl.qr` elements.
pub unsafe fn conv_planes(
    xt: &[f32],
    cin: usize,
    wk: &[f32],
    cout: usize,
    pl: &Plane,
    out: &mut [f32],
) {
    debug_assert!(cout % CB == 0 && xt.len() >= cin * pl.stride && out.len() >= cout * pl.qr);
    #[cfg(target_arch = "x86_64")]
    {
        let taps = pl.taps();
        for cb in 0..cout / CB {
            let w = wk.as_ptr().add(cb * cin * 9 * CB);
            for t in 0..pl.qr / QT {
                let o = out.as_mut_ptr().add(cb * CB * pl.qr + t * QT);
                avx512::conv_tile(xt.as_ptr().add(t * QT), pl.stride, cin, w, &taps, o, pl.qr);
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (xt, cin, wk, cout, pl, out);
        unreachable!("direct kernels are x86_64-only; callers check `available`");
    }
}

/// Adds the weight gradient of `ns` samples into `dw` (Cout, Cin, 3, 3); the sums of all `ns`
/// samples share one horizontal reduction, so pass about [`Plane::samples_per_block`] at a time.
///
/// `xt`: the samples' padded input planes (`ns × cin` planes); `dyp`: their padded output-gradient
/// planes (`ns × cout` planes, same geometry). `cout` must be even.
///
/// # Safety
/// The CPU must support AVX-512F; buffers must hold the planes described.
pub unsafe fn weight_grad(
    xt: &[f32],
    dyp: &[f32],
    ns: usize,
    cin: usize,
    cout: usize,
    pl: &Plane,
    dw: &mut [f32],
) {
    debug_assert!(cout % 2 == 0 && xt.len() >= ns * cin * pl.stride);
    debug_assert!(dyp.len() >= ns * cout * pl.stride && dw.len() >= cout * cin * 9);
    #[cfg(target_arch = "x86_64")]
    {
        let taps = pl.taps();
        // dY at output position q sits at q + wp + 1 of its padded plane; the border columns
        // and the rows past the image are zero there, so garbage positions contribute nothing.
        let shift = pl.wp + 1;
        for ci in 0..cin {
            for co in (0..cout).step_by(2) {
                let mut sums = [[0f32; 9]; 2];
                avx512::weight_grad_pair(
                    xt.as_ptr().add(ci * pl.stride),
                    cin * pl.stride,
                    dyp.as_ptr().add(co * pl.stride + shift),
                    cout * pl.stride,
                    pl.stride,
                    ns,
                    pl.qr,
                    &taps,
                    &mut sums,
                );
                for (c, row) in sums.iter().enumerate() {
                    let d = &mut dw[((co + c) * cin + ci) * 9..][..9];
                    for (a, b) in d.iter_mut().zip(row) {
                        *a += b;
                    }
                }
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (xt, dyp, ns, cin, cout, pl, dw);
        unreachable!("direct kernels are x86_64-only; callers check `available`");
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{CB, QV};

    /// One register tile: CB output channels × QT positions, summed over all input channels and
    /// taps, stored to `out` (rows `out_stride` apart).
    #[target_feature(enable = "avx512f")]
    pub unsafe fn conv_tile(
        x: *const f32,
        plane: usize,
        cin: usize,
        w: *const f32,
        taps: &[usize; 9],
        out: *mut f32,
        out_stride: usize,
    ) {
        let mut acc = [[_mm512_setzero_ps(); CB]; QV];
        for ci in 0..cin {
            let xb = x.add(ci * plane);
            let wb = w.add(ci * 9 * CB);
            for (t, &off) in taps.iter().enumerate() {
                let p = xb.add(off);
                let v = [
                    _mm512_loadu_ps(p),
                    _mm512_loadu_ps(p.add(16)),
                    _mm512_loadu_ps(p.add(32)),
                ];
                let wt = wb.add(t * CB);
                for c in 0..CB {
                    let wc = _mm512_set1_ps(*wt.add(c));
                    for j in 0..QV {
                        acc[j][c] = _mm512_fmadd_ps(v[j], wc, acc[j][c]);
                    }
                }
            }
        }
        for c in 0..CB {
            for (j, row) in acc.iter().enumerate() {
                _mm512_storeu_ps(out.add(c * out_stride + j * 16), row[c]);
            }
        }
    }

    /// Σ over `ns` samples and `qr` positions of dY[co+c][q] · X[q + tap] for c ∈ {0, 1} and the
    /// nine taps, reduced to scalars in `sums`.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn weight_grad_pair(
        x: *const f32,
        x_sample: usize,
        dy: *const f32,
        dy_sample: usize,
        plane: usize,
        ns: usize,
        qr: usize,
        taps: &[usize; 9],
        sums: &mut [[f32; 9]; 2],
    ) {
        let mut acc = [[_mm512_setzero_ps(); 9]; 2];
        for s in 0..ns {
            let xb = x.add(s * x_sample);
            let d0 = dy.add(s * dy_sample);
            let d1 = d0.add(plane);
            let mut q = 0;
            while q < qr {
                let a = _mm512_loadu_ps(d0.add(q));
                let b = _mm512_loadu_ps(d1.add(q));
                for (t, &off) in taps.iter().enumerate() {
                    let xv = _mm512_loadu_ps(xb.add(q + off));
                    acc[0][t] = _mm512_fmadd_ps(a, xv, acc[0][t]);
                    acc[1][t] = _mm512_fmadd_ps(b, xv, acc[1][t]);
                }
                q += 16;
            }
        }
        for c in 0..2 {
            for t in 0..9 {
                sums[c][t] = _mm512_reduce_add_ps(acc[c][t]);
            }
        }
    }
}
