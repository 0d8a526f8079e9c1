//! Winograd convolution for 3×3, stride-1, pad-1 convolutions on NCHW maps of even size:
//! F(2×2, 3×3) for the forward pass and the input gradient (the same convolution of the output
//! gradient with the weights transposed and flipped), F(3×3, 2×2) for the weight gradient.
//!
//! Why: each 2×2 output tile costs 16 multiplications per channel pair instead of 36, so the
//! wide layers (ResNet-18's 128–512 channels), where the direct kernels already run near the FMA
//! peak, need 2.25× fewer of them. A convolution is cut into blocks of tiles small enough that
//! the transformed inputs and products of a block stay in L2: per block, the inputs are
//! transformed (16 values per tile and channel), multiplied by the transformed weights in 16
//! GEMMs (Cout × Cin · Cin × tiles), and transformed back into the output. The weight gradient
//! transforms every tile of the input and of the output gradient, then sums over the tiles in
//! 16 GEMMs (Cout × tiles · tiles × Cin). The arithmetic differs from the direct convolution by
//! rounding only (the tests bound it at 1e-5 of the largest value).
//!
//! Hand-written for speed (candle has no Winograd path). It must never be entered without the
//! check in [`available`].

use super::cpu::{self, Mat, MatMut, SendPtr};

/// Bytes of transformed inputs and products one block of tiles may occupy (near the L2 size).
const BLOCK_BYTES: usize = 2 << 20;
/// Bytes of transformed tiles one pass of the weight gradient may hold (it sums over the tiles
/// in passes of this size, so its scratch does not grow with the batch).
const GRAD_PASS_BYTES: usize = 32 << 20;
/// Floats added to the distance between a block's 16 planes (see [`conv`]).
const SKEW: usize = 48;

/// Whether this CPU runs the Winograd kernels (AVX-512 gathers and scatters), and
/// `BATCHRAMP_NO_WINOGRAD` is unset (a switch for A/B timing against the direct kernels).
pub fn available() -> bool {
    static OFF: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    super::cpu::avx512_unless(&OFF, "BATCHRAMP_NO_WINOGRAD")
}

/// Whether `n` maps of `c` channels of `hw` pixels can be addressed by the gathers' i32 lanes
/// (beyond that, callers take the direct kernels).
pub fn offsets_fit(n: usize, c: usize, hw: usize) -> bool {
    n.checked_mul(c)
        .and_then(|v| v.checked_mul(hw))
        .is_some_and(|v| v < i32::MAX as usize)
}

/// A layer's transformed weights: G·g·Gᵀ for every (output, input) channel pair, laid out
/// `[16][cout][cin]`, one GEMM operand per element of the 4×4 tile.
///
/// The input gradient's convolution (dY with the kernels transposed and turned by 180°) needs no
/// second transform: turning g by 180° reverses its rows and columns, and G·J = Π·G (J reverses
/// three elements, Π swaps the first and last of four), so its tile element (i, j) is this
/// one's (π(i), π(j)) with π swapping 0 and 3, read with the channels transposed.
pub struct Weights {
    u: Vec<f32>,
    cout: usize,
    cin: usize,
}

impl Weights {
    /// Transforms `wt` (`cout` × `cin` × 3 × 3).
    pub fn new(wt: &[f32], cout: usize, cin: usize) -> Self {
        assert!(wt.len() >= cout * cin * 9);
        let plane = u_plane(cout, cin);
        let fill = |up: SendPtr| {
            cpu::for_ranges(cout, |_, r| {
                // Through a reference: the closure must capture the `Send` wrapper, not its field.
                let up = &up;
                let vec_cin = cin / 16 * 16;
                for co in r {
                    for ci in (0..vec_cin).step_by(16) {
                        // SAFETY: `available()` holds (callers check it); elements
                        // (·, co, ci..ci+16) lie in this task's rows.
                        unsafe { avx512::weight_transform(wt, cin, co, ci, up.0, plane) };
                    }
                    for ci in vec_cin..cin {
                        let k = &wt[(co * cin + ci) * 9..][..9];
                        let g: [[f32; 3]; 3] =
                            std::array::from_fn(|i| std::array::from_fn(|j| k[i * 3 + j]));
                        for (e, &v) in tile_weights(g).iter().enumerate() {
                            // SAFETY: element (e, co, ci) lies in this task's rows.
                            unsafe { *up.0.add(e * plane + co * cin + ci) = v };
                        }
                    }
                }
            });
            for e in 0..16 {
                // SAFETY: the skew after plane e lies inside the buffer and no task writes it.
                unsafe { up.slice(e * plane + cout * cin..(e + 1) * plane).fill(0.0) };
            }
        };
        // SAFETY: every (element, co, ci) is written once, and the skews are zeroed.
        let u = unsafe { cpu::filled(16 * plane, fill) };
        Self { u, cout, cin }
    }

