//! Group Relative Policy Optimization with verifiable rewards.
//!
//! Each step draws a group of K ≥ 4 solutions per problem from the *embedded engine
//! running the current adapter* (the same strategy code as `solve`), rewards each from
//! the checker and the sandbox (a correct answer, an answer at all, code that ran),
//! normalises the rewards within the group (advantage = (r − mean) / std), and then takes
//! a few optimizer steps on the clipped-ratio objective with a KL penalty to the base
//! model:
//!
//! `loss = −mean_t[ min(ρ_t·A, clip(ρ_t, 1−ε, 1+ε)·A) − β·KL_t ]`, with
//! `ρ_t = π(y_t)/π_old(y_t)` and `KL_t = e^(ref−new) − (ref−new) − 1` (the k3 estimator).
//!
//! `π_old` and the reference are computed by the trainer's own forward pass (not the
//! engine's sampling probabilities), so the ratio compares like with like; a group whose
//! rewards are all equal carries no signal and is skipped. The engine is reloaded with the
//! updated adapter after every step, so rollouts are always on-policy.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Result};
use candle_core::Tensor;
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use hypatia_llm::{EngineConfig, LlamaEngine};
use hypatia_sandbox::Status;
use hypatia_solve::{build_strategy, Problem, Solution, Step, StrategyOptions};
use serde::{Deserialize, Serialize};

use crate::adapter::{LoraAdapter, Target};
use crate::datagen::training_chat;
use crate::model::{BaseModel, LoraVars};
use crate::sft::{shuffle, step_on_mean, CandleTrainer, ChatExample, Tokenized};

/// Settings of a GRPO run. Invariants (checked by [`GrpoConfig::validate`]):
/// `group >= 4`, `steps >= 1`, `prompts_per_step >= 1`, `inner_epochs >= 1`,
/// `0 < clip < 1`, `kl_beta >= 0`, `lr > 0`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GrpoConfig {
    pub strategy: String,
    /// Rollouts per problem (K).
    pub group: usize,
    pub prompts_per_step: usize,
    pub steps: usize,
    /// Optimizer passes over each step's rollouts (ratios move away from 1 after the first).
    pub inner_epochs: usize,
    pub clip: f64,
    pub kl_beta: f64,
    pub lr: f64,
    pub temperature: f32,
    pub max_tokens: u32,
    /// Training sequence cap (prompt plus completion).
    pub max_seq_tokens: usize,
    pub rank: usize,
    pub alpha: f32,
    pub targets: Vec<Target>,
    pub seed: u64,
}

impl Default for GrpoConfig {
    fn default() -> Self {
        Self {
            strategy: "cot".into(),
            group: 4,
            prompts_per_step: 2,
            steps: 10,
            inner_epochs: 2,
            clip: 0.2,
            kl_beta: 0.04,
            lr: 1e-5,
            temperature: 1.0,
            max_tokens: 512,
            max_seq_tokens: 1536,
            rank: 16,
            alpha: 32.0,
            targets: Target::ALL.to_vec(),
            seed: 0,
        }
    }
}

impl GrpoConfig {
    pub fn validate(&self) -> Result<()> {
        if self.group < 4 {
            bail!("GRPO needs groups of at least 4 rollouts");
        }
        if self.steps == 0 || self.prompts_per_step == 0 || self.inner_epochs == 0 {
            bail!("steps, prompts per step and inner epochs must be at least 1");
        }
        if !(self.clip > 0.0 && self.clip < 1.0) || self.kl_beta < 0.0 || self.lr <= 0.0 {
            bail!("clip must be in (0, 1), the KL weight >= 0 and the learning rate > 0");
        }
        Ok(())
    }
}

/// What a rollout earned. Correctness dominates; the small terms reward answering in the
/// expected form and, for code strategies, a program that ran.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Reward {
    pub correct: bool,
    pub well_formed: bool,
    pub code_ran: Option<bool>,
}

