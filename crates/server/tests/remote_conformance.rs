//! The remote backend passes the embedded engine's own checks: each one runs through
//! `RemoteBackend` → Hypatia's server on loopback → the engine, on the same model.

#[path = "../../llm/tests/conformance/mod.rs"]
mod conformance;
mod support;

use std::sync::{Arc, MutexGuard, OnceLock};

use hypatia_llm::{Backend, LlamaEngine, RemoteBackend, SamplingParams};
use hypatia_server::ServerConfig;
use support::Server;

fn remote() -> (&'static RemoteBackend, Arc<LlamaEngine>, MutexGuard<'static, ()>) {
    static SERVER: OnceLock<(Server, RemoteBackend)> = OnceLock::new();
    let (engine, turn) = support::engine();
    let (_, remote) = SERVER.get_or_init(|| {
        let server = Server::start(ServerConfig::default(), engine.clone());
        let remote = RemoteBackend::new(&server.url, None, None).expect("connect");
        (server, remote)
    });
    (remote, engine, turn)
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            let (backend, _engine, _turn) = remote();
            conformance::$name(backend);
        }
    )*};
}

conformance!(
    generates_text_with_token_counts,
    max_tokens_ends_with_length,
    greedy_is_reproducible_and_streams_its_text,
    stop_string_cuts_the_text,
    n_samples_share_one_prompt_and_differ,
    shared_prefix_greedy_samples_equal_an_unshared_run,
    concurrent_callers_are_all_served,
    cancelling_frees_the_sequences,
    assistant_prefix_is_continued,
    a_grammar_constrains_every_sample,
);

#[test]
fn the_model_name_comes_from_the_server() {
    let (backend, _engine, _turn) = remote();
    assert_eq!(backend.model_name(), "smollm2-135m");
}

#[test]
fn remote_and_embedded_give_the_same_greedy_text() {
    let (backend, engine, _turn) = remote();
    let request = conformance::ask("Name three even numbers.", SamplingParams::greedy(24));
    let through_server = backend.generate(&request).unwrap();
    let direct = engine.generate(&request).unwrap();
    assert_eq!(through_server.text(), direct.text());
    assert_eq!(through_server.prompt_tokens, direct.prompt_tokens);
}

/// A server that refuses `n > 1` (as some do): the remote backend learns it from the
/// refusal and draws the samples one request each, seeded `seed + i`. (Not compared with
/// the native samples token for token: the concurrent single requests are batched
/// differently, and sampled text drifts once the logits differ in the last bits.)
#[test]
fn samples_are_emulated_where_a_server_refuses_n() {
    static SINGLE: OnceLock<(Server, RemoteBackend)> = OnceLock::new();
    let (engine, _turn) = support::engine();
    let (_, remote) = SINGLE.get_or_init(|| {
        let config = ServerConfig { max_samples: 1, ..ServerConfig::default() };
        let server = Server::start(config, engine.clone());
        let remote = RemoteBackend::new(&server.url, None, None).expect("connect");
        (server, remote)
    });
    let params =
        SamplingParams { n: 4, temperature: 1.0, seed: 7, max_tokens: 24, ..Default::default() };
    let request = conformance::ask("Tell me a short fact about numbers.", params);
    let mut streamed = vec![String::new(); 4];
    let r = remote
        .generate_streaming(&request, &mut |d| {
            streamed[d.index as usize].push_str(d.text);
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
    let indices: Vec<u32> = r.choices.iter().map(|c| c.index).collect();
    assert_eq!(indices, [0, 1, 2, 3]);
    for c in &r.choices {
        assert_eq!(streamed[c.index as usize], c.text, "deltas reach the right choice");
    }
    let mut texts: Vec<&str> = r.choices.iter().map(|c| c.text.as_str()).collect();
    texts.sort();
    texts.dedup();
    assert!(texts.len() >= 2, "samples with different seeds differ: {:?}", r.choices);
    let single = engine
        .generate(&conformance::ask(
            "Tell me a short fact about numbers.",
            SamplingParams::greedy(1),
        ))
        .unwrap();
    assert_eq!(r.prompt_tokens, single.prompt_tokens, "the prompt is counted once");
    assert_eq!(r.completion_tokens, r.choices.iter().map(|c| c.completion_tokens).sum::<u32>());
}
