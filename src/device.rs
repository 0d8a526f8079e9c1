//! Device choice (CUDA when built with it and present, else CPU) and resource sampling off the
//! training thread: device memory from the CUDA driver, utilisation/temperature/power through
//! NVML loaded at run time, process RSS and CPU use. Must never block or slow the training step.

use std::time::Duration;

use candle_core::Device;
use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::events::ResourcesEvent;

/// A `--device` value that cannot be honoured.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The spelling is not one of auto, cpu, cuda, cuda:N.
    #[error("--device {0}: expected auto, cpu, cuda or cuda:N")]
    Unknown(String),
    /// CUDA was asked for but this binary or machine cannot provide it.
    #[error("--device {0}: {1}")]
    Unavailable(String, String),
}

/// The CPU threads a `hardware.threads` value means on this machine (0: every core). The one
/// place that reads the rule, for the device line, the handshake and `plan`.
pub fn resolved_threads(threads: usize) -> usize {
    if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    }
}

/// Resolves `--device` to a candle device and a human-readable description.
pub fn select(spec: &str, threads: usize) -> Result<(Device, String), DeviceError> {
    let spec = spec.trim();
    let cpu = || {
        let n = resolved_threads(threads);
        let plural = if n == 1 { "" } else { "s" };
        (Device::Cpu, format!("cpu ({n} thread{plural})"))
    };
    match spec {
        "cpu" => Ok(cpu()),
        "auto" => Ok(cuda(0).unwrap_or_else(|_| cpu())),
        "cuda" => cuda(0).map_err(|e| DeviceError::Unavailable(spec.into(), e)),
        s if s.starts_with("cuda:") => {
            let n: usize = s[5..].parse().map_err(|_| DeviceError::Unknown(s.into()))?;
            cuda(n).map_err(|e| DeviceError::Unavailable(spec.into(), e))
        }
        other => Err(DeviceError::Unknown(other.into())),
    }
}

fn cuda(ordinal: usize) -> Result<(Device, String), String> {
    if !candle_core::utils::cuda_is_available() {
        return Err(
            "this binary was built without CUDA; rebuild with `--features cuda` (see scripts/build-cuda.sh)"
                .into(),
        );
    }
    let dev = Device::new_cuda(ordinal).map_err(|e| {
        // candle may append a backtrace; the user needs the first line only.
        let text = e.to_string();
        format!("no usable GPU: {}", text.lines().next().unwrap_or_default())
    })?;
    let name = nvml_name(ordinal).unwrap_or_else(|| "GPU".into());
    Ok((dev, format!("cuda:{ordinal} {name}")))
}

/// Loads NVML at run time (shared by the training sampler and `machine`). Recent drivers ship
/// only `libnvidia-ml.so.1`, which nvml-wrapper's default name (`libnvidia-ml.so`) misses, so
/// that name is tried first.
pub fn init_nvml() -> Result<nvml_wrapper::Nvml, nvml_wrapper::error::NvmlError> {
    nvml_wrapper::Nvml::builder()
        .lib_path(std::ffi::OsStr::new("libnvidia-ml.so.1"))
        .init()
        .or_else(|_| nvml_wrapper::Nvml::init())
}

/// Why NVML gave nothing, in words for a panel: "library not found" rather than libloading's
/// message about `libnvidia-ml.so`, the name that was tried last.
pub fn nvml_failure(e: &nvml_wrapper::error::NvmlError) -> String {
    use nvml_wrapper::error::NvmlError;
    match e {
        NvmlError::LibloadingError(_) | NvmlError::LibraryNotFound => {
            "library libnvidia-ml.so.1 not found".into()
        }
        NvmlError::DriverNotLoaded => "the NVIDIA driver is not loaded".into(),
        NvmlError::NoPermission => "no permission to query the GPUs".into(),
        NvmlError::NotSupported => "not supported".into(),
        other => other.to_string(),
    }
}

fn nvml_name(ordinal: usize) -> Option<String> {
    let nvml = init_nvml().ok()?;
    let dev = nvml.device_by_index(ordinal as u32).ok()?;
    dev.name().ok()
}

/// Whether a tensor error is the device running out of memory: a CUDA driver or cuBLAS allocation
/// failure, looked through candle's context and backtrace wrappers. On the CPU an allocation
/// failure aborts the process instead of returning an error, so nothing there is one.
pub fn is_out_of_memory(e: &candle_core::Error) -> bool {
    use candle_core::Error;
    match e {
        Error::WithBacktrace { inner, .. }
        | Error::Context { inner, .. }
        | Error::WithPath { inner, .. } => is_out_of_memory(inner),
        #[cfg(feature = "cuda")]
        Error::Cuda(inner) => cuda_out_of_memory(inner.as_ref()),
        _ => false,
    }
}

#[cfg(feature = "cuda")]
fn cuda_out_of_memory(e: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    use candle_core::cuda::cudarc::{cublas, driver};
    use candle_core::cuda::CudaError;
    let driver_oom =
        |d: &driver::DriverError| d.0 == driver::sys::CUresult::CUDA_ERROR_OUT_OF_MEMORY;
    let cublas_oom = |c: &cublas::result::CublasError| {
        c.0 == cublas::sys::cublasStatus_t::CUBLAS_STATUS_ALLOC_FAILED
    };
    match e.downcast_ref::<CudaError>() {
        Some(CudaError::Cuda(d)) | Some(CudaError::Load { cuda: d, .. }) => driver_oom(d),
        Some(CudaError::Cublas(c)) => cublas_oom(c),
        Some(_) => false,
        None => e
            .downcast_ref::<driver::DriverError>()
            .is_some_and(driver_oom),
    }
}

