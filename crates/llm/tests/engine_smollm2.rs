//! The embedded engine against a real model (SmolLM2-135M, pulled on first use).
//!
//! Tests share one engine and take turns: the determinism checks compare outputs across
//! requests, which must not depend on what else happens to be in the batch.

use std::sync::{Mutex, MutexGuard, OnceLock};

use hypatia_llm::{
    Backend, ChatMessage, EngineConfig, LlamaEngine, LlmError, ModelStore, Request, SamplingParams,
};

mod conformance;

use conformance::{ask, N_SEQ_MAX};

fn engine() -> (&'static LlamaEngine, MutexGuard<'static, ()>) {
    static ENGINE: OnceLock<LlamaEngine> = OnceLock::new();
    static TURN: Mutex<()> = Mutex::new(());
    let guard = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let engine = ENGINE.get_or_init(|| {
        let path = ModelStore::default().ensure("smollm2-135m").expect("pull smollm2-135m");
        // No prefix cache here: reusing cached cells is not bit-exact (the KV layout changes
        // the order of floating-point sums), and these tests compare outputs across
        // requests. The prefix cache has its own engine in its own test.
        let config = EngineConfig {
            n_ctx: 2048,
            n_seq_max: N_SEQ_MAX,
            prefix_cache_seqs: 0,
            ..EngineConfig::default()
        };
        LlamaEngine::load("smollm2-135m", &path, &config).expect("load smollm2-135m")
    });
    (engine, guard)
}

#[test]
fn generates_text_with_token_counts() {
    let (e, _turn) = engine();
    conformance::generates_text_with_token_counts(e);
}

#[test]
fn max_tokens_ends_with_length() {
    let (e, _turn) = engine();
    conformance::max_tokens_ends_with_length(e);
}

#[test]
fn greedy_is_reproducible_and_streams_its_text() {
    let (e, _turn) = engine();
    conformance::greedy_is_reproducible_and_streams_its_text(e);
}

#[test]
fn stop_string_cuts_the_text() {
    let (e, _turn) = engine();
    conformance::stop_string_cuts_the_text(e);
}

#[test]
fn n_samples_share_one_prompt_and_differ() {
    let (e, _turn) = engine();
    conformance::n_samples_share_one_prompt_and_differ(e);
}

#[test]
fn shared_prefix_greedy_samples_equal_an_unshared_run() {
    let (e, _turn) = engine();
    conformance::shared_prefix_greedy_samples_equal_an_unshared_run(e);
}

#[test]
fn concurrent_callers_are_all_served() {
    let (e, _turn) = engine();
    conformance::concurrent_callers_are_all_served(e);
}

#[test]
fn cancelling_frees_the_sequences() {
    let (e, _turn) = engine();
    conformance::cancelling_frees_the_sequences(e);
}

#[test]
fn bad_requests_get_clear_errors() {
    let (e, _turn) = engine();
    let too_many = e.generate(&ask("x", SamplingParams { n: N_SEQ_MAX + 1, ..Default::default() }));
    assert!(matches!(too_many, Err(LlmError::InvalidRequest(m)) if m.contains("n_seq_max")));
    let huge = "word ".repeat(5000);
    assert!(matches!(
        e.generate(&ask(&huge, SamplingParams::greedy(4))),
        Err(LlmError::PromptTooLong { .. })
    ));
}

#[test]
fn assistant_prefix_is_continued() {
    let (e, _turn) = engine();
    conformance::assistant_prefix_is_continued(e);
}

#[test]
fn a_repeated_prefix_is_reused_and_changes_nothing() {
    let (_, _turn) = engine();
    let path = ModelStore::default().ensure("smollm2-135m").unwrap();
    let cached = EngineConfig { n_ctx: 2048, ..EngineConfig::default() };
    let e = &LlamaEngine::load("smollm2-135m", &path, &cached).unwrap();
    let system = "You are a careful assistant. Answer in one short sentence. \
                  Prefer plain words. Never use lists. Keep numbers as digits.";
    let chat = |question: &str| {
        Request::new(
            vec![ChatMessage::system(system), ChatMessage::user(question)],
            SamplingParams::greedy(24),
        )
    };
    let first = e.generate(&chat("What colour is the sky?")).unwrap();
    let again = e.generate(&chat("What colour is the sky?")).unwrap();
    assert_eq!(again.cached_tokens, again.prompt_tokens - 1, "all but the last token reused");
    assert_eq!(again.text(), first.text());

    let other = e.generate(&chat("Name a large animal.")).unwrap();
    assert!(other.cached_tokens >= 20, "the system prompt is shared: {}", other.cached_tokens);
    assert!(other.cached_tokens < other.prompt_tokens - 2);

    let config = EngineConfig { n_ctx: 2048, prefix_cache_seqs: 0, ..EngineConfig::default() };
    let uncached = LlamaEngine::load("smollm2-135m", &path, &config).unwrap();
    let fresh = uncached.generate(&chat("Name a large animal.")).unwrap();
    assert_eq!(fresh.cached_tokens, 0);
    assert_eq!(fresh.text(), other.text(), "reusing cells must not change the output");
}

#[test]
fn a_grammar_constrains_every_sample() {
    let (e, _turn) = engine();
    conformance::a_grammar_constrains_every_sample(e);
}
