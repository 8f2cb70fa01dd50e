//! Training a neural ODE on the spiral task: minibatches of trajectory windows, RMSprop,
//! periodic full-trajectory evaluation, metrics, checkpoints and exact resumption.
//!
//! The model is `f(t, y) = MLP(y³)` (2 → 50 → 2, tanh), as in the paper's demonstration.
//! Each iteration draws `batch_size` windows of `batch_time` consecutive true points,
//! integrates each from its first point (one solve of the stacked batch), takes the mean
//! absolute error, and steps RMSprop. Randomness comes from `(seed, iteration)` alone, so a
//! run resumed from a checkpoint continues exactly as an uninterrupted one.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use nn_layers::optim::{OptState, Optimizer, OptimizerConfig, RmsProp};
use nn_layers::{init_params, Activation, Init, MlpConfig, MlpDynamics, ModelFile, ParamLayout};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::neural_ode::{nfe, GradKind, ModelError, NeuralOde, SolverConfig};
use crate::spiral::SpiralData;

/// Settings of a spiral training run (saved in the model file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Iterations to run in total.
    pub iters: usize,
    /// Windows per minibatch.
    pub batch_size: usize,
    /// Consecutive times per window.
    pub batch_time: usize,
    /// RMSprop learning rate.
    pub lr: f64,
    /// Hidden width of the MLP.
    pub hidden: usize,
    /// Solver and gradient settings.
    pub solver: SolverConfig,
    /// Seed of the initialisation and of the minibatches.
    pub seed: u64,
    /// Evaluate the full-trajectory loss every this many iterations.
    pub eval_every: usize,
    /// How a minibatch is solved: all windows as one stacked state with shared steps, or each
    /// window on its own (own adaptive steps, in parallel).
    pub batch_mode: BatchMode,
}

/// The loss and parameter gradient of one minibatch, with the work it took.
#[derive(Debug, Clone, PartialEq)]
pub struct MinibatchGrad {
    /// Mean absolute error over the batch.
    pub loss: f64,
    /// Its gradient with respect to the parameters.
    pub dtheta: Vec<f64>,
    /// Forward right-hand-side evaluations.
    pub nfe_forward: usize,
    /// Backward evaluations (vector–Jacobian products and plain evaluations).
    pub nfe_backward: usize,
}

/// How a minibatch of windows is solved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BatchMode {
    /// One solve of the stacked batch with shared steps (the dynamics see the whole batch).
    Shared,
    /// One solve per window with its own adaptive steps, in parallel on the rayon pool;
    /// gradients summed in window order, so results do not depend on the thread count.
    PerSample,
}

impl std::str::FromStr for BatchMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "shared" => Ok(BatchMode::Shared),
            "per-sample" => Ok(BatchMode::PerSample),
            other => Err(format!(
                "unknown batch mode '{other}' (known: shared, per-sample)"
            )),
        }
    }
}

impl Default for TrainConfig {
    /// The classic demonstration's settings.
    fn default() -> Self {
        TrainConfig {
            iters: 2000,
            batch_size: 20,
            batch_time: 10,
            lr: 1e-3,
            hidden: 50,
            solver: SolverConfig::default(),
            seed: 0,
            eval_every: 100,
            batch_mode: BatchMode::Shared,
        }
    }
}

/// The architecture stored in a spiral model file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpiralArchitecture {
    /// The dynamics network.
    pub mlp: MlpConfig,
    /// The training settings.
    pub train: TrainConfig,
}

/// What one iteration measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IterMetrics {
    /// Iteration number (1-based).
    pub iter: usize,
    /// Minibatch loss (mean absolute error).
    pub loss: f64,
    /// Forward right-hand-side evaluations.
    pub nfe_forward: usize,
    /// Backward evaluations (vector–Jacobian products and plain evaluations).
    pub nfe_backward: usize,
    /// Wall time of the iteration in milliseconds (not reproducible, unlike the rest).
    pub ms: f64,
    /// Full-trajectory loss, on evaluation iterations.
    pub eval_loss: Option<f64>,
    /// Evaluations of the full-trajectory solve, on evaluation iterations.
    pub eval_nfe: Option<usize>,
}

/// A spiral training run.
pub struct Trainer {
    config: TrainConfig,
    data: SpiralData,
    mlp_config: MlpConfig,
    layout: ParamLayout,
    theta: Vec<f64>,
    optimizer: OptimizerConfig,
    opt_state: OptState<f64>,
    iter: usize,
    model: NeuralOde<MlpDynamics<f64>>,
    eval_model: NeuralOde<MlpDynamics<f64>>,
    grad_buf: Vec<f64>,
}