/// Sizes the CPU thread pool used by the kernels (0 = all cores). Only the first call takes
/// effect: rayon's global pool cannot be resized once built.
pub fn set_cpu_threads(threads: usize) {
    // candle's own pool (which our kernels share) and rayon's, for the data loader and gemm.
    crate::ops::set_cpu_threads(threads);
    if threads > 0 {
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global();
    }
}

/// Samples resources about once a second on its own thread and hands each sample to `emit`,
/// until `stop` receives or disconnects.
pub fn spawn_sampler(
    device: Device,
    every: Duration,
    stop: Receiver<()>,
    mut emit: impl FnMut(ResourcesEvent) + Send + 'static,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("resources".into())
        .spawn(move || {
            let mut sampler = Sampler::new(&device);
            loop {
                emit(sampler.sample());
                match stop.recv_timeout(every) {
                    Err(RecvTimeoutError::Timeout) => continue,
                    _ => break,
                }
            }
        })
        .expect("spawning the resource sampler thread")
}

/// Collects one [`ResourcesEvent`] at a time; keeps NVML and sysinfo handles between samples.
pub struct Sampler {
    system: sysinfo::System,
    pid: sysinfo::Pid,
    nvml: Result<nvml_wrapper::Nvml, String>,
    ordinal: Option<usize>,
    #[allow(dead_code)]
    device: Device,
}

impl Sampler {
    /// A sampler for `device`; NVML is loaded only for CUDA devices, and its absence is a note.
    pub fn new(device: &Device) -> Sampler {
        let ordinal = match device {
            Device::Cuda(_) => Some(cuda_ordinal(device)),
            _ => None,
        };
        let nvml = if ordinal.is_some() {
            init_nvml().map_err(|e| format!("NVML unavailable: {}", nvml_failure(&e)))
        } else {
            Err("CPU run: no GPU figures".into())
        };
        Sampler {
            system: sysinfo::System::new(),
            pid: sysinfo::Pid::from_u32(std::process::id()),
            nvml,
            ordinal,
            device: device.clone(),
        }
    }

    /// Takes one sample; every missing figure is `None` and `note` says why.
    pub fn sample(&mut self) -> ResourcesEvent {
        let mut ev = ResourcesEvent::default();
        let pids = [self.pid];
        self.system.refresh_processes_specifics(
            sysinfo::ProcessesToUpdate::Some(&pids),
            true,
            sysinfo::ProcessRefreshKind::nothing()
                .with_memory()
                .with_cpu(),
        );
        if let Some(p) = self.system.process(self.pid) {
            ev.rss = Some(p.memory());
            ev.cpu_percent = Some(p.cpu_usage() as f64);
        }
        let mut notes = Vec::new();
        if let Some(ordinal) = self.ordinal {
            match cuda_mem_info(&self.device) {
                Ok((free, total)) => {
                    ev.device_used = Some(total - free);
                    ev.device_total = Some(total);
                }
                Err(e) => notes.push(format!("device memory n/a: {e}")),
            }
            match &self.nvml {
                Ok(nvml) => match nvml.device_by_index(ordinal as u32) {
                    Ok(d) => {
                        ev.gpu_util = d.utilization_rates().ok().map(|u| u.gpu as f64);
                        ev.gpu_temp = d
                            .temperature(
                                nvml_wrapper::enum_wrappers::device::TemperatureSensor::Gpu,
                            )
                            .ok()
                            .map(|t| t as f64);
                        ev.gpu_power = d.power_usage().ok().map(|mw| mw as f64 / 1000.0);
                    }
                    Err(e) => notes.push(format!("NVML: {e}")),
                },
                Err(e) => notes.push(e.clone()),
            }
        } else if let Err(e) = &self.nvml {
            notes.push(e.clone());
        }
        if !notes.is_empty() {
            ev.note = Some(notes.join("; "));
        }
        ev
    }
}

#[cfg(feature = "cuda")]
fn cuda_ordinal(device: &Device) -> usize {
    match device {
        Device::Cuda(d) => d.cuda_stream().context().ordinal(),
        _ => 0,
    }
}

#[cfg(not(feature = "cuda"))]
fn cuda_ordinal(_device: &Device) -> usize {
    0
}

#[cfg(feature = "cuda")]
fn cuda_mem_info(device: &Device) -> Result<(u64, u64), String> {
    match device {
        Device::Cuda(d) => {
            // Free/total of the context, as the driver reports it (what nvidia-smi shows).
            let (free, total) = d
                .cuda_stream()
                .context()
                .mem_get_info()
                .map_err(|e| e.to_string())?;
            Ok((free as u64, total as u64))
        }
        _ => Err("not a CUDA device".into()),
    }
}

#[cfg(not(feature = "cuda"))]
fn cuda_mem_info(_device: &Device) -> Result<(u64, u64), String> {
    Err("built without CUDA".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_always_available_and_auto_falls_back() {
        assert!(matches!(select("cpu", 2).unwrap().0, Device::Cpu));
        let (_, desc) = select("cpu", 2).unwrap();
        assert_eq!(desc, "cpu (2 threads)");
        #[cfg(not(feature = "cuda"))]
        {
            assert!(matches!(select("auto", 0).unwrap().0, Device::Cpu));
            let e = select("cuda", 0).unwrap_err().to_string();
            assert!(e.contains("--features cuda"), "{e}");
        }
        assert!(select("tpu", 0).is_err());
        assert!(select("cuda:x", 0).is_err());
    }

    #[test]
    fn cpu_sample_has_rss_and_says_why_gpu_is_missing() {
        let mut s = Sampler::new(&Device::Cpu);
        let ev = s.sample();
        assert!(ev.rss.unwrap() > 1_000_000);
        assert!(ev.device_used.is_none());
        assert!(ev.note.unwrap().contains("CPU"));
    }
}
