//! Direct AVX-512 kernels for 3×3, stride-1, pad-1 convolutions on NCHW maps: forward, input
//! gradient (the forward kernel run on the padded output gradient with flipped, transposed
//! weights) and weight gradient. Maps of at least [`MIN_PIXELS`] pixels use all three; smaller
//! ones (ResNet-18's 4×4 stage) only the forward kernel, through the conv module's wide path.
//!
//! Hand-written for speed: for the narrow layers of CIFAR ResNets (16–128 channels on 32×32 and
//! 16×16 maps) an im2col panel costs as much as the GEMM on it, and the GEMM shapes are skinny.
//! Each input plane is copied once into a zero-bordered "padded-width" plane (small maps: several
//! samples side by side, see [`group`]), so every tap is one constant offset from an output
//! position q = y·wp + x. A register tile holds a few positions × 16–64 output channels: per
//! (input channel, tap) it loads the weight vectors once and broadcasts one input value per
//! position, over one L1-sized block of input channels at a time; tiles lie within one image row,
//! so the garbage columns between samples are never computed. Results come out position-major
//! and are transposed back to NCHW with 16×16 in-register transposes.
//! It must never be entered without the check in [`available`]; callers fall back to the im2col
//! GEMM path otherwise.

/// Smallest map (H·W) the direct path takes by groups of a few samples. On ResNet-18's 4×4 maps
/// (512 channels) each such group re-streamed the 9 MiB of weights from memory, ~1.5× slower
/// than a GEMM; those maps go through the wide path instead (a whole batch per plane, split by
/// output channels), with the weight gradient on the GEMM path.
pub const MIN_PIXELS: usize = 64;
/// Padded row width a group of samples placed side by side should reach: small maps are laid
/// out several samples to a row, sharing one zero column between neighbours, so the garbage
/// columns cost 1/(W+1) of the work instead of 2/(W+2) (a fifth for 8×8 maps alone).
const GROUP_WIDTH: usize = 40;
/// Output positions are computed in whole multiples of this (a multiple of every tile width and
/// of the 16×16 transpose).
const QALIGN: usize = 48;
/// Samples whose weight-gradient sums share one pass over the accumulators.
const DW_SAMPLES: usize = 4;
/// Bytes of output gradient (samples × positions × one channel block) a weight-gradient pass
/// keeps in L1.
const DW_CHUNK_BYTES: usize = 24 * 1024;

/// Whether this CPU runs the direct kernels (and `BATCHRAMP_NO_DIRECT` is unset: a switch for
/// A/B timing against the GEMM path).
pub fn available() -> bool {
    static OFF: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    super::cpu::avx512_unless(&OFF, "BATCHRAMP_NO_DIRECT")
}

/// Whether `c` output channels fill whole register tiles.
pub fn channels_ok(c: usize) -> bool {
    c > 0 && c.is_multiple_of(16)
}

/// Samples of width `w` placed side by side in one padded plane.
pub fn group(w: usize) -> usize {
    (GROUP_WIDTH / (w + 1)).max(1)
}

/// Padded-width geometry of one channel's plane holding `ns` H×W maps side by side:
/// `[0, sample 0 row, 0, sample 1 row, 0, …, 0]` per row, with a zero row above and below.
/// A 3×3 window never reaches past the one zero column into a neighbour, so the convolution of
/// the wide plane is the convolution of each sample; the windows centred on the separators are
/// garbage positions.
#[derive(Clone, Copy, Debug)]
pub struct Plane {
    h: usize,
    w: usize,
    ns: usize,
    /// Row stride of the padded plane: ns·(W + 1) + 1.
    wp: usize,
    /// Rows of a position-major buffer: H·wp rounded up to [`QALIGN`] (tiles stop at the
    /// first multiple of their width past H·(W+2); rows after that are never read as results).
    qr: usize,
    /// Elements per padded plane: covers every tap read of every position.
    stride: usize,
}

impl Plane {
    /// Geometry for `ns` H×W maps side by side.
    pub fn new(h: usize, w: usize, ns: usize) -> Self {
        let wp = ns * (w + 1) + 1;
        let qr = (h * wp).div_ceil(QALIGN) * QALIGN;
        let stride = (qr + 2 * wp + 2).div_ceil(16) * 16;
        Self {
            h,
            w,
            ns,
            wp,
            qr,
            stride,
        }
    }

