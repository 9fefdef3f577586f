//! Training Hypatia's models on their own verified work.
//!
//! The loop runs offline: [`datagen`] samples solutions with a strategy, keeps only those
//! the checker verifies against the gold answer (rejection sampling), and writes them as
//! chat-format JSON Lines for supervised fine-tuning; [`adapter`] holds LoRA adapters and
//! writes them in the two formats that matter — GGUF, which the embedded llama.cpp engine
//! loads with `--adapter`, and PEFT safetensors, which the PyTorch world reads.

pub mod adapter;
pub mod datagen;
pub mod grpo;
pub mod model;
pub mod sft;
