//! The networks: CIFAR ResNets as plain structs (`new`, `forward_train` / `forward_eval`, and
//! `train_pass`, a training pass with its own backward on the fast CPU kernels) over named
//! parameters. Owns parameter creation (seeded, device-placed) and the running statistics of
//! batch norm, which change only when the caller folds a pass's returned statistics; must never
//! keep a pass's statistics itself, nor decide learning rates, batch sizes or how gradients are
//! combined.

mod cpu_step;
mod ghost_bn;
mod params;
mod resnet;

pub use cpu_step::TrainPass;
pub use ghost_bn::GhostBatchNorm;
pub use params::ParamStore;
pub use resnet::{PassStats, ResNet};
