//! The words and figures of a sample, shared by the machine panel and `batchramp machine`'s
//! plain lines so both read the same. Owns text shapes of machine figures (built on
//! [`crate::format`]); must never measure, nor decide layout or colour.

use super::sample::{FoundBy, GpuSample, MachineSample, WriterProcess};
use crate::format;

/// `45%`.
pub fn percent(p: f64) -> String {
    format!("{p:.0}%")
}

/// `63°C`, or `63C` for ASCII-only output.
pub fn temperature(c: f64, ascii: bool) -> String {
    if ascii {
        format!("{c:.0}C")
    } else {
        format!("{c:.0}°C")
    }
}

/// `312 / 700 W`, `312 W` without a known limit.
pub fn power(draw: Option<f64>, limit: Option<f64>) -> Option<String> {
    match (draw?, limit) {
        (d, Some(l)) => Some(format!("{d:.0} / {l:.0} W")),
        (d, None) => Some(format!("{d:.0} W")),
    }
}

/// `12.3 GiB / 139.8 GiB`, or only what is known.
pub fn memory(used: Option<u64>, total: Option<u64>) -> Option<String> {
    match (used, total) {
        (Some(u), Some(t)) => Some(format!("{} / {}", format::bytes(u), format::bytes(t))),
        (Some(u), None) => Some(format::bytes(u)),
        (None, Some(t)) => Some(format!("? / {}", format::bytes(t))),
        (None, None) => None,
    }
}

/// The GPU's name without the vendor word every NVIDIA name starts with, for narrow rows.
pub fn short_gpu_name(name: &str) -> &str {
    name.strip_prefix("NVIDIA ").unwrap_or(name)
}

/// `no GPU on this machine (NVML: library libnvidia-ml.so.1 not found)`.
pub fn no_gpu(sample: &MachineSample) -> String {
    match &sample.gpu_note {
        Some(why) => format!("no GPU on this machine ({why})"),
        None => "no GPU on this machine".into(),
    }
}

/// What the process runs: its command line, else its name.
pub fn command(w: &WriterProcess) -> &str {
    if w.cmdline.trim().is_empty() {
        &w.name
    } else {
        &w.cmdline
    }
}

/// How a writer was found, naming the file relative to the logdir: `holds a/events.jsonl open`,
/// `named in a/events.out.tfevents.…`.
pub fn found_by(f: &FoundBy) -> String {
    match f {
        FoundBy::OpenFile(p) => format!("holds {} open", p.display()),
        FoundBy::EventFileName(p) => format!("named in {}", p.display()),
    }
}

/// The sample as plain lines: the machine, each GPU and its processes, the writers, and every
/// note. `ascii` keeps them to ASCII (`63C`).
pub fn lines(s: &MachineSample, ascii: bool) -> Vec<String> {
    // Two spaces between figures, as the training's plain lines have.
    let sep = "  ";
    let mut out = Vec::new();
    let mut head = vec![s.host.clone().unwrap_or_else(|| "this machine".into())];
    head.push(format::counted(s.cpu.cores as u64, "core"));
    head.push(match s.cpu.percent {
        Some(p) => format!("CPU {}", percent(p)),
        None => format!("CPU n/a ({})", s.cpu.note.as_deref().unwrap_or("not read")),
    });
    if let Some(m) = memory(s.memory.used, s.memory.total) {
        let share = s
            .memory
            .fraction()
            .map(|f| format!(" ({})", percent(f * 100.0)))
            .unwrap_or_default();
        head.push(format!("memory {m}{share}"));
    }
    out.push(head.join(sep));
    if s.gpus.is_empty() {
        out.push(no_gpu(s));
    } else if let Some(d) = &s.driver {
        out.push(format!("NVIDIA driver {d}"));
    }
    for g in &s.gpus {
        out.push(gpu_line(g, ascii, sep));
        for p in &g.processes {
            let mem = p.memory.map(format::bytes).unwrap_or_else(|| "n/a".into());
            let name = p.name.as_deref().unwrap_or("(not visible here)");
            out.push(format!("    pid {} {name}{sep}{mem}", p.pid));
        }
        if let Some(n) = &g.note {
            out.push(format!("    n/a: {n}"));
        }
    }
    if let Some(dir) = &s.logdir {
        if !s.writers.is_empty() {
            out.push(format!("processes writing {}:", dir.display()));
        }
        for w in &s.writers {
            out.push(format!(
                "  {}{sep}{}",
                writer_line(w, sep),
                found_by(&w.found_by)
            ));
        }
    }
    if let Some(n) = &s.writers_note {
        out.push(n.clone());
    }
    if !s.other_hosts.is_empty() {
        out.push(other_hosts(s));
    }
    out
}

