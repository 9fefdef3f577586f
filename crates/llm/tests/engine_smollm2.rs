//! The embedded engine against a real model (SmolLM2-135M, pulled on first use).
//!
//! Tests share one engine and take turns: the determinism checks compare outputs across
//! requests, which must not depend on what else happens to be in the batch.

use std::ops::ControlFlow;
use std::sync::{Mutex, MutexGuard, OnceLock};

use hypatia_llm::{
    Backend, CancelToken, ChatMessage, EngineConfig, FinishReason, LlamaEngine, LlmError,
    ModelStore, Request, SamplingParams,
};

const N_SEQ_MAX: u32 = 4;

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

fn ask(text: &str, params: SamplingParams) -> Request {
    Request::new(vec![ChatMessage::user(text)], params)
}

#[test]
fn generates_text_with_token_counts() {
    let (e, _turn) = engine();
    let r = e.generate(&ask("What is the capital of France?", SamplingParams::greedy(32))).unwrap();
    assert_eq!(r.choices.len(), 1);
    assert!(!r.text().trim().is_empty());
    assert!(r.prompt_tokens > 5);
    assert!(r.completion_tokens >= 1 && r.completion_tokens <= 32);
    assert!(r.text().contains("Paris"), "{}", r.text());
}

#[test]
fn max_tokens_ends_with_length() {
    let (e, _turn) = engine();
    let r =
        e.generate(&ask("Write a long story about a dragon.", SamplingParams::greedy(7))).unwrap();
    assert_eq!(r.choices[0].finish_reason, FinishReason::Length);
    assert_eq!(r.completion_tokens, 7);
}

#[test]
fn greedy_is_reproducible_and_streams_its_text() {
    let (e, _turn) = engine();
    let req = ask("List three prime numbers.", SamplingParams::greedy(40));
    let mut streamed = String::new();
    let a = e
        .generate_streaming(&req, &mut |d| {
            streamed.push_str(d.text);
            ControlFlow::Continue(())
        })
        .unwrap();
    let b = e.generate(&req).unwrap();
    assert_eq!(a.text(), b.text());
    assert_eq!(streamed, a.text());
}

#[test]
fn stop_string_cuts_the_text() {
    let (e, _turn) = engine();
    let params = SamplingParams::greedy(48);
    let full = e.generate(&ask("Count from 1 to 20 separated by commas.", params.clone())).unwrap();
    let text = full.text().to_string();
    // Stop at a piece of the greedy text that starts after its first few characters.
    let start = text.char_indices().nth(text.chars().count() / 2).map(|(i, _)| i).unwrap();
    let stop: String = text[start..].chars().take(3).collect();
    let cut = text.find(&stop).unwrap();
    let stopped = e
        .generate(&ask(
            "Count from 1 to 20 separated by commas.",
            SamplingParams { stop: vec![stop.clone()], ..params },
        ))
        .unwrap();
    assert_eq!(stopped.text(), &text[..cut], "stop {stop:?}");
    assert_eq!(stopped.choices[0].finish_reason, FinishReason::Stop);
}

#[test]
fn n_samples_share_one_prompt_and_differ() {
    let (e, _turn) = engine();
    let params = SamplingParams {
        n: N_SEQ_MAX,
        temperature: 1.0,
        seed: 7,
        max_tokens: 24,
        ..Default::default()
    };
    let req = ask("Tell me a short fact about numbers.", params);
    let r = e.generate(&req).unwrap();
    assert_eq!(r.choices.len(), N_SEQ_MAX as usize);
    let single_prompt =
        e.generate(&ask("Tell me a short fact about numbers.", SamplingParams::greedy(1))).unwrap();
    assert_eq!(r.prompt_tokens, single_prompt.prompt_tokens, "prompt counted once");
    let mut texts: Vec<&str> = r.choices.iter().map(|c| c.text.as_str()).collect();
    texts.sort();
    texts.dedup();
    assert!(texts.len() >= 2, "samples should differ: {:?}", r.choices);
    // The same seed gives the same samples again.
    let again = e.generate(&req).unwrap();
    assert_eq!(r.choices, again.choices);
}

