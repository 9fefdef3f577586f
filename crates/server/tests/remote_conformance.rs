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