/// `event files there also come from node7, node8: their GPUs are not shown`.
pub fn other_hosts(s: &MachineSample) -> String {
    format!(
        "event files there also come from {}: their GPUs are not shown",
        s.other_hosts.join(", ")
    )
}

/// `pid 4242 python train.py  RSS 2.1 GiB  CPU 98%  GPU 11.9 GiB` (with `sep` between).
pub fn writer_line(w: &WriterProcess, sep: &str) -> String {
    let mut parts = vec![format!("pid {} {}", w.pid, command(w))];
    parts.extend(writer_figures(w));
    parts.join(sep)
}

/// `RSS 2.1 GiB`, `CPU 98%`, `GPU 11.9 GiB`: those that are known.
pub fn writer_figures(w: &WriterProcess) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(r) = w.rss {
        v.push(format!("RSS {}", format::bytes(r)));
    }
    if let Some(c) = w.cpu_percent {
        v.push(format!("CPU {}", percent(c)));
    }
    if let Some(g) = w.gpu_memory {
        v.push(format!("GPU {}", format::bytes(g)));
    }
    v
}

fn gpu_line(g: &GpuSample, ascii: bool, sep: &str) -> String {
    let mut parts = vec![format!(
        "GPU {} {}",
        g.index,
        g.name.as_deref().unwrap_or("(name n/a)")
    )];
    if let Some(m) = memory(g.memory_used, g.memory_total) {
        let share = g
            .memory_fraction()
            .map(|f| format!(" ({})", percent(f * 100.0)))
            .unwrap_or_default();
        parts.push(format!("memory {m}{share}"));
    }
    if let Some(u) = g.util_percent {
        parts.push(format!("util {}", percent(u)));
    }
    if let Some(c) = g.temperature_c {
        parts.push(temperature(c, ascii));
    }
    if let Some(p) = power(g.power_w, g.power_limit_w) {
        parts.push(format!("power {p}"));
    }
    parts.join(sep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::fake;

    #[test]
    fn figures_read_as_in_the_panel() {
        assert_eq!(percent(45.4), "45%");
        assert_eq!(temperature(63.2, false), "63°C");
        assert_eq!(temperature(63.2, true), "63C");
        assert_eq!(power(Some(312.4), Some(700.0)).unwrap(), "312 / 700 W");
        assert_eq!(power(Some(31.0), None).unwrap(), "31 W");
        assert_eq!(power(None, Some(700.0)), None);
        assert_eq!(
            memory(Some(3 << 30), Some(80 << 30)).unwrap(),
            "3.0 GiB / 80.0 GiB"
        );
        assert_eq!(short_gpu_name("NVIDIA H200"), "H200");
    }

    #[test]
    fn plain_lines_of_two_gpus_and_of_none() {
        let two = lines(&fake::two_gpus(), false).join("\n");
        let none = lines(&fake::no_gpu(), true).join("\n");
        insta::with_settings!({ prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!("plain_two_gpus", two);
            insta::assert_snapshot!("plain_no_gpu", none);
        });
    }
}