impl Reward {
    pub fn of(solution: &Solution, question: &str, gold: &str) -> Reward {
        let correct = solution
            .answer
            .as_deref()
            .is_some_and(|a| hypatia_grade::correct_for(question, gold, a));
        let code_ran = solution.trace.steps.iter().rev().find_map(|s| match s {
            Step::Execution { outcome, .. } => Some(outcome.status == Status::Ok),
            _ => None,
        });
        Reward { correct, well_formed: solution.answer.is_some(), code_ran }
    }

    pub fn value(self) -> f64 {
        f64::from(u8::from(self.correct))
            + 0.1 * f64::from(u8::from(self.well_formed))
            + 0.1 * f64::from(u8::from(self.code_ran.unwrap_or(false)))
    }
}

/// `(r − mean) / (std + 1e-6)` within a group; `None` when every reward is the same.
pub fn group_advantages(rewards: &[f64]) -> Option<Vec<f64>> {
    let n = rewards.len() as f64;
    let mean = rewards.iter().sum::<f64>() / n;
    let std = (rewards.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / n).sqrt();
    (std > 1e-9).then(|| rewards.iter().map(|r| (r - mean) / (std + 1e-6)).collect())
}

/// The per-sequence GRPO loss from per-token log-probabilities under the policy being
/// trained (`new`, with gradients), the policy that sampled (`old`) and the reference
/// (`reference`), for a sequence with advantage `advantage`.
pub fn grpo_loss(
    new: &Tensor,
    old: &Tensor,
    reference: &Tensor,
    advantage: f64,
    clip: f64,
    kl_beta: f64,
) -> Result<Tensor> {
    let ratio = (new - old)?.exp()?;
    let unclipped = (&ratio * advantage)?;
    let clipped = (ratio.clamp(1.0 - clip, 1.0 + clip)? * advantage)?;
    let surrogate = unclipped.minimum(&clipped)?;
    let log_ratio_ref = (reference - new)?;
    let kl = ((log_ratio_ref.exp()? - &log_ratio_ref)? - 1.0)?;
    Ok((surrogate - (kl * kl_beta)?)?.mean_all()?.neg()?)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GrpoStep {
    pub step: usize,
    /// Mean reward and share correct over this step's rollouts.
    pub reward: f64,
    pub accuracy: f64,
    pub rollouts: usize,
    /// Groups with any reward variance (the others were skipped).
    pub groups_used: usize,
    pub loss: Option<f64>,
    pub kl: Option<f64>,
    pub seconds: f64,
}

/// A problem with its gold answer.
#[derive(Debug, Clone)]
pub struct Task {
    pub question: String,
    pub gold: String,
}

/// Runs GRPO from `start` (a fresh adapter, or an SFT one) on `tasks`.
pub struct GrpoTrainer {
    pub base_gguf: PathBuf,
    pub model_name: String,
    /// Where the adapter of each step is written for the engine to load.
    pub work_dir: PathBuf,
    pub engine: EngineConfig,
}

struct Rollout {
    seq: Tokenized,
    advantage: f64,
    old: Tensor,
    reference: Tensor,
}

impl GrpoTrainer {
    pub fn run(
        &self,
        tasks: &[Task],
        start: LoraAdapter,
        config: &GrpoConfig,
        on_step: &mut dyn FnMut(&GrpoStep),
    ) -> Result<(LoraAdapter, Vec<GrpoStep>)> {
        config.validate()?;
        if tasks.is_empty() {
            bail!("no problems to train on");
        }
        let model = BaseModel::load(&self.base_gguf)?;
        let mut adapter = start;
        let lora = LoraVars::new(&adapter)?;
        let params = ParamsAdamW { lr: config.lr, weight_decay: 0.0, ..ParamsAdamW::default() };
        let vars = lora.all();
        let mut optimizer = AdamW::new(vars.clone(), params)?;
        let options = StrategyOptions {
            temperature: config.temperature,
            max_tokens: config.max_tokens,
            explain: false,
            ..StrategyOptions::default()
        };
        let strategy = build_strategy(&config.strategy, &options)?;
        let mut order: Vec<usize> = (0..tasks.len()).collect();
        let mut history = Vec::new();
        std::fs::create_dir_all(&self.work_dir)?;
        for step in 0..config.steps {
            let started = Instant::now();
            if step * config.prompts_per_step % tasks.len() < config.prompts_per_step {
                shuffle(&mut order, config.seed.wrapping_add(step as u64));
            }
            let picked: Vec<&Task> = (0..config.prompts_per_step)
                .map(|i| &tasks[order[(step * config.prompts_per_step + i) % tasks.len()]])
                .collect();
            // On-policy: the engine samples with the adapter as it is now.
            lora.store_into(&mut adapter)?;
            let file = self.work_dir.join("policy.gguf");
            adapter.save_gguf(&file)?;
            let engine_config = EngineConfig {
                adapter: Some(file),
                n_seq_max: self.engine.n_seq_max.max(config.group as u32),
                ..self.engine.clone()
            };
            let engine = LlamaEngine::load(&self.model_name, &self.base_gguf, &engine_config)?;
            let trainer = CandleTrainer { base_gguf: self.base_gguf.clone(), tokenizer: engine };
            let (mut rewards_all, mut correct, mut groups_used) = (Vec::new(), 0, 0);
            let mut rollouts = Vec::new();
            for (g, task) in picked.iter().enumerate() {
                let seed = (config.seed as u32).wrapping_add(
                    (step * config.prompts_per_step + g) as u32 * config.group as u32,
                );
                let problem = Problem::new(task.question.clone());
                let samples = strategy.solve_samples(
                    &trainer.tokenizer,
                    &problem,
                    config.group as u32,
                    seed,
                    &mut |_| {},
                )?;
                let rewards: Vec<Reward> =
                    samples.iter().map(|s| Reward::of(s, &task.question, &task.gold)).collect();
                correct += rewards.iter().filter(|r| r.correct).count();
                let values: Vec<f64> = rewards.iter().map(|r| r.value()).collect();
                rewards_all.extend(&values);
                let Some(advantages) = group_advantages(&values) else { continue };
                groups_used += 1;
                for (sample, advantage) in samples.iter().zip(advantages) {
                    let Some(messages) = rollout_chat(sample) else { continue };
                    let seq = trainer.tokenize(&ChatExample { messages }, config.max_seq_tokens)?;
                    if !seq.trained.iter().skip(1).any(|&t| t) {
                        continue;
                    }
                    let old = model.token_logprobs(&seq.tokens, &seq.trained, &lora)?.detach();
                    let reference = model
                        .token_logprobs(&seq.tokens, &seq.trained, &LoraVars::none())?
                        .detach();
                    rollouts.push(Rollout { seq, advantage, old, reference });
                }
            }
            // One optimizer step per pass over the step's rollouts (their mean loss).
            let (mut loss_sum, mut kl_sum, mut passes) = (0.0, 0.0, 0);
            for _ in 0..config.inner_epochs {
                if rollouts.is_empty() {
                    break;
                }
                let mut kl_pass = 0.0;
                loss_sum += step_on_mean(&mut optimizer, &vars, rollouts.len(), |k| {
                    let r = &rollouts[k];
                    let new = model.token_logprobs(&r.seq.tokens, &r.seq.trained, &lora)?;
                    let diff = (&r.reference - &new)?;
                    kl_pass +=
                        ((diff.exp()? - &diff)? - 1.0)?.mean_all()?.to_scalar::<f32>()? as f64;
                    grpo_loss(&new, &r.old, &r.reference, r.advantage, config.clip, config.kl_beta)
                })?;
                kl_sum += kl_pass / rollouts.len() as f64;
                passes += 1;
            }
            let n = rewards_all.len().max(1) as f64;
            let record = GrpoStep {
                step: step + 1,
                reward: rewards_all.iter().sum::<f64>() / n,
                accuracy: correct as f64 / n,
                rollouts: rewards_all.len(),
                groups_used,
                loss: (passes > 0).then(|| loss_sum / passes as f64),
                kl: (passes > 0).then(|| kl_sum / passes as f64),
                seconds: started.elapsed().as_secs_f64(),
            };
            on_step(&record);
            history.push(record);
        }
        lora.store_into(&mut adapter)?;
        Ok((adapter, history))
    }
}

/// The chat of a rollout's answering call; a reply cut by the token budget is kept too
/// (its reward says what it earned).
fn rollout_chat(solution: &Solution) -> Option<Vec<hypatia_llm::ChatMessage>> {
    if let Some(chat) = training_chat(&solution.trace) {
        return Some(chat.messages);
    }
    solution.trace.steps.iter().rev().find_map(|s| match s {
        Step::Generation { prompt, completion, .. } if !completion.trim().is_empty() => {
            let mut messages = prompt.clone();
            messages.push(hypatia_llm::ChatMessage::assistant(completion.clone()));
            Some(messages)
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn t(values: &[f32]) -> Tensor {
        Tensor::new(values, &Device::Cpu).unwrap()
    }

    #[test]
    fn advantages_are_normalised_within_the_group() {
        let a = group_advantages(&[1.0, 0.0, 0.0, 1.0]).unwrap();
        assert!(a.iter().sum::<f64>().abs() < 1e-9);
        assert!((a[0] - 1.0).abs() < 1e-4 && (a[1] + 1.0).abs() < 1e-4);
        assert!(group_advantages(&[0.5; 4]).is_none(), "no variance, no signal");
    }

    #[test]
    fn the_loss_clips_the_ratio_and_charges_kl() {
        let zero = t(&[0.0, 0.0]);
        // Same policy as sampled and as the reference: loss = −A, no KL.
        let l = grpo_loss(&zero, &zero, &zero, 2.0, 0.2, 0.1).unwrap().to_scalar::<f32>().unwrap();
        assert!((l + 2.0).abs() < 1e-6, "{l}");
        // Ratio e^1 with a positive advantage is clipped at 1.2 (no KL weight).
        let up = t(&[1.0, 1.0]);
        let l = grpo_loss(&up, &zero, &up, 1.0, 0.2, 0.0).unwrap().to_scalar::<f32>().unwrap();
        assert!((l + 1.2).abs() < 1e-5, "{l}");
        // With a negative advantage the unclipped (worse) term is kept: −(e·−1) = e.
        let l = grpo_loss(&up, &zero, &up, -1.0, 0.2, 0.0).unwrap().to_scalar::<f32>().unwrap();
        assert!((l - std::f32::consts::E).abs() < 1e-5, "{l}");
        // Drifting from the reference costs KL: e^(−1) + 1 − 1 per token, times β.
        let l = grpo_loss(&up, &up, &zero, 0.0, 0.2, 1.0).unwrap().to_scalar::<f32>().unwrap();
        assert!((l - (-1f32).exp()).abs() < 1e-5, "{l}");
    }

    #[test]
    fn the_loss_has_gradients_where_the_ratio_is_not_clipped() {
        let new = candle_core::Var::new(&[0.05f32, 0.5], &Device::Cpu).unwrap();
        let zero = t(&[0.0, 0.0]);
        let loss = grpo_loss(new.as_tensor(), &zero, &zero, 1.0, 0.2, 0.0).unwrap();
        let grads = loss.backward().unwrap();
        let g = grads.get(new.as_tensor()).unwrap().to_vec1::<f32>().unwrap();
        assert!(g[0] < 0.0, "an unclipped token is pushed up: {g:?}");
        assert_eq!(g[1], 0.0, "a clipped token gets no gradient: {g:?}");
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(GrpoConfig::default().validate().is_ok());
        assert!(GrpoConfig { group: 3, ..GrpoConfig::default() }.validate().is_err());
        assert!(GrpoConfig { clip: 1.5, ..GrpoConfig::default() }.validate().is_err());
    }
}