    /// Elements per padded plane.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// Output positions per plane (rows of a position-major result).
    pub fn positions(&self) -> usize {
        self.qr
    }

    /// Positions that map to the images (including the garbage columns): H·wp.
    fn used(&self) -> usize {
        self.h * self.wp
    }

    /// Position-major rows that the transposes read: [`Plane::used`] rounded up to 16.
    fn used16(&self) -> usize {
        self.used().div_ceil(16) * 16
    }

    /// The image rows as runs of output positions, (first, count): every sample's row y, in
    /// order, skipping the garbage columns between them.
    fn rows(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.h)
            .flat_map(move |y| (0..self.ns).map(move |j| (y * self.wp + j * (self.w + 1), self.w)))
    }

    /// Offsets of the nine taps (ky, kx) relative to an output position.
    fn taps(&self) -> [usize; 9] {
        std::array::from_fn(|t| (t / 3) * self.wp + t % 3)
    }
}

/// Copies the `c` H×W planes of each of `pl`'s samples (`src`: NCHW, `ns × c` planes) into `c`
/// zero-bordered padded planes in `dst` (every element of `dst`'s `c` planes is written, slack
/// included).
pub fn pad_planes(src: &[f32], c: usize, pl: &Plane, dst: &mut [f32]) {
    pad_channel_planes(src, c, 0..c, pl, dst);
}

/// [`pad_planes`] for channels `chans` of the `c` in `src` only: `dst` holds their padded planes,
/// counted from `chans.start`.
pub fn pad_channel_planes(
    src: &[f32],
    c: usize,
    chans: std::ops::Range<usize>,
    pl: &Plane,
    dst: &mut [f32],
) {
    let (h, w, wp) = (pl.h, pl.w, pl.wp);
    assert!(src.len() >= pl.ns * c * h * w && chans.end <= c);
    assert!(dst.len() >= chans.len() * pl.stride);
    for ch in chans.clone() {
        let at = (ch - chans.start) * pl.stride;
        let d = &mut dst[at..at + pl.stride];
        d[..wp].fill(0.0);
        for y in 0..h {
            let row = &mut d[(y + 1) * wp..(y + 2) * wp];
            row[0] = 0.0;
            for j in 0..pl.ns {
                let s = &src[((j * c + ch) * h + y) * w..][..w];
                let o = j * (w + 1) + 1;
                copy_row(&mut row[o..o + w], s);
                row[o + w] = 0.0;
            }
        }
        d[(h + 1) * wp..].fill(0.0);
    }
}

/// Copies one image row (4–32 floats here) in whole 16-float blocks the compiler inlines as
/// vector moves: `copy_from_slice` calls `memcpy` for each row, and those calls were ~7% of a
/// ResNet-20 step.
#[inline(always)]
fn copy_row(dst: &mut [f32], src: &[f32]) {
    assert_eq!(dst.len(), src.len());
    let mut d = dst.chunks_exact_mut(16);
    let mut s = src.chunks_exact(16);
    for (a, b) in (&mut d).zip(&mut s) {
        let b: &[f32; 16] = b.try_into().expect("16-float block");
        a.copy_from_slice(b);
    }
    for (a, b) in d.into_remainder().iter_mut().zip(s.remainder()) {
        *a = *b;
    }
}

/// Packs weights (Cout, Cin, 3, 3) for the forward kernel: `[Cout/16][Cin][9][16]`, so any
/// tile width of 16·k channels reads consecutive blocks. `cout` must satisfy [`channels_ok`].
pub fn pack_forward(wt: &[f32], cout: usize, cin: usize) -> Vec<f32> {
    let k = cin * 9;
    pack(cout, cin, |ob, dst| {
        let src = &wt[ob * 16 * k..(ob + 1) * 16 * k];
        if k.is_multiple_of(16) && available() {
            // A block is its 16 weight rows transposed.
            // SAFETY: `available()` holds; 16 × k in, k × 16 out, k a multiple of 16.
            unsafe { transpose(src, 16, k, k, dst, 16) };
        } else {
            for (l, row) in src.chunks_exact(k).enumerate() {
                for (j, &v) in row.iter().enumerate() {
                    dst[j * 16 + l] = v;
                }
            }
        }
    })
}

