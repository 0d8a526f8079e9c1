//! Gradient checks: every fast kernel's forward and backward against the stock candle
//! composition, on fresh random inputs of awkward shapes (batch 1, odd sizes, stride 2, ghost
//! chunks with a smaller last chunk, panels that split an image and panels that span several).

use candle_core::{backprop::GradStore, Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::Kernels;

const TOL: f32 = 1e-4;

fn randn(rng: &mut ChaCha8Rng, shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    // Sum of uniforms: roughly normal, bounded, and reproducible from the seed.
    let v: Vec<f32> = (0..n)
        .map(|_| (0..4).map(|_| rng.gen::<f32>() - 0.5).sum::<f32>() * 1.7)
        .collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

/// max |a − b| / max |b|, the relative error the checks bound.
fn rel_err(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims(), "shapes differ");
    let a = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let b = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let diff = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    let scale = b.iter().map(|y| y.abs()).fold(0f32, f32::max).max(1e-6);
    diff / scale
}

fn check(what: &str, a: &Tensor, b: &Tensor) {
    let e = rel_err(a, b);
    assert!(e <= TOL, "{what}: relative error {e:e} > {TOL:e}");
}

/// Scalar loss Σ y·r with a fixed random `r`, so every output element gets its own gradient.
fn loss(y: &Tensor, r: &Tensor) -> Tensor {
    (y * r).unwrap().sum_all().unwrap()
}

/// The input as an op sees it: `x` itself, or detached like the image batch at the stem.
fn tracked_input(x: &Var, tracks: bool) -> Tensor {
    if tracks {
        x.as_tensor().clone()
    } else {
        x.as_tensor().detach()
    }
}

/// The fast path's input gradient matches the stock one, or is absent for an untracked input.
fn check_input_grad(case: &str, gf: &GradStore, gs: &GradStore, x: &Var, tracks: bool) {
    if tracks {
        check(
            &format!("{case} dX"),
            gf.get(x).unwrap(),
            gs.get(x).unwrap(),
        );
    } else {
        assert!(
            gf.get(x).is_none(),
            "{case}: input gradient computed for an untracked input"
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn conv_case(
    seed: u64,
    (n, cin, h, w): (usize, usize, usize, usize),
    cout: usize,
    k: usize,
    stride: usize,
    pad: usize,
    input_tracks: bool,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = Var::from_tensor(&randn(&mut rng, &[n, cin, h, w])).unwrap();
    let wt = Var::from_tensor(&(randn(&mut rng, &[cout, cin, k, k]) * 0.3).unwrap()).unwrap();
    let xin = tracked_input(&x, input_tracks);
    let yf = Kernels::Fast.conv2d(&xin, &wt, stride, pad).unwrap();
    let ys = Kernels::Candle.conv2d(&xin, &wt, stride, pad).unwrap();
    let case = format!("conv n{n} c{cin}->{cout} {h}x{w} k{k} s{stride} p{pad}");
    check(&format!("{case} forward"), &yf, &ys);
    let r = randn(&mut rng, ys.dims());
    let gf = loss(&yf, &r).backward().unwrap();
    let gs = loss(&ys, &r).backward().unwrap();
    check(
        &format!("{case} dW"),
        gf.get(&wt).unwrap(),
        gs.get(&wt).unwrap(),
    );
    check_input_grad(&case, &gf, &gs, &x, input_tracks);
}

#[test]
fn conv_matches_stock() {
    // batch 1, odd sizes, 3×3 stride 1
    conv_case(1, (1, 3, 5, 7), 4, 3, 1, 1, true);
    // stride 2, odd size
    conv_case(2, (2, 5, 9, 9), 6, 3, 2, 1, true);
    // 1×1 shortcut, stride 2 and stride 1
    conv_case(3, (3, 4, 8, 8), 8, 1, 2, 0, true);
    conv_case(4, (2, 4, 6, 6), 5, 1, 1, 0, true);
    // unpadded 3×3
    conv_case(5, (2, 3, 6, 6), 2, 3, 1, 0, true);
    // several samples per panel, odd batch
    conv_case(6, (5, 8, 7, 7), 6, 3, 1, 1, true);
    conv_case(7, (4, 6, 11, 13), 3, 3, 2, 1, true);
    // an image bigger than a panel: split by output rows, stride 1 and 2, and pointwise
    conv_case(8, (2, 4, 32, 32), 8, 3, 1, 1, true);
    conv_case(9, (3, 3, 48, 48), 4, 3, 2, 1, true);
    conv_case(10, (2, 8, 33, 31), 4, 1, 1, 0, true);
    // the direct 3×3 kernels (stride 1, ≥ 256 pixels, channels in multiples of 16): every tile
    // width (16, 32, 64 outputs), odd sizes, a batch that spans several weight-gradient blocks,
    // and input channels that force the GEMM path for the input gradient only
    conv_case(14, (3, 16, 16, 16), 16, 3, 1, 1, true);
    conv_case(15, (2, 32, 17, 19), 32, 3, 1, 1, true);
    conv_case(16, (9, 16, 16, 16), 64, 3, 1, 1, true);
    conv_case(17, (2, 64, 16, 20), 16, 3, 1, 1, true);
    conv_case(19, (2, 5, 32, 32), 16, 3, 1, 1, true);
    conv_case(20, (5, 64, 8, 8), 64, 3, 1, 1, true);
    conv_case(21, (3, 32, 8, 9), 32, 3, 1, 1, true);
    // 4×4 maps with 32 channels stay on the GEMM path
    conv_case(22, (3, 32, 4, 4), 32, 3, 1, 1, true);
    // small maps go several samples side by side (4 per plane at 8×8, 3 at 9×12): full and
    // partial groups in each thread's range, and more groups than one weight-gradient block
    conv_case(23, (19, 16, 9, 12), 32, 3, 1, 1, true);
    conv_case(24, (11, 32, 8, 8), 16, 3, 1, 1, true);
    conv_case(25, (45, 16, 8, 8), 16, 3, 1, 1, true);
    conv_case(26, (7, 16, 8, 9), 16, 3, 1, 1, true);
    // weights larger than the output gradient: dW split by input channels, over two panels
    // (its input gradient, 64 channels of 4×4, on the wide direct path)
    conv_case(27, (40, 64, 4, 4), 16, 3, 1, 1, true);
    conv_case(28, (9, 32, 8, 8), 16, 3, 2, 1, true);
    // maps below the direct path's minimum with outputs in blocks of 64: the wide direct path
    // (all of a group's samples in one plane, split by output channels), forward and input
    // gradient; one partial group, two groups (the second partial), and 4-wide rows of 8
    conv_case(29, (5, 64, 4, 4), 64, 3, 1, 1, true);
    conv_case(30, (35, 64, 4, 4), 128, 3, 1, 1, true);
    conv_case(31, (3, 128, 4, 8), 64, 3, 1, 1, true);
    conv_case(32, (2, 48, 4, 4), 64, 3, 1, 1, true);
    // Winograd (≥ 128 channels each side, even maps): batch 1, a tile count that is not a whole
    // number of 16-tile vectors (3 × 3 × 3 = 27), channel counts that are not multiples of 16,
    // non-square maps, more tiles than one block; an odd map stays on the direct path
    conv_case(33, (1, 128, 2, 2), 128, 3, 1, 1, true);
    conv_case(34, (3, 130, 6, 6), 129, 3, 1, 1, true);
    conv_case(35, (2, 128, 4, 10), 144, 3, 1, 1, true);
    conv_case(36, (9, 128, 16, 16), 128, 3, 1, 1, true);
    conv_case(37, (2, 128, 5, 5), 128, 3, 1, 1, true);
}

/// Stock candle's conv backward mis-sizes the input gradient when H and W differ in parity under
/// stride 2, so this shape is checked by adjointness instead: the loss Σ conv(x)·r is linear in x,
/// hence Σ dX·x' must equal Σ conv(x')·r for any x' (and likewise for the weight).
#[test]
fn conv_gradient_is_the_adjoint_for_mixed_parity_stride_2() {
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    let x = Var::from_tensor(&randn(&mut rng, &[3, 3, 48, 47])).unwrap();
    let wt = Var::from_tensor(&randn(&mut rng, &[4, 3, 3, 3])).unwrap();
    let y = Kernels::Fast.conv2d(&x, &wt, 2, 1).unwrap();
    let r = randn(&mut rng, y.dims());
    let grads = loss(&y, &r).backward().unwrap();
    let x2 = randn(&mut rng, x.dims());
    let w2 = randn(&mut rng, wt.dims());
    let dot = |a: &Tensor, b: &Tensor| loss(a, b).to_scalar::<f32>().unwrap();
    let lhs_x = dot(grads.get(&x).unwrap(), &x2);
    let rhs_x = dot(&Kernels::Candle.conv2d(&x2, &wt, 2, 1).unwrap(), &r);
    assert!(
        (lhs_x - rhs_x).abs() <= TOL * rhs_x.abs().max(1.0),
        "dX {lhs_x} vs {rhs_x}"
    );
    let lhs_w = dot(grads.get(&wt).unwrap(), &w2);
    let rhs_w = dot(&Kernels::Candle.conv2d(&x, &w2, 2, 1).unwrap(), &r);
    assert!(
        (lhs_w - rhs_w).abs() <= TOL * rhs_w.abs().max(1.0),
        "dW {lhs_w} vs {rhs_w}"
    );
}

#[test]
fn conv_skips_gradient_of_untracked_input() {
    conv_case(11, (3, 3, 10, 10), 4, 3, 1, 1, false);
    conv_case(12, (1, 3, 32, 32), 4, 3, 1, 1, false);
    // the stem through the direct kernels
    conv_case(18, (3, 3, 32, 32), 16, 3, 1, 1, false);
}

/// The fused conv + batch norm (+ ReLU) against the two stock ops composed: output, statistics,
/// and the gradients of input, weight, scale and shift.
#[allow(clippy::too_many_arguments)]
fn conv_bn_case(
    seed: u64,
    (n, cin, h, w): (usize, usize, usize, usize),
    cout: usize,
    k: usize,
    stride: usize,
    ghost: usize,
    relu: bool,
    input_tracks: bool,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = Var::from_tensor(&randn(&mut rng, &[n, cin, h, w])).unwrap();
    let wt = Var::from_tensor(&(randn(&mut rng, &[cout, cin, k, k]) * 0.3).unwrap()).unwrap();
    let gamma = Var::from_tensor(&randn(&mut rng, &[cout])).unwrap();
    let beta = Var::from_tensor(&randn(&mut rng, &[cout])).unwrap();
    let xin = tracked_input(&x, input_tracks);
    let run = |kern: Kernels| {
        kern.conv_bn_train(&xin, &wt, &gamma, &beta, (stride, k / 2), ghost, 1e-5, relu)
            .unwrap()
    };
    let (yf, mf, vf) = run(Kernels::Fast);
    let (ys, ms, vs) = run(Kernels::Candle);
    let case =
        format!("conv_bn n{n} c{cin}->{cout} {h}x{w} k{k} s{stride} ghost{ghost} relu{relu}");
    check(&format!("{case} forward"), &yf, &ys);
    check(&format!("{case} mean"), &mf, &ms);
    check(&format!("{case} var"), &vf, &vs);
    assert!(
        !mf.track_op() && !vf.track_op(),
        "{case}: statistics must be detached"
    );
    let r = randn(&mut rng, ys.dims());
    let gf = loss(&yf, &r).backward().unwrap();
    let gs = loss(&ys, &r).backward().unwrap();
    for (name, v) in [("dW", &wt), ("dgamma", &gamma), ("dbeta", &beta)] {
        check(
            &format!("{case} {name}"),
            gf.get(v).unwrap(),
            gs.get(v).unwrap(),
        );
    }
    check_input_grad(&case, &gf, &gs, &x, input_tracks);
}

#[test]
fn conv_bn_matches_stock() {
    // direct 3×3 path, ReLU, one and several ghost chunks
    conv_bn_case(40, (6, 16, 16, 16), 32, 3, 1, 0, true, true);
    conv_bn_case(41, (6, 16, 16, 16), 16, 3, 1, 4, false, true);
    // GEMM paths: stride 2, the 1×1 shortcut, odd sizes, batch 1
    conv_bn_case(42, (3, 5, 9, 9), 6, 3, 2, 2, true, true);
    conv_bn_case(43, (4, 8, 8, 8), 16, 1, 2, 0, false, true);
    conv_bn_case(44, (1, 4, 7, 5), 3, 3, 1, 0, true, true);
    // the stem: no gradient for the image
    conv_bn_case(45, (3, 3, 32, 32), 16, 3, 1, 2, true, false);
    // Winograd, with ReLU and ghost chunks
    conv_bn_case(46, (4, 128, 8, 8), 128, 3, 1, 2, true, true);
}

fn bn_train_case(seed: u64, (n, c, h, w): (usize, usize, usize, usize), ghost: usize, relu: bool) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // An offset mean per channel checks the statistics do not cancel badly.
    let x = randn(&mut rng, &[n, c, h, w]).affine(2.0, 3.0).unwrap();
    let x = Var::from_tensor(&x).unwrap();
    let gamma = Var::from_tensor(&randn(&mut rng, &[c])).unwrap();
    let beta = Var::from_tensor(&randn(&mut rng, &[c])).unwrap();
    let eps = 1e-5;
    let (yf, mf, vf) = Kernels::Fast
        .batch_norm_train(&x, &gamma, &beta, ghost, eps, relu)
        .unwrap();
    let (ys, ms, vs) = Kernels::Candle
        .batch_norm_train(&x, &gamma, &beta, ghost, eps, relu)
        .unwrap();
    let case = format!("bn_train n{n} c{c} {h}x{w} ghost{ghost} relu{relu}");
    let chunks = super::ghost_chunks(n, ghost).len();
    assert_eq!(mf.dims(), &[chunks, c], "{case}: mean shape");
    assert_eq!(vf.dims(), &[chunks, c], "{case}: var shape");
    assert!(
        !mf.track_op() && !vf.track_op(),
        "{case}: statistics must be detached"
    );
    check(&format!("{case} forward"), &yf, &ys);
    check(&format!("{case} mean"), &mf, &ms);
    check(&format!("{case} var"), &vf, &vs);
    let r = randn(&mut rng, ys.dims());
    let gf = loss(&yf, &r).backward().unwrap();
    let gs = loss(&ys, &r).backward().unwrap();
    for (name, v) in [("dx", &x), ("dgamma", &gamma), ("dbeta", &beta)] {
        check(
            &format!("{case} {name}"),
            gf.get(v).unwrap(),
            gs.get(v).unwrap(),
        );
    }
}

#[test]
fn bn_train_matches_stock() {
    bn_train_case(20, (1, 3, 4, 4), 0, false);
    bn_train_case(21, (1, 3, 5, 3), 0, true);
    // ghost chunks 3, 3, 1: the last chunk is smaller
    bn_train_case(22, (7, 5, 3, 3), 3, true);
    bn_train_case(23, (7, 5, 3, 3), 3, false);
    bn_train_case(24, (8, 4, 5, 5), 4, true);
    // ghost ≥ N is one chunk; 1×1 spatial
    bn_train_case(25, (6, 3, 1, 1), 6, false);
    bn_train_case(26, (6, 3, 1, 1), 4, true);
    bn_train_case(27, (5, 2, 17, 19), 0, true);
}

fn bn_eval_case(seed: u64, (n, c, h, w): (usize, usize, usize, usize), relu: bool) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = Var::from_tensor(&randn(&mut rng, &[n, c, h, w])).unwrap();
    let gamma = Var::from_tensor(&randn(&mut rng, &[c])).unwrap();
    let beta = Var::from_tensor(&randn(&mut rng, &[c])).unwrap();
    let mean = randn(&mut rng, &[c]);
    let var = (randn(&mut rng, &[c]).abs().unwrap() + 0.1).unwrap();
    let args = (&x, &gamma, &beta, &mean, &var);
    let yf = Kernels::Fast
        .batch_norm_eval(args.0, args.1, args.2, args.3, args.4, 1e-5, relu)
        .unwrap();
    let ys = Kernels::Candle
        .batch_norm_eval(args.0, args.1, args.2, args.3, args.4, 1e-5, relu)
        .unwrap();
    let case = format!("bn_eval n{n} c{c} {h}x{w} relu{relu}");
    check(&format!("{case} forward"), &yf, &ys);
    let r = randn(&mut rng, ys.dims());
    let gf = loss(&yf, &r).backward().unwrap();
    let gs = loss(&ys, &r).backward().unwrap();
    for (name, v) in [("dx", &x), ("dgamma", &gamma), ("dbeta", &beta)] {
        check(
            &format!("{case} {name}"),
            gf.get(v).unwrap(),
            gs.get(v).unwrap(),
        );
    }
}

#[test]
fn bn_eval_matches_stock() {
    bn_eval_case(30, (1, 3, 4, 4), false);
    bn_eval_case(31, (3, 5, 7, 3), true);
    bn_eval_case(32, (2, 4, 1, 1), true);
}

#[test]
fn add_relu_matches_stock() {
    let mut rng = ChaCha8Rng::seed_from_u64(40);
    for shape in [[1usize, 3, 5, 5], [3, 7, 9, 11], [2, 64, 16, 16]] {
        let a = Var::from_tensor(&randn(&mut rng, &shape)).unwrap();
        let b = Var::from_tensor(&randn(&mut rng, &shape)).unwrap();
        let yf = Kernels::Fast.add_relu(&a, &b).unwrap();
        let ys = Kernels::Candle.add_relu(&a, &b).unwrap();
        check(&format!("add_relu {shape:?} forward"), &yf, &ys);
        let r = randn(&mut rng, &shape);
        let gf = loss(&yf, &r).backward().unwrap();
        let gs = loss(&ys, &r).backward().unwrap();
        check("add_relu da", gf.get(&a).unwrap(), gs.get(&a).unwrap());
        check("add_relu db", gf.get(&b).unwrap(), gs.get(&b).unwrap());
    }
}

#[test]
fn ghost_chunks_cover_the_batch() {
    assert_eq!(super::ghost_chunks(7, 0), vec![(0, 7)]);
    assert_eq!(super::ghost_chunks(7, 7), vec![(0, 7)]);
    assert_eq!(super::ghost_chunks(7, 9), vec![(0, 7)]);
    assert_eq!(super::ghost_chunks(7, 3), vec![(0, 3), (3, 3), (6, 1)]);
}

#[test]
fn bad_shapes_are_errors_not_panics() {
    let x = Tensor::zeros((2, 3, 8, 8), candle_core::DType::F32, &Device::Cpu).unwrap();
    let w5 = Tensor::zeros((4, 3, 5, 5), candle_core::DType::F32, &Device::Cpu).unwrap();
    let w_wrong_c = Tensor::zeros((4, 2, 3, 3), candle_core::DType::F32, &Device::Cpu).unwrap();
    assert!(Kernels::Fast.conv2d(&x, &w5, 1, 1).is_err());
    assert!(Kernels::Fast.conv2d(&x, &w_wrong_c, 1, 1).is_err());
    let g = Tensor::ones(4, candle_core::DType::F32, &Device::Cpu).unwrap();
    assert!(Kernels::Fast
        .batch_norm_train(&x, &g, &g, 0, 1e-5, false)
        .is_err());
}

#[test]
fn non_f32_takes_the_stock_path() {
    let mut rng = ChaCha8Rng::seed_from_u64(50);
    let x = randn(&mut rng, &[2, 3, 6, 6])
        .to_dtype(candle_core::DType::F64)
        .unwrap();
    let w = randn(&mut rng, &[4, 3, 3, 3])
        .to_dtype(candle_core::DType::F64)
        .unwrap();
    let yf = Kernels::Fast.conv2d(&x, &w, 1, 1).unwrap();
    let ys = Kernels::Candle.conv2d(&x, &w, 1, 1).unwrap();
    assert_eq!(yf.dtype(), candle_core::DType::F64);
    let diff = (yf - ys)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f64>()
        .unwrap();
    assert!(diff < 1e-12, "f64 conv differs by {diff}");
}
