//! Solve one problem with chain-of-thought on the embedded engine.
//!
//! ```sh
//! cargo run --release -p hypatia-solve --example solve_problem -- "What is 17 * 23?"
//! ```

use hypatia_llm::{EngineConfig, LlamaEngine, ModelStore, DEFAULT_MODEL};
use hypatia_solve::{strategy_by_name, Event, Problem};

fn main() -> anyhow::Result<()> {
    let problem = std::env::args().nth(1).unwrap_or_else(|| "What is 17 * 23?".into());
    let model = std::env::var("HYPATIA_MODEL").unwrap_or_else(|_| DEFAULT_MODEL.into());

    // Pulls the model on first use, then loads it into an engine thread.
    let path = ModelStore::default().ensure(&model)?;
    let engine = LlamaEngine::load(&model, &path, &EngineConfig::default())?;

    let cot = strategy_by_name("cot")?;
    let solution =
        cot.solve(&engine, &Problem::new(problem), &mut |Event::Text(t)| print!("{t}"))?;
    println!(
        "\n\nanswer: {:?} ({} tokens, {:.1} s)",
        solution.answer, solution.completion_tokens, solution.seconds
    );
    Ok(())
}
