//! Streams a reply from any OpenAI-compatible server (vLLM, SGLang, `hypatia serve`).
//!
//! ```sh
//! cargo run --release -p hypatia-llm --example remote_chat -- http://127.0.0.1:8080 "What is 7*8?"
//! ```

use std::io::Write;
use std::ops::ControlFlow;

use hypatia_llm::{Backend, ChatMessage, RemoteBackend, Request, SamplingParams};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let question = args.next().unwrap_or_else(|| "What is 7 * 8?".into());
    // The model is the first one the server lists; the key comes from the environment.
    let backend = RemoteBackend::new(&url, None, std::env::var("HYPATIA_API_KEY").ok())?;
    let request = Request::new(vec![ChatMessage::user(question)], SamplingParams::greedy(256));
    let response = backend.generate_streaming(&request, &mut |delta| {
        print!("{}", delta.text);
        let _ = std::io::stdout().flush();
        ControlFlow::Continue(())
    })?;
    println!(
        "\n[{} · {} prompt + {} completion tokens]",
        backend.model_name(),
        response.prompt_tokens,
        response.completion_tokens
    );
    Ok(())
}
