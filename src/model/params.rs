//! Named, seeded parameter and buffer storage for a model.

use candle_core::{DType, Device, Result, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Holds every tensor of a model by name: trainable parameters (seen by the optimizer) and
/// buffers (batch-norm running statistics, updated in the forward pass, not trained).
pub struct ParamStore {
    device: Device,
    rng: ChaCha8Rng,
    trainable: Vec<(String, Var)>,
    buffers: Vec<(String, Var)>,
}

impl ParamStore {
    /// An empty store whose random initialisation is a pure function of `seed`.
    pub fn new(device: &Device, seed: u64) -> ParamStore {
        ParamStore {
            device: device.clone(),
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x9E37_79B9_7F4A_7C15),
            trainable: Vec::new(),
            buffers: Vec::new(),
        }
    }

    /// The device the tensors live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    fn make(&self, values: Vec<f32>, shape: &[usize]) -> Result<Var> {
        Var::from_tensor(&Tensor::from_vec(values, shape, &Device::Cpu)?.to_device(&self.device)?)
    }

    /// A trainable tensor drawn from N(0, std²); the draw order is the creation order, so a
    /// given architecture and seed always give the same weights on every device.
    pub fn normal(&mut self, name: &str, shape: &[usize], std: f64) -> Result<Var> {
        let n: usize = shape.iter().product();
        let values = (0..n)
            .map(|_| {
                // Box–Muller: two uniforms give one standard normal.
                let u1: f64 = self.rng.gen_range(f64::EPSILON..1.0);
                let u2: f64 = self.rng.gen();
                ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos() * std) as f32
            })
            .collect();
        let v = self.make(values, shape)?;
        self.trainable.push((name.to_string(), v.clone()));
        Ok(v)
    }

    /// A trainable tensor drawn from U(−bound, bound).
    pub fn uniform(&mut self, name: &str, shape: &[usize], bound: f64) -> Result<Var> {
        let n: usize = shape.iter().product();
        let values = (0..n)
            .map(|_| self.rng.gen_range(-bound..bound) as f32)
            .collect();
        let v = self.make(values, shape)?;
        self.trainable.push((name.to_string(), v.clone()));
        Ok(v)
    }

    /// A trainable tensor filled with `value`.
    pub fn constant(&mut self, name: &str, shape: &[usize], value: f32) -> Result<Var> {
        let n: usize = shape.iter().product();
        let v = self.make(vec![value; n], shape)?;
        self.trainable.push((name.to_string(), v.clone()));
        Ok(v)
    }

    /// A non-trainable buffer filled with `value`.
    pub fn buffer(&mut self, name: &str, shape: &[usize], value: f32) -> Result<Var> {
        let n: usize = shape.iter().product();
        let v = self.make(vec![value; n], shape)?;
        self.buffers.push((name.to_string(), v.clone()));
        Ok(v)
    }

    /// Trainable parameters in creation order.
    pub fn trainable(&self) -> &[(String, Var)] {
        &self.trainable
    }

    /// Buffers in creation order.
    pub fn buffers(&self) -> &[(String, Var)] {
        &self.buffers
    }

    /// Every tensor by name (parameters then buffers), for saving.
    pub fn named_tensors(&self) -> Vec<(String, Tensor)> {
        self.trainable
            .iter()
            .chain(&self.buffers)
            .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
            .collect()
    }

    /// Number of trainable scalars.
    pub fn param_count(&self) -> usize {
        self.trainable.iter().map(|(_, v)| v.elem_count()).sum()
    }

    /// Overwrites every tensor from `tensors` (name → tensor); missing, extra or mis-shaped
    /// entries are reported all at once so the user sees what differs.
    pub fn load(
        &self,
        tensors: &std::collections::HashMap<String, Tensor>,
    ) -> std::result::Result<(), String> {
        let mut problems = Vec::new();
        for (name, var) in self.trainable.iter().chain(&self.buffers) {
            match tensors.get(name) {
                None => problems.push(format!("missing {name}")),
                Some(t) if t.dims() != var.dims() => problems.push(format!(
                    "{name} has shape {:?}, model has {:?}",
                    t.dims(),
                    var.dims()
                )),
                Some(_) => {}
            }
        }
        let known: std::collections::HashSet<&str> = self
            .trainable
            .iter()
            .chain(&self.buffers)
            .map(|(n, _)| n.as_str())
            .collect();
        let mut extra: Vec<&String> = tensors
            .keys()
            .filter(|k| !known.contains(k.as_str()))
            .collect();
        extra.sort();
        problems.extend(extra.into_iter().map(|k| format!("unexpected {k}")));
        if !problems.is_empty() {
            let n = problems.len();
            problems.truncate(4);
            let more = if n > 4 {
                format!(" (and {} more)", n - 4)
            } else {
                String::new()
            };
            return Err(format!("{}{more}", problems.join("; ")));
        }
        for (name, var) in self.trainable.iter().chain(&self.buffers) {
            tensors[name]
                .to_dtype(DType::F32)
                .and_then(|t| t.to_device(&self.device))
                .and_then(|t| var.set(&t))
                .map_err(|e| format!("{name}: {e}"))?;
        }
        Ok(())
    }
}
