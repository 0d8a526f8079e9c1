//! Kernel benchmarks: each layer op, forward + backward, fast CPU kernels against stock candle, on
//! the shapes the CIFAR ResNets use. Prints one line per case with both times and the speed-up.
//!
//! Run: `cargo bench --bench kernels [-- FILTER...] [--batch N]... [--budget SECONDS] [--fast-only]`
//! (FILTER picks cases whose name contains it). Timings are medians over repeated runs after a
//! warm-up; on a shared machine run it twice and trust the lower, steadier figures.

use std::time::{Duration, Instant};

use batchramp::ops::Kernels;
use candle_core::{Device, Tensor, Var};

/// One benchmark case: a name and a closure running fwd+bwd once with the given kernels.
struct Case {
    name: String,
    flops: f64,
    run: Box<dyn Fn(Kernels)>,
}

fn randn(shape: &[usize]) -> Tensor {
    Tensor::randn(0f32, 1.0, shape, &Device::Cpu).expect("random tensor")
}

fn var(shape: &[usize]) -> Var {
    Var::from_tensor(&randn(shape)).expect("variable")
}

/// A convolution (with its input a variable unless it is the stem) timed forward + backward.
fn conv_case(net: &str, b: usize, cin: usize, hw: usize, cout: usize, k: usize, s: usize) -> Case {
    let stem = cin == 3;
    let x = var(&[b, cin, hw, hw]);
    let w = var(&[cout, cin, k, k]);
    let pad = k / 2;
    let ho = (hw + 2 * pad - k) / s + 1;
    let macs = (b * cout * ho * ho * cin * k * k) as f64;
    // fwd + weight grad (+ input grad unless stem)
    let flops = 2.0 * macs * if stem { 2.0 } else { 3.0 };
    let xin: Tensor = if stem {
        x.as_tensor().detach()
    } else {
        x.as_tensor().clone()
    };
    Case {
        name: format!("{net} conv{k}x{k} b{b} {cin}->{cout} {hw}x{hw} s{s}"),
        flops,
        run: Box::new(move |kern| {
            let y = kern.conv2d(&xin, &w, s, pad).expect("conv");
            y.backward().expect("backward");
        }),
    }
}

fn bn_case(b: usize, c: usize, hw: usize, ghost: usize) -> Case {
    let x = var(&[b, c, hw, hw]);
    let g = var(&[c]);
    let be = var(&[c]);
    Case {
        name: format!("bn+relu train b{b} c{c} {hw}x{hw} ghost{ghost}"),
        flops: 0.0,
        run: Box::new(move |kern| {
            let (y, _, _) = kern
                .batch_norm_train(&x, &g, &be, ghost, 1e-5, true)
                .expect("bn");
            y.backward().expect("backward");
        }),
    }
}

fn add_relu_case(b: usize, c: usize, hw: usize) -> Case {
    let x = var(&[b, c, hw, hw]);
    let y = var(&[b, c, hw, hw]);
    Case {
        name: format!("add+relu b{b} c{c} {hw}x{hw}"),
        flops: 0.0,
        run: Box::new(move |kern| {
            let z = kern.add_relu(&x, &y).expect("add_relu");
            z.backward().expect("backward");
        }),
    }
}

fn cases(batches: &[usize]) -> Vec<Case> {
    let mut out = Vec::new();
    for &b in batches {
        // ResNet-8/20 (widths 16, 32, 64)
        out.push(conv_case("r20", b, 3, 32, 16, 3, 1));
        out.push(conv_case("r20", b, 16, 32, 16, 3, 1));
        out.push(conv_case("r20", b, 16, 32, 32, 3, 2));
        out.push(conv_case("r20", b, 16, 32, 32, 1, 2));
        out.push(conv_case("r20", b, 32, 16, 32, 3, 1));
        out.push(conv_case("r20", b, 64, 8, 64, 3, 1));
        // ResNet-18 (widths 64 .. 512)
        out.push(conv_case("r18", b, 3, 32, 64, 3, 1));
        out.push(conv_case("r18", b, 64, 32, 64, 3, 1));
        out.push(conv_case("r18", b, 64, 32, 128, 3, 2));
        out.push(conv_case("r18", b, 128, 16, 128, 3, 1));
        out.push(conv_case("r18", b, 128, 16, 256, 3, 2));
        out.push(conv_case("r18", b, 256, 8, 256, 3, 1));
        out.push(conv_case("r18", b, 256, 8, 512, 3, 2));
        out.push(conv_case("r18", b, 512, 4, 512, 3, 1));
        out.push(conv_case("r18", b, 64, 32, 128, 1, 2));
        out.push(conv_case("r18", b, 256, 8, 512, 1, 2));
        out.push(bn_case(b, 16, 32, 0));
        out.push(bn_case(b, 64, 32, 32));
        out.push(bn_case(b, 512, 4, 0));
        out.push(add_relu_case(b, 16, 32));
        out.push(add_relu_case(b, 64, 32));
    }
    out
}