#[test]
fn shared_prefix_greedy_samples_equal_an_unshared_run() {
    let (e, _turn) = engine();
    let alone = e.generate(&ask("Name a color.", SamplingParams::greedy(20))).unwrap();
    let shared = e
        .generate(&ask("Name a color.", SamplingParams { n: 3, ..SamplingParams::greedy(20) }))
        .unwrap();
    for c in &shared.choices {
        assert_eq!(c.text, alone.text(), "sample {} differs from the unshared run", c.index);
    }
}

#[test]
fn concurrent_callers_are_all_served() {
    let (e, _turn) = engine();
    let prompts = ["What is 2 plus 2?", "Name a fruit.", "What color is the sky?"];
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = prompts
            .iter()
            .map(|p| s.spawn(move || e.generate(&ask(p, SamplingParams::greedy(16)))))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in results {
        let r = r.unwrap();
        assert!(r.completion_tokens >= 1);
        assert!(!r.text().is_empty());
    }
}

#[test]
fn cancelling_frees_the_sequences() {
    let (e, _turn) = engine();
    let long = ask("Write a very long essay about the ocean.", SamplingParams::greedy(400));
    let mut deltas = 0;
    let r = e
        .generate_streaming(&long, &mut |_| {
            deltas += 1;
            if deltas == 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert_eq!(r.choices[0].finish_reason, FinishReason::Cancelled);
    assert!(r.completion_tokens < 400);

    // A token cancelled from another thread stops a request too.
    let token = CancelToken::new();
    let mut req = long.clone();
    req.cancel = Some(token.clone());
    let r = std::thread::scope(|s| {
        let h = s.spawn(|| e.generate(&req));
        std::thread::sleep(std::time::Duration::from_millis(300));
        token.cancel();
        h.join().unwrap()
    })
    .unwrap();
    assert_eq!(r.choices[0].finish_reason, FinishReason::Cancelled);

    // Every sequence is free again: a request needing all of them runs.
    let all = e
        .generate(&ask("Say hi.", SamplingParams { n: N_SEQ_MAX, ..SamplingParams::greedy(4) }))
        .unwrap();
    assert_eq!(all.choices.len(), N_SEQ_MAX as usize);
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
    let mut req = ask("What is the capital of France?", SamplingParams::greedy(8));
    req.assistant_prefix = Some("The capital of France is".into());
    let r = e.generate(&req).unwrap();
    assert!(r.text().contains("Paris"), "{}", r.text());
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
    let grammar = r#"root ::= "{\"score\": " [1-5] ", \"pass\": " ("true" | "false") "}""#;
    let params = SamplingParams {
        n: 3,
        temperature: 1.0,
        seed: 3,
        max_tokens: 40,
        grammar: Some(grammar.into()),
        ..Default::default()
    };
    let r = e.generate(&ask("Tell me a story about a cat.", params)).unwrap();
    for choice in &r.choices {
        let value: serde_json::Value = serde_json::from_str(&choice.text)
            .unwrap_or_else(|err| panic!("{err}: {:?}", choice.text));
        assert!((1..=5).contains(&value["score"].as_u64().unwrap()), "{value}");
        assert!(value["pass"].is_boolean());
        assert_eq!(choice.finish_reason, FinishReason::Stop, "the grammar ends the reply");
    }

    let bad = SamplingParams { grammar: Some("root ::= (".into()), ..SamplingParams::greedy(4) };
    match e.generate(&ask("Hi", bad)) {
        Err(LlmError::InvalidRequest(why)) => assert!(why.contains("grammar"), "{why}"),
        other => panic!("expected a grammar error, got {other:?}"),
    }
}