    /// Tile element `e` of the forward convolution: `cout` × `cin`.
    fn forward(&self, e: usize) -> Mat {
        Mat::rows(
            self.u[e * u_plane(self.cout, self.cin)..].as_ptr(),
            self.cin,
        )
    }

    /// Tile element `e` of the input gradient's convolution: `cin` × `cout`.
    fn input_grad(&self, e: usize) -> Mat {
        const PI: [usize; 4] = [3, 1, 2, 0];
        let turned = PI[e / 4] * 4 + PI[e % 4];
        Mat::cols(
            self.u[turned * u_plane(self.cout, self.cin)..].as_ptr(),
            self.cin,
        )
    }
}

/// The forward convolution of `x` (N × Cin × H × W, H and W even) with `wt`: N × Cout × H × W.
pub fn forward(x: &[f32], (n, h, w): (usize, usize, usize), wt: &Weights) -> Vec<f32> {
    conv(x, (n, wt.cin, h, w), wt.cout, |e| wt.forward(e))
}

/// The input gradient of the convolution with `wt` for the output gradient `dy`
/// (N × Cout × H × W): N × Cin × H × W.
pub fn input_grad(dy: &[f32], (n, h, w): (usize, usize, usize), wt: &Weights) -> Vec<f32> {
    conv(dy, (n, wt.cout, h, w), wt.cin, |e| wt.input_grad(e))
}

/// G·g·Gᵀ of one 3×3 kernel, row-major 4×4 (the vector path in `avx512::weight_transform` does
/// the same arithmetic in the same order).
fn tile_weights(g: [[f32; 3]; 3]) -> [f32; 16] {
    // G·g (4×3), then (G·g)·Gᵀ (4×4).
    let gg: [[f32; 3]; 4] = std::array::from_fn(|c| {
        std::array::from_fn(|j| match c {
            0 => g[0][j],
            1 => (g[0][j] + g[1][j] + g[2][j]) * 0.5,
            2 => (g[0][j] - g[1][j] + g[2][j]) * 0.5,
            _ => g[2][j],
        })
    });
    std::array::from_fn(|e| {
        let t = gg[e / 4];
        match e % 4 {
            0 => t[0],
            1 => (t[0] + t[1] + t[2]) * 0.5,
            2 => (t[0] - t[1] + t[2]) * 0.5,
            _ => t[2],
        }
    })
}

/// Distance between the 16 planes of transformed weights for `rows` × `cols` channel pairs.
pub fn u_plane(rows: usize, cols: usize) -> usize {
    rows * cols + SKEW
}

/// Tiles per block for `cin` inputs and `cout` outputs: a multiple of 16 (one vector of tiles).
fn block_tiles(cin: usize, cout: usize) -> usize {
    let per_tile = 16 * (cin + cout) * 4;
    ((BLOCK_BYTES / per_tile) / 16 * 16).clamp(16, 512)
}

/// The tiles of one block as the transforms address them, in whole vectors of 16 (past the
/// block's last tile, repeats of it).
struct Tiles {
    /// Offset in channel 0 of the input of each tile's 4×4 patch (its top-left element, one row
    /// above and one column left of the tile's outputs: possibly outside the map, even negative).
    patch: Vec<i32>,
    /// Offset in channel 0 of the output (gradient) of each tile's first element.
    out: Vec<i32>,
    /// Per vector of 16 tiles: which lanes' patch rows 0..4, and columns 0..4, lie in the map.
    rows: Vec<[u16; 4]>,
    cols: Vec<[u16; 4]>,
}

