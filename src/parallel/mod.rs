//! One training over several processes: the transport (`collective`: the world of one, or MPI),
//! the deadline of every exchange (`stall`), how an update's micro-batches are dealt out
//! (`share`), the agreement before a run starts (`handshake`), typed sums over the workers
//! (`exchange`) and the α–β projection of a schedule onto a cluster (`planner`). Must never own
//! a network, an optimizer or a training loop (those are `train`'s).

pub mod collective;
pub mod exchange;
pub mod handshake;
pub mod planner;
pub mod share;
pub mod stall;