/// Packs weights (Cout, Cin, 3, 3) for the input gradient: the forward layout of the conv whose
/// outputs are the Cin input channels, with each kernel flipped: `[Cin/16][Cout][9][16]`. `cin`
/// must satisfy [`channels_ok`].
pub fn pack_input_grad(wt: &[f32], cout: usize, cin: usize) -> Vec<f32> {
    pack(cin, cout, |ob, dst| {
        // For each output channel i of the layer, its kernels for these 16 input channels are
        // one run of 16 × 9 weights, becoming one run of 9 × 16, flipped.
        for (i, run) in dst.chunks_exact_mut(144).enumerate() {
            let at = (i * cin + ob * 16) * 9;
            let src: &[f32; 144] = wt[at..at + 144].try_into().expect("16 kernels");
            let run: &mut [f32; 144] = run.try_into().expect("16 kernels");
            for l in 0..16 {
                for t in 0..9 {
                    run[t * 16 + l] = src[l * 9 + 8 - t];
                }
            }
        }
    })
}

/// A packed buffer of `outs / 16` blocks of `ins` × 9 × 16 values, block `ob` written in full by
/// `fill_block(ob, block)`, the blocks shared among the threads. Written without zero-filling
/// first (a serial 2–9 MiB memset per call); the block fillers read the weights in runs, where a
/// per-element gather had been 11% of ResNet-18's 4×4 convolution.
fn pack(outs: usize, ins: usize, fill_block: impl Fn(usize, &mut [f32]) + Sync) -> Vec<f32> {
    assert!(channels_ok(outs), "packed outputs fill whole blocks of 16");
    let block = ins * 9 * 16;
    let fill = |vp: super::cpu::SendPtr| {
        super::cpu::for_chunks(outs / 16, 1, |_, r| {
            for ob in r {
                // SAFETY: block `ob` of the packed layout belongs to this task alone.
                fill_block(ob, unsafe { vp.slice(ob * block..(ob + 1) * block) });
            }
        })
    };
    // SAFETY: the blocks cover the buffer, and each filler writes its whole block.
    unsafe { super::cpu::filled(outs * ins * 9, fill) }
}