impl Tiles {
    /// Tiles `first..first + count` of N maps of H × W with `c_in` input and `c_out` output
    /// channels.
    fn new(first: usize, count: usize, (c_in, c_out, h, w): (usize, usize, usize, usize)) -> Self {
        let (th, tw) = (h / 2, w / 2);
        let lanes = count.div_ceil(16) * 16;
        let at = |k: usize| {
            let t = first + k.min(count - 1);
            (t / (th * tw), (t / tw) % th, t % tw)
        };
        let mut tiles = Tiles {
            patch: Vec::with_capacity(lanes),
            out: Vec::with_capacity(lanes),
            rows: vec![[0; 4]; lanes / 16],
            cols: vec![[0; 4]; lanes / 16],
        };
        for k in 0..lanes {
            let (s, ty, tx) = at(k);
            let (y0, x0) = (2 * ty as isize - 1, 2 * tx as isize - 1);
            tiles
                .patch
                .push(((s * c_in * h * w) as isize + y0 * w as isize + x0) as i32);
            tiles
                .out
                .push((s * c_out * h * w + 2 * ty * w + 2 * tx) as i32);
            for i in 0..4 {
                if (0..h as isize).contains(&(y0 + i as isize)) {
                    tiles.rows[k / 16][i] |= 1 << (k % 16);
                }
                if (0..w as isize).contains(&(x0 + i as isize)) {
                    tiles.cols[k / 16][i] |= 1 << (k % 16);
                }
            }
        }
        tiles
    }

    /// Tiles held, in whole vectors.
    fn lanes(&self) -> usize {
        self.patch.len()
    }
}

/// The 3×3 pad-1 convolution of `x` (N × `cin` × H × W, H and W even) into `cout` channels,
/// `lhs(e)` being tile element e of the transformed weights (`cout` × `cin`).
fn conv(
    x: &[f32],
    (n, cin, h, w): (usize, usize, usize, usize),
    cout: usize,
    lhs: impl Fn(usize) -> Mat + Sync,
) -> Vec<f32> {
    assert!(h % 2 == 0 && w % 2 == 0 && h > 0 && w > 0);
    assert!(x.len() >= n * cin * h * w);
    assert!(
        offsets_fit(n, cin.max(cout), h * w),
        "callers check `offsets_fit`"
    );
    let tiles = n * (h / 2) * (w / 2);
    let tb = block_tiles(cin, cout).min(tiles.div_ceil(16) * 16);
    let blocks = tiles.div_ceil(tb);
    // The 16 planes of a block's transformed inputs and products, a little more than a power of
    // two apart: 16 streams 2^k bytes apart all fall into one L1 set.
    let (vs, ms) = (cin * tb + SKEW, cout * tb + SKEW);
    let fill = |yp: SendPtr| {
        cpu::for_chunks(blocks, 1, |_, r| {
            let yp = &yp;
            cpu::with_scratch([16 * vs, 16 * ms], |[v, m]| {
                for b in r {
                    let t0 = b * tb;
                    // Tiles past the last repeat it; their results are the last tile's, written
                    // again to the same place.
                    let bt = Tiles::new(t0, tb.min(tiles - t0), (cin, cout, h, w));
                    let ntv = bt.lanes();
                    assert!(v.len() >= 16 * vs && m.len() >= 16 * ms);
                    // SAFETY: `available()` was checked by the caller; the offsets index the
                    // input's in-map elements and this block's output tiles, which no other task
                    // writes.
                    unsafe {
                        avx512::input_transform(x, (cin, h * w, w), &bt, v.as_mut_ptr(), tb, vs);
                        for e in 0..16 {
                            cpu::sgemm(
                                cout,
                                ntv,
                                cin,
                                MatMut::rows(m.as_mut_ptr().add(e * ms), tb),
                                false,
                                lhs(e),
                                Mat::rows(v.as_ptr().add(e * vs), tb),
                            );
                        }
                        avx512::output_transform(m, cout, tb, ms, &bt.out, h * w, w, yp.0);
                    }
                }
            })
        })
    };
    // SAFETY: the blocks cover every tile, and each tile writes its 2×2 outputs in every channel.
    unsafe { cpu::filled(n * cout * h * w, fill) }
}

/// The weight gradient of the 3×3 pad-1 convolution of `x` (N × `cin` × H × W, H and W even)
/// for the output gradient `dy` (N × `cout` × H × W): (`cout`, `cin`, 3, 3), by Winograd
/// F(3×3, 2×2): dW = Gᵀ·[Σ_tiles (A·dY·Aᵀ) ⊙ (Bᵀ·d·B)]·G, the sum over tiles being 16 GEMMs
/// (Cout × tiles · tiles × Cin) with the tiles as the long inner dimension.
///
/// The tiles are summed in passes of at most [`GRAD_PASS_BYTES`] of transforms: per pass, the
/// transforms of its tiles (in parallel by blocks of tiles), then the 16 GEMMs adding into the
/// sums (in parallel by tile element); at the end the transform back (in parallel by output
/// channels). Every sum's order is fixed by the shapes, so the result does not depend on the
/// threads.
pub fn weight_grad(
    x: &[f32],
    (n, cin, h, w): (usize, usize, usize, usize),
    dy: &[f32],
    cout: usize,
) -> Vec<f32> {
    assert!(h % 2 == 0 && w % 2 == 0 && h > 0 && w > 0);
    assert!(x.len() >= n * cin * h * w && dy.len() >= n * cout * h * w);
    // Tiles per pass: the transforms of a pass stay within GRAD_PASS_BYTES whatever the batch;
    // a whole number of blocks, each a whole number of 16-tile vectors.
    let tb = block_tiles(cin, cout);
    let per_pass = ((GRAD_PASS_BYTES / (16 * (cin + cout) * 4)) / tb).max(1) * tb;
    weight_grad_in_passes(x, (n, cin, h, w), dy, cout, (tb, per_pass))
}