/// CPU time of this process (all threads), seconds: unlike wall time it does not count the
/// moments another program holds the core, so it is the steadier figure on a shared machine.
fn cpu_time() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// (median wall, minimum cpu) seconds of `f` over repeats filling about `budget` (≥ 3 runs,
/// 1 warm-up). The minimum CPU time is the figure least disturbed by other programs.
fn time(f: &dyn Fn(), budget: Duration) -> (f64, f64) {
    f();
    let (mut wall, mut cpu) = (Vec::new(), Vec::new());
    let start = Instant::now();
    while wall.len() < 3 || (start.elapsed() < budget && wall.len() < 200) {
        let (t, c) = (Instant::now(), cpu_time());
        f();
        wall.push(t.elapsed().as_secs_f64());
        cpu.push(cpu_time() - c);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (
        median(&mut wall),
        cpu.iter().copied().fold(f64::INFINITY, f64::min),
    )
}

fn main() {
    // As the binary does at start-up, so the kernels allocate as they do in training.
    batchramp::ops::tune_cpu_allocator();
    let mut filters = Vec::new();
    let mut batches = Vec::new();
    let mut budget = Duration::from_millis(600);
    let mut fast_only = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bench" => {}
            "--fast-only" => fast_only = true,
            "--batch" => batches.extend(args.next().and_then(|v| v.parse::<usize>().ok())),
            "--budget" => {
                if let Some(s) = args.next().and_then(|v| v.parse::<f64>().ok()) {
                    budget = Duration::from_secs_f64(s);
                }
            }
            _ => filters.push(a),
        }
    }
    if batches.is_empty() {
        batches = vec![32, 128];
    }
    println!(
        "threads: {} (candle pool); fwd+bwd medians; speedup = candle/fast wall time, cpu-time = the \
         same on minimum process CPU time; GF/cpu-s = conv FLOPs (2 per MAC, per GEMM pass) / \
         fast minimum CPU seconds",
        candle_core::utils::barrier_pool().n_workers() + 1
    );
    println!(
        "{:<42} {:>9} {:>10} {:>8} {:>9} {:>9}",
        "case", "fast ms", "candle ms", "speedup", "cpu-time", "GF/cpu-s"
    );
    let (mut sum_fast, mut sum_stock) = (0.0, 0.0);
    let (mut cpu_fast, mut cpu_stock) = (0.0, 0.0);
    for case in cases(&batches) {
        if !filters.is_empty() && !filters.iter().any(|f| case.name.contains(f.as_str())) {
            continue;
        }
        let (fast, fast_cpu) = time(&|| (case.run)(Kernels::Fast), budget);
        let (stock, stock_cpu) = if fast_only {
            (f64::NAN, f64::NAN)
        } else {
            time(&|| (case.run)(Kernels::Candle), budget)
        };
        sum_fast += fast;
        sum_stock += stock;
        cpu_fast += fast_cpu;
        cpu_stock += stock_cpu;
        let gf = if case.flops > 0.0 {
            format!("{:.1}", case.flops / fast_cpu / 1e9)
        } else {
            "-".into()
        };
        println!(
            "{:<42} {:>9.3} {:>10.3} {:>7.1}x {:>8.1}x {:>9}",
            case.name,
            fast * 1e3,
            stock * 1e3,
            stock / fast,
            stock_cpu / fast_cpu,
            gf
        );
    }
    if sum_fast > 0.0 {
        println!(
            "{:<42} {:>9.3} {:>10.3} {:>7.1}x {:>8.1}x",
            "total",
            sum_fast * 1e3,
            sum_stock * 1e3,
            sum_stock / sum_fast,
            cpu_stock / cpu_fast
        );
    }
}
