//! Several callers and several samples on one engine: the requests are batched together
//! and the samples of one request share its prompt.
//!
//! ```sh
//! cargo run --release -p hypatia-llm --example batch_samples
//! ```

use hypatia_llm::{
    Backend, ChatMessage, EngineConfig, LlamaEngine, ModelStore, Request, SamplingParams,
};

fn main() -> anyhow::Result<()> {
    let model = std::env::var("HYPATIA_MODEL").unwrap_or_else(|_| "smollm2-135m".into());
    let path = ModelStore::default().ensure(&model)?;
    let engine = LlamaEngine::load(&model, &path, &EngineConfig::default())?;

    let questions = ["Name a prime number.", "Name a even number.", "Name a square number."];
    std::thread::scope(|s| {
        for q in questions {
            let engine = &engine;
            s.spawn(move || {
                let params = SamplingParams {
                    n: 2,
                    temperature: 0.8,
                    seed: 1,
                    max_tokens: 24,
                    ..Default::default()
                };
                let r = engine.generate(&Request::new(vec![ChatMessage::user(q)], params)).unwrap();
                for c in &r.choices {
                    println!("{q} [{}] {}", c.index, c.text.replace('\n', " "));
                }
            });
        }
    });
    Ok(())
}
