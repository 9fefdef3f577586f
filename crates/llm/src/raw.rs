//! A bare llama-cpp-2 loop, the baseline the engine benchmark compares against.
//!
//! This is what a user who skipped Hypatia would write: one context, one sequence, prompt
//! in chunks, then greedy decoding token by token. Measuring it in the same process and
//! run as the engine gives a ratio that machine noise does not distort.

use std::num::NonZeroU32;
use std::path::Path;
use std::time::Instant;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;

use crate::backend::LlmError;

/// Throughput of the bare loop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RawFigures {
    pub prompt_tokens: usize,
    pub prompt_tokens_per_second: f64,
    pub decode_tokens: usize,
    pub decode_tokens_per_second: f64,
}

/// Runs `prompt` through a fresh context, then decodes `decode_tokens` greedy tokens
/// (end-of-generation tokens are decoded like any other so the count is exact).
pub fn raw_baseline(
    model_path: &Path,
    threads: usize,
    prompt: &str,
    decode_tokens: usize,
) -> Result<RawFigures, LlmError> {
    let err = |what: &str, e: &dyn std::fmt::Display| LlmError::Engine(format!("{what}: {e}"));
    let backend = crate::engine::llama_backend()?;
    let model = LlamaModel::load_from_file(backend, model_path, &LlamaModelParams::default())
        .map_err(|e| err("load", &e))?;
    let tokens = model.vocab().tokenize(prompt.as_bytes(), true, true);
    let n_batch = 512u32;
    let n_ctx = (tokens.len() + decode_tokens + 16) as u32;
    let threads = threads as i32;
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(n_ctx.max(64)))
        .with_n_batch(n_batch)
        .with_n_ubatch(n_batch)
        .with_n_threads(threads)
        .with_n_threads_batch(threads);
    let mut ctx = model.new_context(backend, params).map_err(|e| err("context", &e))?;
    let mut batch = LlamaBatch::new(n_batch as usize, 1);

    let start = Instant::now();
    for (chunk_no, chunk) in tokens.chunks(n_batch as usize).enumerate() {
        batch.clear();
        for (i, &t) in chunk.iter().enumerate() {
            let pos = chunk_no * n_batch as usize + i;
            batch
                .add(t, pos as i32, &[0], pos + 1 == tokens.len())
                .map_err(|e| err("batch", &e))?;
        }
        ctx.decode(&mut batch).map_err(|e| err("decode", &e))?;
    }
    let prompt_seconds = start.elapsed().as_secs_f64();

    let mut sampler = LlamaSampler::greedy();
    let mut logits_at = batch.n_tokens() - 1;
    let start = Instant::now();
    for pos in (tokens.len() as i32..).take(decode_tokens) {
        let token = sampler.sample(&ctx, logits_at);
        batch.clear();
        batch.add(token, pos, &[0], true).map_err(|e| err("batch", &e))?;
        ctx.decode(&mut batch).map_err(|e| err("decode", &e))?;
        logits_at = 0;
    }
    let decode_seconds = start.elapsed().as_secs_f64();
    Ok(RawFigures {
        prompt_tokens: tokens.len(),
        prompt_tokens_per_second: tokens.len() as f64 / prompt_seconds,
        decode_tokens,
        decode_tokens_per_second: decode_tokens as f64 / decode_seconds,
    })
}