/// Forward passes kept for `Direct` and `Checkpointed` gradients beyond the method's stages:
/// about twice the evaluations of one training solve of the spiral task (110–130), so that the
/// backward pass finds every stage of the forward solve in memory (17 KiB per pass at batch
/// 20, allocated as the passes are made).
const KEPT_PASSES: usize = 256;

/// How many forward passes the dynamics keep ([`MlpDynamics::with_memory`]): for `Direct` and
/// `Checkpointed`, whose backward pass re-evaluates the stages of the forward solve and then
/// takes products at them, enough for a whole forward solve; none for the adjoint method (its
/// backward products are all at new states).
fn memory_passes(solver: &SolverConfig) -> Result<usize, ModelError> {
    let method: ode_solvers::Method = solver.method.parse()?;
    Ok(match solver.grad {
        GradKind::Adjoint => 0,
        GradKind::Direct | GradKind::Checkpointed(_) => method
            .tableau()
            .map_or(ode_solvers::DOP853_TABLEAU.stages(), |t| t.stages())
            .max(KEPT_PASSES),
    })
}

fn mlp_config(hidden: usize) -> MlpConfig {
    MlpConfig::new(&[2, hidden, 2], Activation::Tanh).with_input_activation(Activation::Cube)
}

impl Trainer {
    /// A fresh run: weights normal(0, 0.1), biases zero (the demonstration's initialisation).
    ///
    /// # Errors
    /// An invalid configuration.
    pub fn new(config: TrainConfig) -> Result<Trainer, ModelError> {
        let mlp_config = mlp_config(config.hidden);
        let mut layout = ParamLayout::new();
        mlp_config.build(&mut layout, "net")?;
        let names: Vec<String> = layout.specs().iter().map(|s| s.name.clone()).collect();
        for n in names {
            let init = if n.ends_with("bias") {
                Init::Zeros
            } else {
                Init::Normal { std: 0.1 }
            };
            layout.set_init(&n, init)?;
        }
        let mut theta = vec![0.0; layout.len()];
        init_params(&layout, &mut theta, config.seed)?;
        let optimizer = OptimizerConfig::RmsProp(RmsProp::new(config.lr));
        let opt_state = optimizer.init_state(theta.len());
        Self::assemble(config, mlp_config, layout, theta, optimizer, opt_state, 0)
    }

    fn assemble(
        config: TrainConfig,
        mlp_config: MlpConfig,
        layout: ParamLayout,
        theta: Vec<f64>,
        optimizer: OptimizerConfig,
        opt_state: OptState<f64>,
        iter: usize,
    ) -> Result<Trainer, ModelError> {
        if config.batch_size == 0
            || config.batch_time < 2
            || config.eval_every == 0
            || config.lr.is_nan()
            || config.lr <= 0.0
        {
            return Err(ModelError::Config(format!(
                "batch_size {} must be positive, batch_time {} at least 2, eval_every {} positive, lr {} positive",
                config.batch_size, config.batch_time, config.eval_every, config.lr
            )));
        }
        let passes = memory_passes(&config.solver)?;
        let data = SpiralData::generate().map_err(|f| ModelError::Solve(f.error))?;
        let build =
            |batch: usize, passes: usize| -> Result<NeuralOde<MlpDynamics<f64>>, ModelError> {
                let mut l = ParamLayout::new();
                let mlp = mlp_config.build(&mut l, "net")?;
                Ok(NeuralOde::new(
                    MlpDynamics::new(mlp, l, batch)?.with_memory(passes),
                    config.solver.clone(),
                ))
            };
        let model = build(config.batch_size, passes)?;
        let eval_model = build(1, 1)?;
        let n = theta.len();
        Ok(Trainer {
            config,
            data,
            mlp_config,
            layout,
            theta,
            optimizer,
            opt_state,
            iter,
            model,
            eval_model,
            grad_buf: vec![0.0; n],
        })
    }

