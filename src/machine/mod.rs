//! This machine as the resources panel shows it beside a logdir: every NVIDIA GPU through NVML
//! (memory, utilisation, temperature, power, the processes using it), CPU and memory, and the
//! processes on this machine writing the watched logdir (how big the python process is).
//!
//! `sample` is the plain data, `gpu`, `host` and `writers` read NVML, sysinfo and `/proc`,
//! `sampler` times them and runs them on a thread of their own, `text` words the figures for
//! the panel and the plain lines alike. Owns measuring this machine; must never draw, and never
//! block the UI thread (NVML is loaded on the sampler's thread).

pub mod fake;
mod gpu;
mod host;
pub mod sample;
pub mod sampler;
pub mod text;
pub mod writers;

pub use sample::{
    CpuSample, FoundBy, GpuProcess, GpuSample, MachineSample, MemorySample, WriterProcess,
};
pub use sampler::{run_sampler, spawn_sampler, MachineSampler, DEFAULT_RESCAN};
