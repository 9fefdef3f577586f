//! What every `Backend` must do, as functions over `&dyn Backend`: the embedded engine's
//! tests (`engine_smollm2.rs`) and the remote backend's tests (`crates/server/tests`,
//! through Hypatia's own server on loopback) run the same checks on the same model.
//!
//! The backend must serve SmolLM2-135M with at least [`N_SEQ_MAX`] parallel sequences and
//! no prefix cache (reused cells are not bit-exact, and these checks compare outputs).

#![allow(dead_code)]

use std::ops::ControlFlow;

use hypatia_llm::{
    Backend, CancelToken, ChatMessage, FinishReason, LlmError, Request, SamplingParams,
};

pub const N_SEQ_MAX: u32 = 4;

pub fn ask(text: &str, params: SamplingParams) -> Request {
    Request::new(vec![ChatMessage::user(text)], params)
}

pub fn generates_text_with_token_counts(e: &dyn Backend) {
    let r = e.generate(&ask("What is the capital of France?", SamplingParams::greedy(32))).unwrap();
    assert_eq!(r.choices.len(), 1);
    assert!(!r.text().trim().is_empty());
    assert!(r.prompt_tokens > 5);
    assert!(r.completion_tokens >= 1 && r.completion_tokens <= 32);
    assert!(r.text().contains("Paris"), "{}", r.text());
}

pub fn max_tokens_ends_with_length(e: &dyn Backend) {
    let r =
        e.generate(&ask("Write a long story about a dragon.", SamplingParams::greedy(7))).unwrap();
    assert_eq!(r.choices[0].finish_reason, FinishReason::Length);
    assert_eq!(r.completion_tokens, 7);
}

pub fn greedy_is_reproducible_and_streams_its_text(e: &dyn Backend) {
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

pub fn stop_string_cuts_the_text(e: &dyn Backend) {
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

pub fn n_samples_share_one_prompt_and_differ(e: &dyn Backend) {
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

pub fn shared_prefix_greedy_samples_equal_an_unshared_run(e: &dyn Backend) {
    let alone = e.generate(&ask("Name a color.", SamplingParams::greedy(20))).unwrap();
    let shared = e
        .generate(&ask("Name a color.", SamplingParams { n: 3, ..SamplingParams::greedy(20) }))
        .unwrap();
    for c in &shared.choices {
        assert_eq!(c.text, alone.text(), "sample {} differs from the unshared run", c.index);
    }
}

pub fn concurrent_callers_are_all_served(e: &dyn Backend) {
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

pub fn cancelling_frees_the_sequences(e: &dyn Backend) {
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

pub fn assistant_prefix_is_continued(e: &dyn Backend) {
    let mut req = ask("What is the capital of France?", SamplingParams::greedy(8));
    req.assistant_prefix = Some("The capital of France is".into());
    let r = e.generate(&req).unwrap();
    assert!(r.text().contains("Paris"), "{}", r.text());
}

pub fn a_grammar_constrains_every_sample(e: &dyn Backend) {
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