/// [`weight_grad`] with `tb` tiles per block and `per_pass` (a multiple of `tb`) per pass.
fn weight_grad_in_passes(
    x: &[f32],
    (n, cin, h, w): (usize, usize, usize, usize),
    dy: &[f32],
    cout: usize,
    (tb, per_pass): (usize, usize),
) -> Vec<f32> {
    assert!(tb.is_multiple_of(16) && per_pass.is_multiple_of(tb));
    assert!(
        offsets_fit(n, cin.max(cout), h * w),
        "callers check `offsets_fit`"
    );
    let tiles = n * (h / 2) * (w / 2);
    let ld = per_pass.min(tiles.div_ceil(16) * 16);
    let (vs, us, ms) = (cin * ld + SKEW, cout * ld + SKEW, cout * cin + SKEW);
    cpu::with_scratch([16 * vs, 16 * us, 16 * ms], |[v, u, m]| {
        let mut p0 = 0;
        while p0 < tiles {
            let pass = ld.min(tiles - p0);
            let blocks = pass.div_ceil(tb);
            let (vp, upp) = (SendPtr(v.as_mut_ptr()), SendPtr(u.as_mut_ptr()));
            cpu::for_chunks(blocks, 1, |_, r| {
                let (vp, upp) = (&vp, &upp);
                for b in r {
                    let t0 = b * tb;
                    let nt = tb.min(pass - t0);
                    let bt = Tiles::new(p0 + t0, nt, (cin, cout, h, w));
                    // SAFETY: `available()` was checked by the caller; columns t0..t0+lanes of
                    // every row belong to this block alone (lanes ≤ ld − t0).
                    unsafe {
                        avx512::input_transform(x, (cin, h * w, w), &bt, vp.0.add(t0), ld, vs);
                        avx512::grad_transform(
                            dy,
                            cout,
                            h * w,
                            w,
                            &bt.out,
                            nt,
                            upp.0.add(t0),
                            ld,
                            us,
                        );
                    }
                }
            });
            // Whole vectors of tiles: the ones past the pass's last tile have a zero output
            // gradient, so they add nothing.
            let k = pass.div_ceil(16) * 16;
            let (vr, ur): (&[f32], &[f32]) = (v, u);
            let mp = SendPtr(m.as_mut_ptr());
            cpu::for_chunks(16, 1, |_, r| {
                let mp = &mp;
                for e in r {
                    // SAFETY: plane e of `m` belongs to this task alone; `u`/`v` hold 16 planes
                    // of `k` ≤ ld columns.
                    unsafe {
                        cpu::sgemm(
                            cout,
                            cin,
                            k,
                            MatMut::rows(mp.0.add(e * ms), cin),
                            p0 > 0,
                            Mat::rows(ur.as_ptr().add(e * us), ld),
                            Mat::cols(vr.as_ptr().add(e * vs), ld),
                        );
                    }
                }
            });
            p0 += pass;
        }
        let m: &[f32] = m;
        let fill = |dp: SendPtr| {
            cpu::for_ranges(cout, |_, r| {
                let dp = &dp;
                for co in r {
                    // SAFETY: output channel co's kernels belong to this task alone.
                    let out = unsafe { dp.slice(co * cin * 9..(co + 1) * cin * 9) };
                    let vec_cin = cin / 16 * 16;
                    for ci in (0..vec_cin).step_by(16) {
                        // SAFETY: `available()` holds; kernels ci..ci+16 lie in `out`.
                        unsafe { avx512::kernel_grads(m, ms, cin, co, ci, out.as_mut_ptr()) };
                    }
                    for ci in vec_cin..cin {
                        let mv: [f32; 16] = std::array::from_fn(|e| m[e * ms + co * cin + ci]);
                        out[ci * 9..ci * 9 + 9].copy_from_slice(&kernel_grad(mv));
                    }
                }
            })
        };
        // SAFETY: every (co, ci) kernel is written.
        unsafe { cpu::filled(cout * cin * 9, fill) }
    })
}

