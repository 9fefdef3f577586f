//! Supervised fine-tuning of a LoRA adapter on chat examples, loss on the assistant's
//! tokens only.
//!
//! [`Trainer`] is the seam between the training loop's callers (the CLI, GRPO later) and
//! what runs it: [`CandleTrainer`] trains on this machine's CPU from the GGUF file the
//! engine runs; a PyTorch/PEFT trainer for GPU machines reads the same examples and writes
//! the same adapter (PEFT safetensors, converted with [`crate::adapter`]).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use hypatia_llm::{ChatMessage, LlamaEngine, Role};
use serde::{Deserialize, Serialize};

use crate::adapter::{LoraAdapter, SplitMix, Target};
use crate::model::{BaseModel, LoraVars};

/// One training example: a chat whose last message is the assistant's reply to learn.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatExample {
    pub messages: Vec<ChatMessage>,
}

/// Reads JSON Lines with a `messages` field (what `hypatia data gen` writes).
pub fn read_examples(path: &Path) -> Result<Vec<ChatExample>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut examples = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let example: ChatExample = serde_json::from_str(line)
            .with_context(|| format!("{} line {}: no chat `messages`", path.display(), n + 1))?;
        if example.messages.last().is_none_or(|m| m.role != Role::Assistant) {
            bail!("{} line {}: the last message must be the assistant's", path.display(), n + 1);
        }
        examples.push(example);
    }
    if examples.is_empty() {
        bail!("{} holds no examples", path.display());
    }
    Ok(examples)
}

/// Settings of a fine-tuning run. Invariants (checked by [`SftConfig::validate`]):
/// `rank >= 1`, `epochs >= 1`, `batch >= 1`, `lr > 0`, `max_tokens >= 8`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SftConfig {
    pub rank: usize,
    pub alpha: f32,
    pub targets: Vec<Target>,
    pub lr: f64,
    pub epochs: usize,
    /// Examples per optimizer step.
    pub batch: usize,
    /// Longer examples are cut (the assistant's tokens past the limit are not learned).
    pub max_tokens: usize,
    pub seed: u64,
}

impl Default for SftConfig {
    fn default() -> Self {
        Self {
            rank: 16,
            alpha: 32.0,
            targets: Target::ALL.to_vec(),
            lr: 2e-4,
            epochs: 1,
            batch: 4,
            max_tokens: 1024,
            seed: 0,
        }
    }
}

impl SftConfig {
    pub fn validate(&self) -> Result<()> {
        if self.rank == 0 || self.epochs == 0 || self.batch == 0 || self.max_tokens < 8 {
            bail!("rank, epochs and batch must be at least 1 and max tokens at least 8");
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            bail!("the learning rate must be a positive number");
        }
        Ok(())
    }
}

/// How a run went: the loss of every optimizer step, in order.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SftReport {
    pub steps: Vec<StepRecord>,
    pub examples: usize,
    pub trained_tokens: usize,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepRecord {
    pub epoch: usize,
    pub step: usize,
    pub loss: f64,
}

/// Something that fine-tunes an adapter for a base model on chat examples.
pub trait Trainer {
    fn sft(
        &self,
        examples: &[ChatExample],
        config: &SftConfig,
        on_step: &mut dyn FnMut(&StepRecord),
    ) -> Result<(LoraAdapter, SftReport)>;
}

/// Trains on the CPU with candle, from the model's GGUF file.
pub struct CandleTrainer {
    pub base_gguf: PathBuf,
    /// Renders and tokenizes chats exactly as at inference (the GGUF's chat template and
    /// tokenizer, through llama.cpp).
    pub tokenizer: LlamaEngine,
}

/// An example as token ids, with which of them are learned.
pub(crate) struct Tokenized {
    pub tokens: Vec<u32>,
    pub trained: Vec<bool>,
}

impl CandleTrainer {
    pub(crate) fn tokenize(&self, example: &ChatExample, max_tokens: usize) -> Result<Tokenized> {
        let (reply, context) = example.messages.split_last().context("empty chat")?;
        let prompt = self.tokenizer.render_chat(context, true)?;
        let full = self.tokenizer.render_chat(&example.messages, false)?;
        if !full.starts_with(&prompt) {
            bail!("the chat template renders the reply somewhere other than after the prompt");
        }
        let prompt_tokens = self.tokenizer.tokenize(&prompt);
        let mut tokens: Vec<u32> =
            self.tokenizer.tokenize(&full).iter().map(|t| t.0 as u32).collect();
        let start = prompt_tokens.len();
        if tokens.len() <= start || reply.content.trim().is_empty() {
            bail!("an example's reply is empty");
        }
        tokens.truncate(max_tokens);
        let trained = (0..tokens.len()).map(|i| i >= start).collect();
        Ok(Tokenized { tokens, trained })
    }

