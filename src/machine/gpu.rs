//! This machine's NVIDIA GPUs through NVML, loaded at run time by [`crate::device::init_nvml`]
//! (so a machine without the driver runs the same binary and is told why). Owns turning NVML's
//! answers into [`GpuSample`]s; must never fail a sample: what NVML refuses becomes a note.

use nvml_wrapper::enum_wrappers::device::TemperatureSensor;
use nvml_wrapper::enums::device::UsedGpuMemory;
use nvml_wrapper::error::NvmlError;
use nvml_wrapper::Nvml;

use super::sample::{GpuProcess, GpuSample};
use crate::device::{init_nvml, nvml_failure};

/// NVML, loaded once, and what does not change between samples.
pub(super) struct Gpus {
    nvml: Result<Nvml, String>,
    /// Names by index, read once (NVML's name call is one of its slower ones).
    names: Vec<Option<String>>,
    driver: Option<String>,
}

/// What one round of NVML calls gave.
pub(super) struct GpuRound {
    pub gpus: Vec<GpuSample>,
    pub note: Option<String>,
    pub driver: Option<String>,
}

impl Gpus {
    /// Loads NVML; its absence is kept as the reason every sample will give.
    pub fn open() -> Gpus {
        let nvml = init_nvml().map_err(|e| format!("NVML: {}", nvml_failure(&e)));
        let (names, driver) = match &nvml {
            Ok(n) => {
                let count = n.device_count().unwrap_or(0);
                let names = (0..count)
                    .map(|i| n.device_by_index(i).and_then(|d| d.name()).ok())
                    .collect();
                (names, n.sys_driver_version().ok())
            }
            Err(_) => (Vec::new(), None),
        };
        Gpus {
            nvml,
            names,
            driver,
        }
    }

    /// Reads every GPU now.
    pub fn sample(&self) -> GpuRound {
        let nvml = match &self.nvml {
            Ok(n) => n,
            Err(why) => {
                return GpuRound {
                    gpus: Vec::new(),
                    note: Some(why.clone()),
                    driver: None,
                }
            }
        };
        let (gpus, note) = match nvml.device_count() {
            Ok(0) => (Vec::new(), Some("NVML lists no GPU".to_string())),
            Ok(n) => ((0..n).map(|i| self.one(nvml, i)).collect(), None),
            Err(e) => (Vec::new(), Some(format!("NVML: {}", nvml_failure(&e)))),
        };
        GpuRound {
            gpus,
            note,
            driver: self.driver.clone(),
        }
    }

    fn one(&self, nvml: &Nvml, index: u32) -> GpuSample {
        let mut s = GpuSample {
            index,
            name: self.names.get(index as usize).cloned().flatten(),
            ..GpuSample::default()
        };
        let dev = match nvml.device_by_index(index) {
            Ok(d) => d,
            Err(e) => {
                s.note = Some(nvml_failure(&e));
                return s;
            }
        };
        let mut missing = Missing::default();
        if s.name.is_none() {
            s.name = missing.take("name", dev.name());
        }
        if let Some(m) = missing.take("memory", dev.memory_info()) {
            s.memory_used = Some(m.used);
            s.memory_total = Some(m.total);
        }
        s.util_percent = missing
            .take("utilisation", dev.utilization_rates())
            .map(|u| f64::from(u.gpu));
        s.temperature_c = missing
            .take("temperature", dev.temperature(TemperatureSensor::Gpu))
            .map(f64::from);
        s.power_w = missing.take("power", dev.power_usage()).map(milliwatts);
        s.power_limit_w = missing
            .take("power limit", dev.enforced_power_limit())
            .map(milliwatts);
        let compute = missing.take("processes", dev.running_compute_processes());
        // Graphics contexts are rare on a training box; their absence is not worth a note.
        let graphics = dev.running_graphics_processes().ok();
        s.processes = merge_processes(compute.into_iter().chain(graphics).flatten());
        s.note = missing.note();
        s
    }
}