/// Gᵀ·M·G: the 3×3 kernel gradient from the 16 summed products of one channel pair.
fn kernel_grad(m: [f32; 16]) -> [f32; 9] {
    // Gᵀ rows: [1, ½, ½, 0], [0, ½, −½, 0], [0, ½, ½, 1].
    let rows = |a: [f32; 4]| -> [f32; 3] {
        [
            a[0] + 0.5 * (a[1] + a[2]),
            0.5 * (a[1] - a[2]),
            0.5 * (a[1] + a[2]) + a[3],
        ]
    };
    let cols: [[f32; 3]; 4] = std::array::from_fn(|j| rows([m[j], m[4 + j], m[8 + j], m[12 + j]]));
    std::array::from_fn(|t| {
        rows([
            cols[0][t / 3],
            cols[1][t / 3],
            cols[2][t / 3],
            cols[3][t / 3],
        ])[t % 3]
    })
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// [`super::Weights::new`] for input channels `ci..ci + 16` of output channel `co`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn weight_transform(
        wt: &[f32],
        cin: usize,
        co: usize,
        ci: usize,
        up: *mut f32,
        plane: usize,
    ) {
        // The 16 kernels (co, ci..ci+16) are consecutive runs of 9.
        let first = (co * cin + ci) * 9;
        assert!(first + 16 * 9 <= wt.len());
        let idx = _mm512_mullo_epi32(
            _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
            _mm512_set1_epi32(9),
        );
        let base = wt.as_ptr().add(first);
        let g: [[__m512; 3]; 3] = std::array::from_fn(|i| {
            std::array::from_fn(|j| _mm512_i32gather_ps::<4>(idx, base.add(i * 3 + j)))
        });
        // The same arithmetic, in the same order, as `super::tile_weights`.
        let half = _mm512_set1_ps(0.5);
        let gg: [[__m512; 3]; 4] = std::array::from_fn(|c| {
            std::array::from_fn(|j| match c {
                0 => g[0][j],
                1 => _mm512_mul_ps(
                    _mm512_add_ps(_mm512_add_ps(g[0][j], g[1][j]), g[2][j]),
                    half,
                ),
                2 => _mm512_mul_ps(
                    _mm512_add_ps(_mm512_sub_ps(g[0][j], g[1][j]), g[2][j]),
                    half,
                ),
                _ => g[2][j],
            })
        });
        for (i, t) in gg.iter().enumerate() {
            let u = [
                t[0],
                _mm512_mul_ps(_mm512_add_ps(_mm512_add_ps(t[0], t[1]), t[2]), half),
                _mm512_mul_ps(_mm512_add_ps(_mm512_sub_ps(t[0], t[1]), t[2]), half),
                t[2],
            ];
            for (j, &v) in u.iter().enumerate() {
                _mm512_storeu_ps(up.add((i * 4 + j) * plane + co * cin + ci), v);
            }
        }
    }

    /// V[e][ci][k] = (Bᵀ·d·B)[e] for the 4×4 patch d of tile k in channel ci, 16 tiles at a time
    /// (`tiles.patch[k]`: the patch's top-left offset in channel 0 of `x`; elements outside the
    /// map read as zero).
    #[target_feature(enable = "avx512f")]
    pub unsafe fn input_transform(
        x: &[f32],
        (cin, hw, w): (usize, usize, usize),
        tiles: &super::Tiles,
        v: *mut f32,
        tb: usize,
        vs: usize,
    ) {
        assert!(vs >= cin * tb && tiles.lanes() <= tb && x.len() >= cin * hw);
        for kv in (0..tiles.lanes()).step_by(16) {
            let idx = _mm512_loadu_si512(tiles.patch.as_ptr().add(kv) as *const _);
            let (rows, cols) = (tiles.rows[kv / 16], tiles.cols[kv / 16]);
            let z = _mm512_setzero_ps();
            for ci in 0..cin {
                let base = x.as_ptr().add(ci * hw);
                // Patch elements outside the map are the zero padding: masked off, never read.
                let d: [[__m512; 4]; 4] = std::array::from_fn(|i| {
                    std::array::from_fn(|j| {
                        let live = rows[i] & cols[j];
                        _mm512_mask_i32gather_ps::<4>(z, live, idx, base.wrapping_add(i * w + j))
                    })
                });
                // Bᵀ·d: rows.
                let r = [
                    sub(d[0], d[2]),
                    add(d[1], d[2]),
                    sub(d[2], d[1]),
                    sub(d[1], d[3]),
                ];
                for (i, row) in r.iter().enumerate() {
                    let out = [
                        _mm512_sub_ps(row[0], row[2]),
                        _mm512_add_ps(row[1], row[2]),
                        _mm512_sub_ps(row[2], row[1]),
                        _mm512_sub_ps(row[1], row[3]),
                    ];
                    for (j, &o) in out.iter().enumerate() {
                        _mm512_storeu_ps(v.add((i * 4 + j) * vs + ci * tb + kv), o);
                    }
                }
            }
        }
    }

    /// U[e][co][k] = (A·dY·Aᵀ)[e] for the 2×2 output-gradient tile k of channel co, 16 tiles at
    /// a time (`src[k]`: the tile's first element in channel 0 of `dy`); tiles from `nt` on get
    /// zeros.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn grad_transform(
        dy: &[f32],
        cout: usize,
        hw: usize,
        w: usize,
        src: &[i32],
        nt: usize,
        u: *mut f32,
        ld: usize,
        us: usize,
    ) {
        assert!(us >= cout * ld && nt <= src.len() && src.len() <= ld);
        for kv in (0..src.len()).step_by(16) {
            let idx = _mm512_loadu_si512(src.as_ptr().add(kv) as *const _);
            let live = nt.saturating_sub(kv).min(16);
            let mask: __mmask16 = ((1u32 << live) - 1) as u16;
            for co in 0..cout {
                let base = dy.as_ptr().add(co * hw);
                let z = _mm512_setzero_ps();
                let g = |off: usize| _mm512_mask_i32gather_ps::<4>(z, mask, idx, base.add(off));
                let (p, q, r, s) = (g(0), g(1), g(w), g(w + 1));
                // A·dY (4×2), A = [1 0; 1 1; 1 −1; 0 −1]; then each row [a, b] → [a, a+b, a−b, −b].
                let rows = [
                    [p, q],
                    [_mm512_add_ps(p, r), _mm512_add_ps(q, s)],
                    [_mm512_sub_ps(p, r), _mm512_sub_ps(q, s)],
                    [_mm512_sub_ps(z, r), _mm512_sub_ps(z, s)],
                ];
                for (i, [a, b]) in rows.iter().enumerate() {
                    let out = [
                        *a,
                        _mm512_add_ps(*a, *b),
                        _mm512_sub_ps(*a, *b),
                        _mm512_sub_ps(z, *b),
                    ];
                    for (j, &o) in out.iter().enumerate() {
                        _mm512_storeu_ps(u.add((i * 4 + j) * us + co * ld + kv), o);
                    }
                }
            }
        }
    }

    /// [`super::kernel_grad`] for input channels `ci..ci + 16` of output channel `co`, into
    /// `out` (that output channel's `cin` × 9 kernel gradients); `m` holds 16 planes `ms` apart.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn kernel_grads(
        m: &[f32],
        ms: usize,
        cin: usize,
        co: usize,
        ci: usize,
        out: *mut f32,
    ) {
        assert!(m.len() >= 15 * ms + (co + 1) * cin && ci + 16 <= cin);
        let mv: [__m512; 16] =
            std::array::from_fn(|e| _mm512_loadu_ps(m.as_ptr().add(e * ms + co * cin + ci)));
        let cols: [[__m512; 3]; 4] =
            std::array::from_fn(|j| gt_rows([mv[j], mv[4 + j], mv[8 + j], mv[12 + j]]));
        let idx = _mm512_mullo_epi32(
            _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
            _mm512_set1_epi32(9),
        );
        let by_row: [[__m512; 4]; 3] =
            std::array::from_fn(|ky| [cols[0][ky], cols[1][ky], cols[2][ky], cols[3][ky]]);
        for (ky, &row) in by_row.iter().enumerate() {
            let r = gt_rows(row);
            for (kx, &v) in r.iter().enumerate() {
                _mm512_i32scatter_ps::<4>(out.add(ci * 9 + ky * 3 + kx), idx, v);
            }
        }
    }

    /// Gᵀ·a for one column a of four: the arithmetic of `super::kernel_grad`, in the same order.
    #[inline(always)]
    unsafe fn gt_rows(a: [__m512; 4]) -> [__m512; 3] {
        let half = _mm512_set1_ps(0.5);
        let s = _mm512_add_ps(a[1], a[2]);
        [
            _mm512_add_ps(a[0], _mm512_mul_ps(half, s)),
            _mm512_mul_ps(half, _mm512_sub_ps(a[1], a[2])),
            _mm512_add_ps(_mm512_mul_ps(half, s), a[3]),
        ]
    }

    #[inline(always)]
    unsafe fn sub(a: [__m512; 4], b: [__m512; 4]) -> [__m512; 4] {
        std::array::from_fn(|j| _mm512_sub_ps(a[j], b[j]))
    }

    #[inline(always)]
    unsafe fn add(a: [__m512; 4], b: [__m512; 4]) -> [__m512; 4] {
        std::array::from_fn(|j| _mm512_add_ps(a[j], b[j]))
    }

    /// Y = Aᵀ·m·A for every output channel and tile, scattered into the NCHW output at
    /// `dst[k] + co·hw` (+1, +w, +w+1).
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn output_transform(
        m: &[f32],
        cout: usize,
        tb: usize,
        ms: usize,
        dst: &[i32],
        hw: usize,
        w: usize,
        y: *mut f32,
    ) {
        assert!(m.len() >= 16 * ms && ms >= cout * tb && dst.len() <= tb);
        assert!(dst.len().is_multiple_of(16));
        for kv in (0..dst.len()).step_by(16) {
            let idx = _mm512_loadu_si512(dst.as_ptr().add(kv) as *const _);
            for co in 0..cout {
                let mv: [[__m512; 4]; 4] = std::array::from_fn(|i| {
                    std::array::from_fn(|j| {
                        _mm512_loadu_ps(m.as_ptr().add((i * 4 + j) * ms + co * tb + kv))
                    })
                });
                // Aᵀ·m: two rows.
                let s0: [__m512; 4] = std::array::from_fn(|j| {
                    _mm512_add_ps(_mm512_add_ps(mv[0][j], mv[1][j]), mv[2][j])
                });
                let s1: [__m512; 4] = std::array::from_fn(|j| {
                    _mm512_sub_ps(_mm512_sub_ps(mv[1][j], mv[2][j]), mv[3][j])
                });
                let out = y.add(co * hw);
                for (r, s) in [s0, s1].iter().enumerate() {
                    let a = _mm512_add_ps(_mm512_add_ps(s[0], s[1]), s[2]);
                    let b = _mm512_sub_ps(_mm512_sub_ps(s[1], s[2]), s[3]);
                    _mm512_i32scatter_ps::<4>(out.add(r * w), idx, a);
                    _mm512_i32scatter_ps::<4>(out.add(r * w + 1), idx, b);
                }
            }
        }
    }
}