    /// The loss (mean nats per reply token, as training measures it) of every example under
    /// the base model with `adapter`, or the bare base model: a held-out loss after a run,
    /// and the figure another trainer's numbers are checked against. Examples whose reply
    /// starts past `max_tokens` score `None`.
    pub fn score(
        &self,
        examples: &[ChatExample],
        adapter: Option<&LoraAdapter>,
        max_tokens: usize,
        on_example: &mut dyn FnMut(usize, Option<f64>),
    ) -> Result<Vec<Option<f64>>> {
        let model = BaseModel::load(&self.base_gguf)?;
        let lora = match adapter {
            Some(adapter) => LoraVars::new(adapter)?,
            None => LoraVars::none(),
        };
        let mut losses = Vec::with_capacity(examples.len());
        for (i, example) in examples.iter().enumerate() {
            let data = self.tokenize(example, max_tokens)?;
            let loss = if data.trained.iter().skip(1).any(|&t| t) {
                let loss = model.loss(&data.tokens, &data.trained, &lora)?.detach();
                Some(loss.to_scalar::<f32>()? as f64)
            } else {
                None
            };
            on_example(i, loss);
            losses.push(loss);
        }
        Ok(losses)
    }
}

impl Trainer for CandleTrainer {
    fn sft(
        &self,
        examples: &[ChatExample],
        config: &SftConfig,
        on_step: &mut dyn FnMut(&StepRecord),
    ) -> Result<(LoraAdapter, SftReport)> {
        config.validate()?;
        let started = Instant::now();
        let data: Vec<Tokenized> = examples
            .iter()
            .map(|e| self.tokenize(e, config.max_tokens))
            .filter(|t| t.as_ref().map_or(true, |t| t.trained.iter().skip(1).any(|&x| x)))
            .collect::<Result<_>>()?;
        if data.is_empty() {
            bail!("no example has a reply within {} tokens", config.max_tokens);
        }
        let model = BaseModel::load(&self.base_gguf)?;
        let mut adapter = LoraAdapter::init(
            &self.base_gguf,
            &config.targets,
            config.rank,
            config.alpha,
            config.seed,
        )?;
        let lora = LoraVars::new(&adapter)?;
        let params = ParamsAdamW { lr: config.lr, weight_decay: 0.0, ..ParamsAdamW::default() };
        let vars = lora.all();
        let mut optimizer = AdamW::new(vars.clone(), params)?;
        let mut report = SftReport {
            examples: data.len(),
            trained_tokens: data.iter().map(|d| d.trained.iter().filter(|&&t| t).count()).sum(),
            ..SftReport::default()
        };
        let mut order: Vec<usize> = (0..data.len()).collect();
        let mut step = 0;
        for epoch in 0..config.epochs {
            shuffle(&mut order, config.seed.wrapping_add(epoch as u64));
            for batch in order.chunks(config.batch) {
                let loss_sum = step_on_mean(&mut optimizer, &vars, batch.len(), |k| {
                    let i = batch[k];
                    model.loss(&data[i].tokens, &data[i].trained, &lora)
                })?;
                step += 1;
                let record = StepRecord { epoch, step, loss: loss_sum };
                on_step(&record);
                report.steps.push(record);
            }
        }
        lora.store_into(&mut adapter)?;
        report.seconds = started.elapsed().as_secs_f64();
        Ok((adapter, report))
    }
}

/// One optimizer step on the mean of `n` losses, built and differentiated one at a time
/// so that only one graph is alive: the gradients of the adapter's variables are summed
/// (the backward pass also yields the frozen weights' and the activations', which are
/// dropped with each graph). Returns the mean loss.
///
/// One step per batch, not one per loss: Adam's update is invariant to the loss's scale,
/// so stepping on each loss divided by `n` would move the weights `n` times as far.
pub(crate) fn step_on_mean(
    optimizer: &mut AdamW,
    vars: &[Var],
    n: usize,
    mut loss_of: impl FnMut(usize) -> Result<Tensor>,
) -> Result<f64> {
    let (mut summed, mut last, mut mean) = (vec![None::<Tensor>; vars.len()], None, 0.0);
    for k in 0..n {
        let loss = (loss_of(k)? / n as f64)?;
        mean += loss.to_scalar::<f32>()? as f64;
        let grads = loss.backward()?;
        for (sum, var) in summed.iter_mut().zip(vars) {
            if let Some(g) = grads.get(var.as_tensor()) {
                *sum = Some(match sum.take() {
                    Some(earlier) => (earlier + g)?,
                    None => g.clone(),
                });
            }
        }
        last = Some(grads);
    }
    let mut grads: GradStore = last.context("no losses to step on")?;
    for (sum, var) in summed.into_iter().zip(vars) {
        if let Some(sum) = sum {
            grads.insert(var.as_tensor(), sum);
        }
    }
    optimizer.step(&grads)?;
    Ok(mean)
}

/// Fisher–Yates with a seeded SplitMix64: a reproducible example order per epoch.
pub(crate) fn shuffle(order: &mut [usize], seed: u64) {
    let mut rng = SplitMix(seed);
    for i in (1..order.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffling_is_a_seeded_permutation() {
        let mut a: Vec<usize> = (0..10).collect();
        let mut b = a.clone();
        shuffle(&mut a, 3);
        shuffle(&mut b, 3);
        assert_eq!(a, b);
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        assert_ne!(a, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(SftConfig::default().validate().is_ok());
        assert!(SftConfig { rank: 0, ..SftConfig::default() }.validate().is_err());
        assert!(SftConfig { lr: -1.0, ..SftConfig::default() }.validate().is_err());
    }

    #[test]
    fn examples_must_end_with_the_assistant() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.jsonl");
        std::fs::write(&path, r#"{"messages":[{"role":"user","content":"hi"}]}"#).unwrap();
        let err = read_examples(&path).unwrap_err().to_string();
        assert!(err.contains("assistant"), "{err}");
    }
}
