//! Number, time and count formatting shared by the UI, the plain lines and the reports, so
//! every figure reads the same everywhere. Owns text shapes only; must never decide what to
//! show.

/// `1 epoch`, `2 epochs`, `1,200 updates`: a count with its noun, singular for one.
pub fn counted(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{} {noun}s", count(n))
    }
}

/// `12345` → `12,345`.
pub fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Short form with an SI suffix: `950`, `1.2k`, `34k`, `1.5M`.
pub fn si(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    let a = v.abs();
    let (x, suffix) = if a >= 1e9 {
        (v / 1e9, "G")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    if suffix.is_empty() {
        if a >= 100.0 || v == v.trunc() {
            format!("{v:.0}")
        } else if a >= 10.0 {
            format!("{v:.1}")
        } else {
            format!("{v:.2}")
        }
    } else if x.abs() >= 100.0 {
        format!("{x:.0}{suffix}")
    } else if x.abs() >= 10.0 || x == x.trunc() {
        format!("{:.0}{suffix}", x.round())
    } else {
        format!("{x:.1}{suffix}")
    }
}

/// Seconds → `45s`, `3m12s`, `2h05m`, `3d04h`.
pub fn duration(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "n/a".into();
    }
    let s = secs.round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{:02}m", s / 3600, s / 60 % 60),
        _ => format!("{}d{:02}h", s / 86_400, s / 3600 % 24),
    }
}

/// Seconds since the start as a clock for log lines: `03:12`, `1:02:03`.
pub fn clock(secs: f64) -> String {
    let s = if secs.is_finite() && secs > 0.0 {
        secs as u64
    } else {
        0
    };
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{:02}:{:02}", s / 60, s % 60)
    }
}

/// Bytes → `512 MiB`, `1.2 GiB`.
pub fn bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 || v >= 100.0 {
        format!("{v:.0} {}", UNITS[i])
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

/// A learning rate: `0.1`, `0.02`, `4e-4`.
pub fn lr(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if v.abs() >= 0.01 && v.abs() < 1000.0 {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{v:.0e}")
    }
}

/// How a batch of `batch` images runs as micro-batches of at most `micro`, in terms that add up
/// to `batch`: `256+256+128`, `5×128` for equal ones, `24×128+64` for many; `None` for one
/// micro-batch. `times` is the theme's multiplication sign (`×` or `x`).
pub fn micro_batches(batch: usize, micro: usize, times: &str) -> Option<String> {
    let micro = micro.max(1);
    let (full, rest) = (batch / micro, batch % micro);
    match (full, rest) {
        (0, _) | (1, 0) => None,
        (n, 0) => Some(format!("{n}{times}{micro}")),
        (1 | 2, r) => Some(format!("{}{r}", format!("{micro}+").repeat(full))),
        (n, r) => Some(format!("{n}{times}{micro}+{r}")),
    }
}

/// The SGD noise scale g = εN/(B(1−m)) as the UI, the plain lines and the reports show it:
/// `0.13`, `781`, `1.6k`.
pub fn noise_scale(g: f64) -> String {
    si(g)
}

/// A fraction as a percentage: `0.9123` → `91.23%`.
pub fn pct(v: f64) -> String {
    if v.is_finite() {
        format!("{:.2}%", v * 100.0)
    } else {
        "n/a".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_read_well() {
        assert_eq!(count(0), "0");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(count(999), "999");
        assert_eq!(si(950.0), "950");
        assert_eq!(si(1234.0), "1.2k");
        assert_eq!(si(34_000.0), "34k");
        assert_eq!(si(1_500_000.0), "1.5M");
        assert_eq!(si(2.345), "2.35");
        assert_eq!(duration(45.0), "45s");
        assert_eq!(duration(192.0), "3m12s");
        assert_eq!(duration(7500.0), "2h05m");
        assert_eq!(duration(-1.0), "n/a");
        assert_eq!(clock(192.4), "03:12");
        assert_eq!(clock(3723.0), "1:02:03");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1_288_490_189), "1.2 GiB");
        assert_eq!(lr(0.1), "0.1");
        assert_eq!(lr(0.02), "0.02");
        assert_eq!(lr(0.0004), "4e-4");
        assert_eq!(pct(0.91234), "91.23%");
        assert_eq!(noise_scale(0.13), "0.13");
        assert_eq!(noise_scale(781.25), "781");
    }

    #[test]
    fn micro_batches_add_up_to_the_batch() {
        assert_eq!(micro_batches(640, 256, "×").as_deref(), Some("256+256+128"));
        assert_eq!(micro_batches(640, 128, "×").as_deref(), Some("5×128"));
        assert_eq!(micro_batches(3200, 256, "x").as_deref(), Some("12x256+128"));
        assert_eq!(micro_batches(300, 256, "×").as_deref(), Some("256+44"));
        assert_eq!(micro_batches(128, 256, "×"), None);
        assert_eq!(micro_batches(256, 256, "×"), None);
        // Every wording adds up.
        for batch in 1..700 {
            for micro in [1, 7, 64, 128, 256] {
                let Some(text) = micro_batches(batch, micro, "×") else {
                    assert!(batch <= micro);
                    continue;
                };
                let sum: usize = text
                    .split('+')
                    .map(|part| match part.split_once('×') {
                        Some((n, m)) => n.parse::<usize>().unwrap() * m.parse::<usize>().unwrap(),
                        None => part.parse::<usize>().unwrap(),
                    })
                    .sum();
                assert_eq!(sum, batch, "{text}");
            }
        }
    }
}