/// The figures NVML refused for one GPU, grouped by reason.
#[derive(Default)]
struct Missing(Vec<(String, &'static str)>);

impl Missing {
    fn take<T>(&mut self, what: &'static str, r: Result<T, NvmlError>) -> Option<T> {
        r.map_err(|e| self.0.push((nvml_failure(&e), what))).ok()
    }

    /// `power, power limit: not supported; processes: no permission to query the GPUs`.
    fn note(&self) -> Option<String> {
        let mut reasons: Vec<&str> = Vec::new();
        for (why, _) in &self.0 {
            if !reasons.contains(&why.as_str()) {
                reasons.push(why);
            }
        }
        let parts: Vec<String> = reasons
            .iter()
            .map(|why| {
                let whats: Vec<&str> = self
                    .0
                    .iter()
                    .filter(|(w, _)| w == why)
                    .map(|(_, what)| *what)
                    .collect();
                format!("{}: {why}", whats.join(", "))
            })
            .collect();
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

fn milliwatts(mw: u32) -> f64 {
    f64::from(mw) / 1000.0
}

/// One entry per pid (a process may hold a compute and a graphics context), largest memory
/// first, as nvitop lists them.
fn merge_processes(
    infos: impl Iterator<Item = nvml_wrapper::struct_wrappers::device::ProcessInfo>,
) -> Vec<GpuProcess> {
    let mut out: Vec<GpuProcess> = Vec::new();
    for p in infos {
        let memory = match p.used_gpu_memory {
            UsedGpuMemory::Used(b) => Some(b),
            UsedGpuMemory::Unavailable => None,
        };
        match out.iter_mut().find(|q| q.pid == p.pid) {
            Some(q) => q.memory = q.memory.max(memory),
            None => out.push(GpuProcess {
                pid: p.pid,
                name: None,
                memory,
            }),
        }
    }
    out.sort_by(|a, b| b.memory.cmp(&a.memory).then(a.pid.cmp(&b.pid)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use nvml_wrapper::struct_wrappers::device::ProcessInfo;

    #[test]
    fn refused_figures_are_grouped_by_reason() {
        let mut m = Missing::default();
        assert_eq!(m.take("memory", Ok::<u32, NvmlError>(3)), Some(3));
        assert_eq!(m.take::<u32>("power", Err(NvmlError::NotSupported)), None);
        assert_eq!(
            m.take::<u32>("processes", Err(NvmlError::NoPermission)),
            None
        );
        assert_eq!(
            m.take::<u32>("power limit", Err(NvmlError::NotSupported)),
            None
        );
        assert_eq!(
            m.note().unwrap(),
            "power, power limit: not supported; processes: no permission to query the GPUs"
        );
        assert_eq!(Missing::default().note(), None);
    }

    #[test]
    fn a_process_in_both_lists_is_listed_once_largest_first() {
        let info = |pid, mem| ProcessInfo {
            pid,
            used_gpu_memory: mem,
            gpu_instance_id: None,
            compute_instance_id: None,
        };
        let merged = merge_processes(
            [
                info(7, UsedGpuMemory::Used(100)),
                info(9, UsedGpuMemory::Used(5_000)),
                info(7, UsedGpuMemory::Unavailable),
                info(3, UsedGpuMemory::Unavailable),
            ]
            .into_iter(),
        );
        let got: Vec<(u32, Option<u64>)> = merged.iter().map(|p| (p.pid, p.memory)).collect();
        assert_eq!(got, vec![(9, Some(5_000)), (7, Some(100)), (3, None)]);
    }

    #[test]
    fn without_nvml_every_sample_says_why() {
        let gpus = Gpus::open();
        let round = gpus.sample();
        match &gpus.nvml {
            Err(why) => {
                assert!(round.gpus.is_empty());
                assert_eq!(round.note.as_deref(), Some(why.as_str()));
                assert!(why.starts_with("NVML: "), "{why}");
            }
            // On a machine with the driver: every GPU has its index, or the note says why not.
            Ok(_) => assert!(round.note.is_some() || !round.gpus.is_empty()),
        }
    }
}