    /// Resumes from a model file written by [`Trainer::save`]; `iters` (if given) replaces
    /// the saved total.
    ///
    /// # Errors
    /// A missing, corrupt, foreign or mismatched file.
    pub fn load(path: &Path, iters: Option<usize>) -> Result<Trainer, ModelError> {
        let file: ModelFile<SpiralArchitecture, f64> = nn_layers::read_model(path)?;
        let mut train = file.architecture.train.clone();
        let mlp_config = mlp_config(train.hidden);
        let mut layout = ParamLayout::new();
        mlp_config.build(&mut layout, "net")?;
        file.check_architecture(
            &SpiralArchitecture {
                mlp: mlp_config.clone(),
                train: train.clone(),
            },
            &file.layout,
        )?;
        if file
            .layout
            .specs()
            .iter()
            .zip(layout.specs())
            .any(|(a, b)| a.name != b.name || a.len() != b.len())
            || file.layout.len() != layout.len()
        {
            return Err(ModelError::Config(
                "the model file's parameter layout does not match its architecture".into(),
            ));
        }
        let saved = file.optimizer.ok_or_else(|| {
            ModelError::Config("the model file has no optimizer state to resume".into())
        })?;
        if let Some(n) = iters {
            train.iters = n;
        }
        let iter = saved.state.step as usize;
        Self::assemble(
            train,
            mlp_config,
            file.layout,
            file.params,
            saved.config,
            saved.state,
            iter,
        )
    }

