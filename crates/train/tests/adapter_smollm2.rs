//! Adapters written here load in the real llama.cpp engine and change what it says only
//! when they should.

use candle_core::{Device, Tensor};
use hypatia_llm::{
    Backend, ChatMessage, EngineConfig, LlamaEngine, ModelStore, Request, SamplingParams,
};
use hypatia_train::adapter::{LoraAdapter, Target};

fn greedy(engine: &LlamaEngine) -> String {
    let request = Request::new(
        vec![ChatMessage::user("Count from one to ten in words.")],
        SamplingParams::greedy(24),
    );
    engine.generate(&request).unwrap().text().to_string()
}

fn engine(adapter: Option<&std::path::Path>) -> LlamaEngine {
    let path = ModelStore::default().ensure("smollm2-135m").unwrap();
    let config = EngineConfig {
        n_ctx: 512,
        n_seq_max: 1,
        prefix_cache_seqs: 0,
        adapter: adapter.map(std::path::Path::to_path_buf),
        ..EngineConfig::default()
    };
    LlamaEngine::load("smollm2-135m", &path, &config).unwrap()
}

#[test]
fn a_gguf_adapter_loads_in_llama_cpp_and_acts_only_when_trained() {
    let dir = tempfile::tempdir().unwrap();
    let base_path = ModelStore::default().ensure("smollm2-135m").unwrap();
    let mut adapter = LoraAdapter::init(&base_path, &Target::ALL, 4, 8.0, 7).unwrap();
    assert_eq!(adapter.arch, "llama");
    // 30 layers × 7 projections in SmolLM2-135M.
    assert_eq!(adapter.pairs.len(), 30 * 7);

    let base = greedy(&engine(None));
    // B = 0: the fresh adapter is the identity change.
    let fresh = dir.path().join("fresh.gguf");
    adapter.save_gguf(&fresh).unwrap();
    assert_eq!(greedy(&engine(Some(&fresh))), base);

    // A trained (here: random) B changes the output.
    for pair in adapter.pairs.values_mut() {
        pair.b = Tensor::randn(0f32, 0.5, pair.b.dims(), &Device::Cpu).unwrap();
    }
    let changed = dir.path().join("changed.gguf");
    adapter.save_gguf(&changed).unwrap();
    assert_ne!(greedy(&engine(Some(&changed))), base);
}

#[test]
fn an_adapter_for_another_model_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let base_path = ModelStore::default().ensure("smollm2-135m").unwrap();
    let mut adapter = LoraAdapter::init(&base_path, &[Target::VProj], 2, 4.0, 1).unwrap();
    // Shapes that fit no weight of the model.
    for pair in adapter.pairs.values_mut() {
        pair.a = Tensor::zeros((2, 7), candle_core::DType::F32, &Device::Cpu).unwrap();
    }
    let wrong = dir.path().join("wrong.gguf");
    adapter.save_gguf(&wrong).unwrap();
    let config =
        EngineConfig { n_ctx: 512, n_seq_max: 1, adapter: Some(wrong), ..EngineConfig::default() };
    let Err(err) = LlamaEngine::load("smollm2-135m", &base_path, &config) else {
        panic!("an adapter of the wrong shape must be refused");
    };
    assert!(err.to_string().contains("adapter"), "{err}");
}
