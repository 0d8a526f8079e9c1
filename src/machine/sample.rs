//! One sample of this machine as plain data: GPUs, CPU, memory and the processes writing the
//! watched logdir. Owns the shape of a sample; must never measure or draw. Every figure that
//! could not be read is `None`, and a note beside it says why.

use std::path::PathBuf;

use serde::Serialize;

/// What this machine looked like at one moment.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MachineSample {
    /// This machine's host name, when the system tells it.
    pub host: Option<String>,
    /// Seconds since the Unix epoch when the sample was taken.
    pub unix_time: f64,
    /// Every NVIDIA GPU NVML lists, in NVML's order.
    pub gpus: Vec<GpuSample>,
    /// Why `gpus` is empty: no NVML library, no driver, no GPU.
    pub gpu_note: Option<String>,
    /// The NVIDIA driver's version, when NVML is loaded.
    pub driver: Option<String>,
    /// Machine-wide CPU use.
    pub cpu: CpuSample,
    /// Machine-wide memory.
    pub memory: MemorySample,
    /// The logdir whose writers were looked for, as given.
    pub logdir: Option<PathBuf>,
    /// Processes on this machine writing the logdir, by pid.
    pub writers: Vec<WriterProcess>,
    /// Why `writers` is empty, or what could not be checked.
    pub writers_note: Option<String>,
    /// Other machines the logdir's event files name as their writer's host: its GPUs are there,
    /// not here.
    pub other_hosts: Vec<String>,
    /// Microseconds this sample took to collect (the sampler's own cost).
    pub cost_us: u64,
}

/// One GPU as NVML reports it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct GpuSample {
    /// NVML's index of the device (what `nvidia-smi` shows).
    pub index: u32,
    /// Product name, e.g. `NVIDIA H200`.
    pub name: Option<String>,
    /// Device memory in use, bytes.
    pub memory_used: Option<u64>,
    /// Device memory installed, bytes.
    pub memory_total: Option<u64>,
    /// Share of the last sample period in which a kernel ran, percent.
    pub util_percent: Option<f64>,
    /// Core temperature, °C.
    pub temperature_c: Option<f64>,
    /// Power draw, watts.
    pub power_w: Option<f64>,
    /// Power limit the driver enforces, watts.
    pub power_limit_w: Option<f64>,
    /// Processes with a context on this GPU (compute and graphics), by pid.
    pub processes: Vec<GpuProcess>,
    /// Which figures NVML would not give, and why.
    pub note: Option<String>,
}

/// A process using a GPU.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct GpuProcess {
    /// Process id (in this machine's pid namespace; NVML's, which a container may not share).
    pub pid: u32,
    /// The process's command name, when it can be seen from here.
    pub name: Option<String>,
    /// Device memory it holds, bytes (not reported under some drivers and on MIG).
    pub memory: Option<u64>,
}

/// Machine-wide CPU use.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CpuSample {
    /// Logical cores.
    pub cores: usize,
    /// Use of all cores since the previous sample, percent of the whole machine.
    pub percent: Option<f64>,
    /// Why `percent` is missing.
    pub note: Option<String>,
}

/// Machine-wide memory.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MemorySample {
    /// Memory in use (total less available), bytes.
    pub used: Option<u64>,
    /// Memory installed, bytes.
    pub total: Option<u64>,
}

/// How a process was found to write the logdir; paths are relative to the logdir.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "by", content = "path")]
pub enum FoundBy {
    /// It holds this file under the logdir open for writing (`/proc/<pid>/fd`).
    OpenFile(PathBuf),
    /// This event file's name carries this machine's host name and the process's pid, and the
    /// process started before the file (PyTorch's writer opens and closes its file per flush).
    EventFileName(PathBuf),
}

/// A process on this machine writing the logdir.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WriterProcess {
    /// Process id.
    pub pid: u32,
    /// Command name (`python3`).
    pub name: String,
    /// The command line, arguments joined by spaces (empty when it cannot be read).
    pub cmdline: String,
    /// Resident set size, bytes.
    pub rss: Option<u64>,
    /// CPU use since the previous sample, percent of one core.
    pub cpu_percent: Option<f64>,
    /// Device memory it holds on all GPUs together, bytes (when NVML lists it).
    pub gpu_memory: Option<u64>,
    /// How it was found.
    pub found_by: FoundBy,
}

impl GpuSample {
    /// Share of the device memory in use, 0–1.
    pub fn memory_fraction(&self) -> Option<f64> {
        fraction(self.memory_used?, self.memory_total?)
    }
}

impl MemorySample {
    /// Share of the machine's memory in use, 0–1.
    pub fn fraction(&self) -> Option<f64> {
        fraction(self.used?, self.total?)
    }
}

fn fraction(used: u64, total: u64) -> Option<f64> {
    (total > 0).then(|| used as f64 / total as f64)
}