/// Convolves `cin` padded planes `xt` with weights packed for (`cout`, `cin`) into `out`,
/// position-major: `out[q * cout + co]` for q < [`Plane::positions`]. `cout` must satisfy
/// [`channels_ok`].
///
/// # Safety
/// The CPU must pass [`available`]; `xt` holds `cin` planes of `pl.stride()` elements, `wk` was
/// packed for (`cout`, `cin`), and `out` holds `positions × cout` elements.
pub unsafe fn conv_positions(
    xt: &[f32],
    cin: usize,
    wk: &[f32],
    cout: usize,
    pl: &Plane,
    out: &mut [f32],
) {
    assert!(channels_ok(cout) && xt.len() >= cin * pl.stride && out.len() >= pl.qr * cout);
    assert!(wk.len() >= cout * cin * 9);
    #[cfg(target_arch = "x86_64")]
    {
        let taps = pl.taps();
        // Tiles of 8 positions within one image row skip the garbage columns, which tiles laid
        // end to end across the rows computed (a seventh of an 8×8 map's positions); measured
        // 5–7% faster than 6 × 64-channel tiles on 8×8 to 32×32 maps despite the narrower tile.
        let flat = |px: usize| (0..pl.used()).step_by(px).collect::<Vec<_>>();
        let row_tiles = |px: usize| {
            pl.rows()
                .flat_map(|(q0, n)| (q0..q0 + n).step_by(px))
                .collect::<Vec<_>>()
        };
        if pl.w.is_multiple_of(8) && cout.is_multiple_of(32) {
            avx512::conv::<8, 2>(xt, pl.stride, cin, wk, cout, &taps, &row_tiles(8), out);
        } else if pl.w.is_multiple_of(4) && cout.is_multiple_of(64) {
            avx512::conv::<4, 4>(xt, pl.stride, cin, wk, cout, &taps, &row_tiles(4), out);
        } else if cout.is_multiple_of(64) {
            avx512::conv::<6, 4>(xt, pl.stride, cin, wk, cout, &taps, &flat(6), out);
        } else if cout.is_multiple_of(32) {
            avx512::conv::<12, 2>(xt, pl.stride, cin, wk, cout, &taps, &flat(12), out);
        } else {
            avx512::conv::<24, 1>(xt, pl.stride, cin, wk, cout, &taps, &flat(24), out);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (xt, cin, wk, cout, pl, out);
        unreachable!("direct kernels are x86_64-only; callers check `available`");
    }
}

/// Transposes a position-major result (`positions × c`) into the `ns × c` NCHW planes of H×W of
/// `pl`'s samples, dropping the garbage columns. `scratch` holds `c × positions` elements.
///
/// # Safety
/// The CPU must pass [`available`]; `c` must satisfy [`channels_ok`].
pub unsafe fn unpack_positions(
    src: &[f32],
    c: usize,
    pl: &Plane,
    scratch: &mut [f32],
    dst: &mut [f32],
) {
    assert!(dst.len() >= pl.ns * c * pl.h * pl.w);
    unpack_channel_positions(
        src,
        c,
        pl,
        scratch,
        super::cpu::SendPtr(dst.as_mut_ptr()),
        c,
        0,
    );
}

/// [`unpack_positions`] of a result holding `c` of the `c_total` channels, from channel `c0`:
/// writes those channels' planes of `pl`'s samples in the NCHW batch at `dst` (its first sample).
///
/// # Safety
/// As [`unpack_positions`]; `dst` must be valid for `pl.ns` samples of `c_total` planes, and no
/// other thread may touch the planes written during the call.
pub unsafe fn unpack_channel_positions(
    src: &[f32],
    c: usize,
    pl: &Plane,
    scratch: &mut [f32],
    dst: super::cpu::SendPtr,
    c_total: usize,
    c0: usize,
) {
    assert!(channels_ok(c) && src.len() >= pl.qr * c && scratch.len() >= c * pl.qr);
    assert!(c0 + c <= c_total);
    transpose(src, pl.used16(), c, c, scratch, pl.qr);
    let (h, w, wp) = (pl.h, pl.w, pl.wp);
    for j in 0..pl.ns {
        for ch in 0..c {
            for y in 0..h {
                let from = ch * pl.qr + y * wp + j * (w + 1);
                let at = ((j * c_total + c0 + ch) * h + y) * w;
                // SAFETY: the caller's contract: this row is ours alone and inside the batch.
                copy_row(unsafe { dst.slice(at..at + w) }, &scratch[from..][..w]);
            }
        }
    }
}

/// Row stride of a position-major output gradient of `c` channels: one vector more than `c`.
/// With `c` a power of two, consecutive positions 1 KiB apart all fell into 8 of the 64 L1 sets
/// and the weight-gradient pass re-read its chunk from L2 (3–4% slower on 128–256 channels).
pub fn dy_ld(c: usize) -> usize {
    c + 16
}

/// The output gradient position-major for the weight gradient: `dst[q * dy_ld(c) + co]` = dY at
/// output position q. `padded` holds the `c` padded planes of dY (from [`pad_planes`]), in which
/// output position q sits at q + wp + 1.
///
/// # Safety
/// The CPU must pass [`available`]; `c` must satisfy [`channels_ok`]; `dst` holds
/// `positions × dy_ld(c)` elements.
pub unsafe fn positions_from_padded(padded: &[f32], c: usize, pl: &Plane, dst: &mut [f32]) {
    let ld = dy_ld(c);
    assert!(channels_ok(c) && padded.len() >= c * pl.stride && dst.len() >= pl.qr * ld);
    let shift = pl.wp + 1;
    transpose(&padded[shift..], c, pl.used16(), pl.stride, dst, ld);
}

/// `dst[j * dst_ld + i] = src[i * src_ld + j]` for i < rows, j < cols (both multiples of 16).
///
/// # Safety
/// The CPU must pass [`available`]; the extents must fit the slices.
unsafe fn transpose(
    src: &[f32],
    rows: usize,
    cols: usize,
    src_ld: usize,
    dst: &mut [f32],
    dst_ld: usize,
) {
    assert!(rows.is_multiple_of(16) && cols.is_multiple_of(16));
    assert!(src.len() >= (rows - 1) * src_ld + cols && dst.len() >= (cols - 1) * dst_ld + rows);
    #[cfg(target_arch = "x86_64")]
    for i in (0..rows).step_by(16) {
        for j in (0..cols).step_by(16) {
            avx512::transpose16(
                src.as_ptr().add(i * src_ld + j),
                src_ld,
                dst.as_mut_ptr().add(j * dst_ld + i),
                dst_ld,
            );
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (src, rows, cols, src_ld, dst, dst_ld);
        unreachable!("direct kernels are x86_64-only; callers check `available`");
    }
}

/// Samples to pass to one [`weight_grad`] call.
pub fn weight_grad_block() -> usize {
    DW_SAMPLES
}

/// Adds the weight gradient of `ns` sample groups into `dwt`, laid out `[Cin][9][Cout]`, or
/// writes it there when `init` (`dwt`'s contents are then never read).
///
/// `xt`: the groups' padded input planes (`ns × cin` planes of `pl.stride()`); `dyq`: their
/// position-major output gradients (`ns × positions × dy_ld(cout)`, from
/// [`positions_from_padded`]).
///
/// # Safety
/// The CPU must pass [`available`]; `cout` must satisfy [`channels_ok`]; buffers must hold the
/// data described.
#[allow(clippy::too_many_arguments)]
pub unsafe fn weight_grad(
    xt: &[f32],
    dyq: &[f32],
    ns: usize,
    cin: usize,
    cout: usize,
    pl: &Plane,
    dwt: &mut [f32],
    init: bool,
) {
    assert!(channels_ok(cout) && xt.len() >= ns * cin * pl.stride);
    let ld = dy_ld(cout);
    assert!(dyq.len() >= ns * pl.qr * ld && dwt.len() >= cin * 9 * cout);
    #[cfg(target_arch = "x86_64")]
    {
        let taps = pl.taps();
        let cw = if cout.is_multiple_of(32) { 32 } else { 16 };
        // Positions per pass: the `ns` samples' output gradients for one channel block over a
        // chunk of positions stay in L1 while every input channel reads them (without the
        // chunking each input channel re-streamed the whole gradient from L2).
        let chunk = (DW_CHUNK_BYTES / (ns * cw * 4)).max(16);
        // Whole image rows only: the garbage columns' gradient is zero, but summing over them
        // cost a seventh of an 8×8 map's work.
        let mut chunks: Vec<Vec<(usize, usize)>> = vec![Vec::new()];
        let mut n = 0;
        for row in pl.rows() {
            if n > 0 && n + row.1 > chunk {
                chunks.push(Vec::new());
                n = 0;
            }
            chunks.last_mut().expect("one chunk").push(row);
            n += row.1;
        }
        for (i, segs) in chunks.iter().enumerate() {
            let shapes = avx512::DwShape {
                ns,
                x_sample: cin * pl.stride,
                dy_sample: pl.qr * ld,
                ld,
                acc_ld: cout,
                segments: segs,
            };
            for cb in (0..cout).step_by(cw) {
                let dy = dyq.as_ptr().add(cb);
                for ci in 0..cin {
                    let x = xt.as_ptr().add(ci * pl.stride);
                    let acc = dwt.as_mut_ptr().add(ci * 9 * cout + cb);
                    let fresh = init && i == 0;
                    if cw == 32 {
                        avx512::weight_grad::<2>(x, dy, &shapes, &taps, acc, fresh);
                    } else {
                        avx512::weight_grad::<1>(x, dy, &shapes, &taps, acc, fresh);
                    }
                }
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (xt, dyq, ns, cin, cout, pl, dwt, init);
        unreachable!("direct kernels are x86_64-only; callers check `available`");
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// Weight bytes one input-channel block may occupy: the block's `[ci][9][COV·16]` weights
    /// are re-read by every tile of the plane, so they must stay in the 32–48 KiB L1 cache next
    /// to the input rows the tiles stream through. Without the blocking a 64-channel tile
    /// streamed Cin·9·256 bytes of weights from L2 per tile and ran at ~55% of the FMA peak.
    const WEIGHT_BLOCK_BYTES: usize = 18 * 1024;

    /// All positions of one plane for every block of `COV·16` output channels: tiles of `PX`
    /// positions × `COV·16` channels in registers, summed over one block of input channels at a
    /// time (partial sums go through `out`).
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn conv<const PX: usize, const COV: usize>(
        xt: &[f32],
        plane: usize,
        cin: usize,
        wk: &[f32],
        cout: usize,
        taps: &[usize; 9],
        starts: &[usize],
        out: &mut [f32],
    ) {
        // A tile may run past the last used position (up to PX − 1 positions, within the buffer
        // rows and the plane slack); those rows are never read as results.
        let cw = COV * 16;
        let cb_len = (WEIGHT_BLOCK_BYTES / (9 * cw * 4)).max(1);
        for cb in 0..cout / cw {
            // Blocks of 16 channels are packed `[block][cin][9][16]`; a tile of COV blocks reads
            // COV consecutive blocks at stride cin·9·16.
            let w = wk.as_ptr().add(cb * COV * cin * 9 * 16);
            let mut c0 = 0;
            while c0 < cin {
                let c1 = (c0 + cb_len).min(cin);
                for &q0 in starts {
                    tile::<PX, COV>(
                        xt.as_ptr().add(c0 * plane + q0),
                        plane,
                        c1 - c0,
                        w.add(c0 * 9 * 16),
                        cin * 9 * 16,
                        taps,
                        out.as_mut_ptr().add(q0 * cout + cb * cw),
                        cout,
                        c0 > 0,
                    );
                }
                c0 = c1;
            }
        }
    }

    /// One register tile: PX positions × COV·16 channels over `cin` input channels, added to
    /// `out` when `accumulate` (a later input-channel block), else written.
    #[target_feature(enable = "avx512f")]
    #[inline]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile<const PX: usize, const COV: usize>(
        x: *const f32,
        plane: usize,
        cin: usize,
        w: *const f32,
        w_block: usize,
        taps: &[usize; 9],
        out: *mut f32,
        ld: usize,
        accumulate: bool,
    ) {
        let mut acc = [[_mm512_setzero_ps(); COV]; PX];
        if accumulate {
            for (p, row) in acc.iter_mut().enumerate() {
                for (j, a) in row.iter_mut().enumerate() {
                    *a = _mm512_loadu_ps(out.add(p * ld + j * 16));
                }
            }
        }
        for ci in 0..cin {
            let xc = x.add(ci * plane);
            for (t, &off) in taps.iter().enumerate() {
                let wp = w.add((ci * 9 + t) * 16);
                let mut wv = [_mm512_setzero_ps(); COV];
                for (j, v) in wv.iter_mut().enumerate() {
                    *v = _mm512_loadu_ps(wp.add(j * w_block));
                }
                let xp = xc.add(off);
                for (p, row) in acc.iter_mut().enumerate() {
                    let xb = _mm512_set1_ps(*xp.add(p));
                    for (a, &v) in row.iter_mut().zip(wv.iter()) {
                        *a = _mm512_fmadd_ps(xb, v, *a);
                    }
                }
            }
        }
        for (p, row) in acc.iter().enumerate() {
            for (j, &a) in row.iter().enumerate() {
                _mm512_storeu_ps(out.add(p * ld + j * 16), a);
            }
        }
    }

    /// Extents of a weight-gradient pass.
    pub struct DwShape<'a> {
        /// Samples.
        pub ns: usize,
        /// Elements between one sample's input planes and the next's.
        pub x_sample: usize,
        /// Elements between one sample's position-major gradient and the next's.
        pub dy_sample: usize,
        /// Row stride of the position-major gradient.
        pub ld: usize,
        /// Row stride (output channels) of the accumulators: `[9][acc_ld]`.
        pub acc_ld: usize,
        /// Runs of positions to sum over: (first, count).
        pub segments: &'a [(usize, usize)],
    }

    /// acc[tap][co] (+)= Σ_s Σ_q x[s][q + tap] · dy[s][q][co] for COV·16 channels (`=` when
    /// `fresh`); `acc` is `[9][acc_ld]` at the channel block.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn weight_grad<const COV: usize>(
        x: *const f32,
        dy: *const f32,
        sh: &DwShape,
        taps: &[usize; 9],
        acc_out: *mut f32,
        fresh: bool,
    ) {
        let mut acc = [[_mm512_setzero_ps(); COV]; 9];
        if !fresh {
            for (t, row) in acc.iter_mut().enumerate() {
                for (j, a) in row.iter_mut().enumerate() {
                    *a = _mm512_loadu_ps(acc_out.add(t * sh.acc_ld + j * 16));
                }
            }
        }
        for s in 0..sh.ns {
            let xs = x.add(s * sh.x_sample);
            let ds = dy.add(s * sh.dy_sample);
            for &(q0, n) in sh.segments {
                for q in q0..q0 + n {
                    let mut dv = [_mm512_setzero_ps(); COV];
                    for (j, v) in dv.iter_mut().enumerate() {
                        *v = _mm512_loadu_ps(ds.add(q * sh.ld + j * 16));
                    }
                    let xq = xs.add(q);
                    for (row, &off) in acc.iter_mut().zip(taps.iter()) {
                        let xb = _mm512_set1_ps(*xq.add(off));
                        for (a, &v) in row.iter_mut().zip(dv.iter()) {
                            *a = _mm512_fmadd_ps(xb, v, *a);
                        }
                    }
                }
            }
        }
        for (t, row) in acc.iter().enumerate() {
            for (j, &a) in row.iter().enumerate() {
                _mm512_storeu_ps(acc_out.add(t * sh.acc_ld + j * 16), a);
            }
        }
    }

    /// 16×16 transpose: `dst[j][i] = src[i][j]`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn transpose16(src: *const f32, src_ld: usize, dst: *mut f32, dst_ld: usize) {
        let r: [__m512; 16] = std::array::from_fn(|i| _mm512_loadu_ps(src.add(i * src_ld)));
        // Interleave row pairs, then 2×2 blocks within 128-bit lanes: u[4i+k] lane L holds rows
        // 4i..4i+3 at column 4L+k.
        let mut t = [_mm512_setzero_ps(); 16];
        for i in 0..8 {
            t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
        }
        let mut u = [_mm512_setzero_ps(); 16];
        for i in 0..4 {
            u[4 * i] = _mm512_shuffle_ps::<0x44>(t[4 * i], t[4 * i + 2]);
            u[4 * i + 1] = _mm512_shuffle_ps::<0xEE>(t[4 * i], t[4 * i + 2]);
            u[4 * i + 2] = _mm512_shuffle_ps::<0x44>(t[4 * i + 1], t[4 * i + 3]);
            u[4 * i + 3] = _mm512_shuffle_ps::<0xEE>(t[4 * i + 1], t[4 * i + 3]);
        }
        // Gather lane L of u[k], u[4+k], u[8+k], u[12+k] into output row 4L+k.
        for k in 0..4 {
            let s0 = _mm512_shuffle_f32x4::<0x88>(u[k], u[4 + k]);
            let s1 = _mm512_shuffle_f32x4::<0xDD>(u[k], u[4 + k]);
            let s2 = _mm512_shuffle_f32x4::<0x88>(u[8 + k], u[12 + k]);
            let s3 = _mm512_shuffle_f32x4::<0xDD>(u[8 + k], u[12 + k]);
            _mm512_storeu_ps(dst.add(k * dst_ld), _mm512_shuffle_f32x4::<0x88>(s0, s2));
            _mm512_storeu_ps(
                dst.add((4 + k) * dst_ld),
                _mm512_shuffle_f32x4::<0x88>(s1, s3),
            );
            _mm512_storeu_ps(
                dst.add((8 + k) * dst_ld),
                _mm512_shuffle_f32x4::<0xDD>(s0, s2),
            );
            _mm512_storeu_ps(
                dst.add((12 + k) * dst_ld),
                _mm512_shuffle_f32x4::<0xDD>(s1, s3),
            );
        }
    }
}