    /// Writes the model, optimizer state and settings atomically.
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        let arch = SpiralArchitecture {
            mlp: self.mlp_config.clone(),
            train: self.config.clone(),
        };
        let file = ModelFile::new(arch, self.layout.clone(), self.theta.clone())
            .with_optimizer(self.optimizer, self.opt_state.clone());
        nn_layers::save_model(path, &file)?;
        Ok(())
    }

    /// The settings.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Iterations done.
    pub fn iteration(&self) -> usize {
        self.iter
    }

    /// The parameters.
    pub fn params(&self) -> &[f64] {
        &self.theta
    }

    /// The data set.
    pub fn data(&self) -> &SpiralData {
        &self.data
    }

    /// The minibatch loss, its parameter gradient and the forward/backward evaluations for
    /// the next iteration (the batch that [`Trainer::step`] would draw), without changing
    /// anything.
    ///
    /// # Errors
    /// A failed solve.
    pub fn loss_and_grad(&self) -> Result<MinibatchGrad, ModelError> {
        let c = &self.config;
        let mut rng = ChaCha8Rng::seed_from_u64(c.seed);
        rng.set_stream(self.iter as u64 + 1);
        let batch = self.data.batch(&mut rng, c.batch_size, c.batch_time);
        let b = batch.starts.len();
        match c.batch_mode {
            BatchMode::Shared => {
                // The dynamics see the batch column-major: all x, then all y.
                let z0: Vec<f64> = (0..2)
                    .flat_map(|k| (0..b).map(move |w| (k, w)))
                    .map(|(k, w)| batch.y0[2 * w + k])
                    .collect();
                let target: Vec<f64> = (0..c.batch_time)
                    .flat_map(|i| (0..2).flat_map(move |k| (0..b).map(move |w| (i, k, w))))
                    .map(|(i, k, w)| batch.y[(i * b + w) * 2 + k])
                    .collect();
                let r = self
                    .model
                    .loss_and_grad(&self.theta, &z0, &batch.t, |pred, dl| {
                        nn_layers::loss::l1(pred, &target, Some(dl)).unwrap_or(f64::NAN)
                    })?;
                let (nfe_forward, nfe_backward) = nfe(&r.grads.stats);
                Ok(MinibatchGrad {
                    loss: r.loss,
                    dtheta: r.grads.dtheta,
                    nfe_forward,
                    nfe_backward,
                })
            }
            BatchMode::PerSample => {
                // Each window alone; its loss is its share of the batch mean absolute error.
                let count = (c.batch_time * b * 2) as f64;
                let mlp = self.mlp_config.clone();
                let passes = memory_passes(&c.solver)?;
                let make = || {
                    let mut l = ParamLayout::new();
                    let net = mlp
                        .build(&mut l, "net")
                        .expect("the layout built once already");
                    MlpDynamics::new(net, l, 1)
                        .expect("the dynamics built once already")
                        .with_memory(passes)
                };
                let r = crate::neural_ode::per_sample_loss_and_grad(
                    make,
                    &c.solver,
                    &self.theta,
                    &batch.y0,
                    2,
                    &batch.t,
                    |w, pred, dl| {
                        let mut total = 0.0;
                        for i in 0..c.batch_time {
                            for k in 0..2 {
                                let d = pred[2 * i + k] - batch.y[(i * b + w) * 2 + k];
                                total += d.abs();
                                dl[2 * i + k] = if d > 0.0 {
                                    1.0 / count
                                } else if d < 0.0 {
                                    -1.0 / count
                                } else {
                                    0.0
                                };
                            }
                        }
                        total / count
                    },
                )?;
                let work = r
                    .samples
                    .iter()
                    .map(|g| nfe(&g.stats))
                    .fold((0, 0), |a, x| (a.0 + x.0, a.1 + x.1));
                Ok(MinibatchGrad {
                    loss: r.loss,
                    dtheta: r.dtheta,
                    nfe_forward: work.0,
                    nfe_backward: work.1,
                })
            }
        }
    }

    /// One training iteration.
    ///
    /// # Errors
    /// A failed solve, or a non-finite loss (the parameters are then left unchanged).
    pub fn step(&mut self) -> Result<IterMetrics, ModelError> {
        let start = Instant::now();
        let MinibatchGrad {
            loss,
            dtheta,
            nfe_forward: nf,
            nfe_backward: nb,
        } = self.loss_and_grad()?;
        let iter = self.iter + 1;
        if !loss.is_finite() || dtheta.iter().any(|g| !g.is_finite()) {
            return Err(ModelError::NonFiniteLoss { iter });
        }
        self.grad_buf.copy_from_slice(&dtheta);
        self.optimizer
            .step(&mut self.theta, &self.grad_buf, &mut self.opt_state)?;
        self.iter = iter;
        let mut m = IterMetrics {
            iter,
            loss,
            nfe_forward: nf,
            nfe_backward: nb,
            ms: 0.0,
            eval_loss: None,
            eval_nfe: None,
        };
        if iter.is_multiple_of(self.config.eval_every) || iter == self.config.iters {
            let (loss, n) = self.evaluate()?;
            m.eval_loss = Some(loss);
            m.eval_nfe = Some(n);
        }
        m.ms = start.elapsed().as_secs_f64() * 1e3;
        Ok(m)
    }

    /// The full-trajectory loss: integrate from the true `y0` over all 1000 times, mean
    /// absolute error; and the evaluations the solve took.
    ///
    /// # Errors
    /// A failed solve.
    pub fn evaluate(&self) -> Result<(f64, usize), ModelError> {
        let (pred, stats) = self.predict_trajectory()?;
        let loss = pred
            .iter()
            .zip(&self.data.y)
            .map(|(a, b)| (a - b).abs())
            .sum::<f64>()
            / pred.len() as f64;
        Ok((loss, stats.nfe))
    }

    /// The learned trajectory from the true `y0` at the data times (two values per time).
    ///
    /// # Errors
    /// A failed solve.
    pub fn predict_trajectory(&self) -> Result<(Vec<f64>, ode_solvers::Stats), ModelError> {
        self.eval_model
            .predict(&self.theta, &self.data.y[..2], &self.data.t)
    }

    /// The learned vector field at `(x, y)`.
    pub fn field(&self, x: f64, y: f64) -> [f64; 2] {
        use adjoint::Dynamics;
        let mut d = [0.0; 2];
        self.eval_model
            .dynamics()
            .eval(0.0, &[x, y], &self.theta, &mut d);
        d
    }

    /// Trains until `config.iters`, or until `stop` is set; calls `on_iter` after every
    /// iteration. Checkpoints to `dir/model.bin` at every evaluation and at the end, and
    /// appends one JSON line per iteration to `dir/metrics.jsonl`. A non-finite loss stops the
    /// run with an error and leaves the last checkpoint as it was.
    ///
    /// # Errors
    /// A failed solve, a non-finite loss, an unwritable directory.
    pub fn run(
        &mut self,
        dir: &Path,
        stop: &AtomicBool,
        mut on_iter: impl FnMut(&IterMetrics),
    ) -> Result<(), ModelError> {
        let io = |path: &Path, e: std::io::Error| ModelError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let metrics_path = dir.join("metrics.jsonl");
        let mut metrics = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&metrics_path)
            .map_err(|e| io(&metrics_path, e))?;
        let model_path = dir.join("model.bin");
        while self.iter < self.config.iters && !stop.load(Ordering::SeqCst) {
            let m = self.step()?;
            let line = serde_json::to_string(&m).map_err(|e| ModelError::Io {
                path: metrics_path.display().to_string(),
                reason: e.to_string(),
            })?;
            writeln!(metrics, "{line}").map_err(|e| io(&metrics_path, e))?;
            if m.eval_loss.is_some() {
                self.save(&model_path)?;
            }
            on_iter(&m);
        }
        metrics.flush().map_err(|e| io(&metrics_path, e))?;
        self.save(&model_path)
    }
}
