//! Made-up samples for the panel's and the plain lines' tests, the dashboard's fixtures and
//! screenshots, so they are the same on a machine without a GPU. Must never be shown as a
//! reading of this machine.

use super::sample::{
    CpuSample, FoundBy, GpuProcess, GpuSample, MachineSample, MemorySample, WriterProcess,
};

const GIB: u64 = 1 << 30;

/// A box with two H200s, one busy with the watched run's python process.
pub fn two_gpus() -> MachineSample {
    let gpu = |index, used, util, temp, power, processes| GpuSample {
        index,
        name: Some("NVIDIA H200".into()),
        memory_used: Some(used),
        memory_total: Some(141 * GIB),
        util_percent: Some(util),
        temperature_c: Some(temp),
        power_w: Some(power),
        power_limit_w: Some(700.0),
        processes,
        note: None,
    };
    MachineSample {
        host: Some("gpu-box".into()),
        unix_time: 1_796_305_444.0,
        gpus: vec![
            gpu(
                0,
                132 * GIB,
                97.0,
                71.0,
                655.2,
                vec![GpuProcess {
                    pid: 4242,
                    name: Some("python3".into()),
                    memory: Some(131 * GIB),
                }],
            ),
            gpu(1, GIB / 2, 0.0, 34.0, 74.9, Vec::new()),
        ],
        gpu_note: None,
        driver: Some("570.86.15".into()),
        cpu: CpuSample {
            cores: 16,
            percent: Some(12.5),
            note: None,
        },
        memory: MemorySample {
            used: Some(41 * GIB),
            total: Some(128 * GIB),
        },
        logdir: Some("runs".into()),
        writers: vec![WriterProcess {
            pid: 4242,
            name: "python3".into(),
            cmdline: "python3 train.py --model resnet18 --batch-size 512".into(),
            rss: Some(5 * GIB + GIB / 4),
            cpu_percent: Some(101.0),
            gpu_memory: Some(131 * GIB),
            found_by: FoundBy::EventFileName(
                "resnet18/events.out.tfevents.1796305444.gpu-box.4242.0".into(),
            ),
        }],
        writers_note: None,
        other_hosts: Vec::new(),
        cost_us: 420,
    }
}

/// A laptop without NVIDIA's library, watching a batchramp run it is training.
pub fn no_gpu() -> MachineSample {
    MachineSample {
        host: Some("laptop".into()),
        unix_time: 1_796_305_444.0,
        gpus: Vec::new(),
        gpu_note: Some("NVML: library libnvidia-ml.so.1 not found".into()),
        driver: None,
        cpu: CpuSample {
            cores: 2,
            percent: Some(96.0),
            note: None,
        },
        memory: MemorySample {
            used: Some(3 * GIB + GIB / 10),
            total: Some(8 * GIB),
        },
        logdir: Some("runs/20261128-190554-default".into()),
        writers: vec![WriterProcess {
            pid: 48211,
            name: "batchramp".into(),
            cmdline: "target/release/batchramp train --config configs/default.toml".into(),
            rss: Some(GIB + GIB / 5),
            cpu_percent: Some(190.0),
            gpu_memory: None,
            found_by: FoundBy::OpenFile("events.jsonl".into()),
        }],
        writers_note: None,
        other_hosts: vec!["node7".into()],
        cost_us: 310,
    }
}