/// Off x86_64 [`available`] is false and nothing here is called; the signatures keep the
/// callers compiling.
#[cfg(not(target_arch = "x86_64"))]
#[allow(clippy::too_many_arguments, clippy::missing_safety_doc)]
mod avx512 {
    const NEVER: &str = "Winograd kernels are x86_64-only; callers check `available`";

    pub unsafe fn weight_transform(_: &[f32], _: usize, _: usize, _: usize, _: *mut f32, _: usize) {
        unreachable!("{NEVER}")
    }

    pub unsafe fn input_transform(
        _: &[f32],
        _: (usize, usize, usize),
        _: &super::Tiles,
        _: *mut f32,
        _: usize,
        _: usize,
    ) {
        unreachable!("{NEVER}")
    }

    pub unsafe fn grad_transform(
        _: &[f32],
        _: usize,
        _: usize,
        _: usize,
        _: &[i32],
        _: usize,
        _: *mut f32,
        _: usize,
        _: usize,
    ) {
        unreachable!("{NEVER}")
    }

    pub unsafe fn kernel_grads(_: &[f32], _: usize, _: usize, _: usize, _: usize, _: *mut f32) {
        unreachable!("{NEVER}")
    }

    pub unsafe fn output_transform(
        _: &[f32],
        _: usize,
        _: usize,
        _: usize,
        _: &[i32],
        _: usize,
        _: usize,
        _: *mut f32,
    ) {
        unreachable!("{NEVER}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn direct(
        x: &[f32],
        (n, cin, h, w): (usize, usize, usize, usize),
        wt: &[f32],
        cout: usize,
    ) -> Vec<f32> {
        let mut y = vec![0f32; n * cout * h * w];
        for s in 0..n {
            for co in 0..cout {
                for oy in 0..h {
                    for ox in 0..w {
                        let mut acc = 0f64;
                        for ci in 0..cin {
                            for ky in 0..3 {
                                for kx in 0..3 {
                                    let (iy, ix) = (oy + ky, ox + kx);
                                    if iy < 1 || ix < 1 || iy > h || ix > w {
                                        continue;
                                    }
                                    acc += x[((s * cin + ci) * h + iy - 1) * w + ix - 1] as f64
                                        * wt[((co * cin + ci) * 3 + ky) * 3 + kx] as f64;
                                }
                            }
                        }
                        y[((s * cout + co) * h + oy) * w + ox] = acc as f32;
                    }
                }
            }
        }
        y
    }

    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| {
                let v = (i as u32)
                    .wrapping_mul(2654435761)
                    .wrapping_add(seed.wrapping_mul(40503));
                ((v >> 8) % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    fn check(n: usize, cin: usize, h: usize, w: usize, cout: usize) {
        if !available() {
            return;
        }
        let x = values(n * cin * h * w, 1);
        let wt = values(cout * cin * 9, 2);
        let want = direct(&x, (n, cin, h, w), &wt, cout);
        let weights = Weights::new(&wt, cout, cin);
        let got = forward(&x, (n, h, w), &weights);
        let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
        for (i, (a, b)) in got.iter().zip(&want).enumerate() {
            assert!((a - b).abs() <= 1e-5 * scale.max(1.0), "{i}: {a} vs {b}");
        }
        // The input gradient: the flipped, transposed convolution of an output gradient.
        let dy = values(n * cout * h * w, 3);
        let mut wflip = vec![0f32; cin * cout * 9];
        for co in 0..cout {
            for ci in 0..cin {
                for t in 0..9 {
                    wflip[(ci * cout + co) * 9 + t] = wt[(co * cin + ci) * 9 + 8 - t];
                }
            }
        }
        let want = direct(&dy, (n, cout, h, w), &wflip, cin);
        let got = input_grad(&dy, (n, h, w), &weights);
        let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
        for (i, (a, b)) in got.iter().zip(&want).enumerate() {
            assert!((a - b).abs() <= 1e-5 * scale.max(1.0), "dx {i}: {a} vs {b}");
        }
    }

    fn check_weight_grad(n: usize, cin: usize, h: usize, w: usize, cout: usize) {
        if !available() {
            return;
        }
        let x = values(n * cin * h * w, 4);
        let dy = values(n * cout * h * w, 5);
        let mut want = vec![0f64; cout * cin * 9];
        for s in 0..n {
            for co in 0..cout {
                for ci in 0..cin {
                    for ky in 0..3 {
                        for kx in 0..3 {
                            let mut acc = 0f64;
                            for oy in 0..h {
                                for ox in 0..w {
                                    let (iy, ix) = (oy + ky, ox + kx);
                                    if iy < 1 || ix < 1 || iy > h || ix > w {
                                        continue;
                                    }
                                    acc += x[((s * cin + ci) * h + iy - 1) * w + ix - 1] as f64
                                        * dy[((s * cout + co) * h + oy) * w + ox] as f64;
                                }
                            }
                            want[((co * cin + ci) * 3 + ky) * 3 + kx] += acc;
                        }
                    }
                }
            }
        }
        let scale = want.iter().fold(0f64, |m, v| m.max(v.abs())) as f32;
        let whole = weight_grad(&x, (n, cin, h, w), &dy, cout);
        // Also summed in passes of 16 and 32 tiles (a partial last pass for most shapes).
        let passes =
            [16, 32].map(|p| weight_grad_in_passes(&x, (n, cin, h, w), &dy, cout, (16, p)));
        for got in [&whole, &passes[0], &passes[1]] {
            for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (a - *b as f32).abs() <= 1e-5 * scale.max(1.0),
                    "dw {i}: {a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn weight_gradient_matches_the_direct_sum() {
        check_weight_grad(1, 3, 4, 4, 5);
        check_weight_grad(2, 16, 8, 6, 16);
        check_weight_grad(3, 7, 2, 10, 9);
        check_weight_grad(5, 32, 16, 16, 48);
        check_weight_grad(3, 130, 6, 6, 129);
    }

    #[test]
    fn matches_the_direct_convolution() {
        check(1, 3, 4, 4, 5);
        check(2, 16, 8, 6, 16);
        check(3, 7, 2, 10, 9);
        check(5, 32, 16, 16, 48);
    }
}
