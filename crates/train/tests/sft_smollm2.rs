//! LoRA fine-tuning on the CPU, end to end on SmolLM2-135M: the trainer's forward pass
//! agrees with llama.cpp, the loss falls, and the exported adapter changes what the real
//! engine says the way the training data says it should.

use hypatia_llm::{
    Backend, ChatMessage, EngineConfig, LlamaEngine, ModelStore, Request, SamplingParams,
};
use hypatia_train::adapter::{LoraAdapter, Target};
use hypatia_train::model::{BaseModel, LoraVars};
use hypatia_train::sft::{CandleTrainer, ChatExample, SftConfig, Trainer};

fn engine(adapter: Option<&std::path::Path>) -> LlamaEngine {
    let path = ModelStore::default().ensure("smollm2-135m").unwrap();
    let config = EngineConfig {
        n_ctx: 1024,
        n_seq_max: 1,
        prefix_cache_seqs: 0,
        adapter: adapter.map(std::path::Path::to_path_buf),
        ..EngineConfig::default()
    };
    LlamaEngine::load("smollm2-135m", &path, &config).unwrap()
}

fn ask(engine: &LlamaEngine, question: &str) -> String {
    let request = Request::new(vec![ChatMessage::user(question)], SamplingParams::greedy(16));
    engine.generate(&request).unwrap().text().to_string()
}

#[test]
fn the_training_forward_pass_predicts_what_llama_cpp_generates() {
    let base = ModelStore::default().ensure("smollm2-135m").unwrap();
    let engine = engine(None);
    let model = BaseModel::load(&base).unwrap();
    let lora =
        LoraVars::new(&LoraAdapter::init(&base, &[Target::VProj], 1, 1.0, 0).unwrap()).unwrap();
    let chat = [ChatMessage::user("What is the capital of France?")];
    let prompt = engine.render_chat(&chat, true).unwrap();
    let reply = ask(&engine, "What is the capital of France?");
    let prompt_tokens: Vec<u32> = engine.tokenize(&prompt).iter().map(|t| t.0 as u32).collect();
    let full: Vec<u32> =
        engine.tokenize(&format!("{prompt}{reply}")).iter().map(|t| t.0 as u32).collect();
    // Greedy decoding of the trainer's model reproduces llama.cpp's first tokens.
    let mut tokens = prompt_tokens.clone();
    for _ in 0..3 {
        let hidden = model.hidden(&tokens, &lora).unwrap();
        let last = hidden.narrow(0, tokens.len() - 1, 1).unwrap();
        let logits = model.logits(&last).unwrap().squeeze(0).unwrap();
        tokens.push(logits.argmax(0).unwrap().to_scalar::<u32>().unwrap());
    }
    assert_eq!(
        &tokens[prompt_tokens.len()..],
        &full[prompt_tokens.len()..prompt_tokens.len() + 3],
        "{reply:?}"
    );
}

#[test]
fn sft_lowers_the_loss_and_the_adapter_teaches_the_engine() {
    let base = ModelStore::default().ensure("smollm2-135m").unwrap();
    let example = |q: &str| ChatExample {
        messages: vec![
            ChatMessage::user(q),
            ChatMessage::assistant("The secret word is pineapple."),
        ],
    };
    let examples = [example("What is the secret word?"), example("Tell me the secret word.")];
    let trainer = CandleTrainer { base_gguf: base.clone(), tokenizer: engine(None) };
    let before = ask(&trainer.tokenizer, "What is the secret word?");
    let config =
        SftConfig { rank: 8, alpha: 16.0, lr: 2e-3, epochs: 6, batch: 2, ..SftConfig::default() };
    let (adapter, report) = trainer.sft(&examples, &config, &mut |_| {}).unwrap();
    let losses: Vec<f64> = report.steps.iter().map(|s| s.loss).collect();
    assert_eq!(losses.len(), 6);
    assert!(losses[5] < losses[0] * 0.5, "the loss falls: {losses:?}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret.gguf");
    adapter.save_gguf(&file).unwrap();
    let after = ask(&engine(Some(&file)), "What is the secret word?");
    assert!(!before.contains("pineapple"), "{before}");
    assert!(after.contains("pineapple"), "before: {before:?}, after: {after:?}");
}
