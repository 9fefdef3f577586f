//! The HTTP API against the real engine (SmolLM2-135M) and a real SQLite store: the
//! OpenAI wire format, tutoring sessions, solving, the web page and the limits.

mod support;

use std::sync::Arc;

use hypatia_llm::{Backend, ScriptedBackend};
use hypatia_server::ServerConfig;
use reqwest::blocking::Response;
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{client, engine, Server};

const PROBLEM: &str = "Natalia sold clips to 48 of her friends in April, and then she sold half \
                       as many clips in May. How many clips did Natalia sell altogether in April and May?";
const WORKED: &str = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n\
                      Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72";

fn json_of(response: Response) -> Value {
    let status = response.status();
    let text = response.text().unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status}: {e}: {text}"))
}

/// `(event, data)` pairs of an SSE body.
fn sse_events(body: &str) -> Vec<(String, String)> {
    body.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut event = String::from("message");
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(e) = line.strip_prefix("event:") {
                    event = e.trim().to_string();
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push(d.strip_prefix(' ').unwrap_or(d));
                }
            }
            (event, data.join("\n"))
        })
        .filter(|(_, data)| !data.is_empty())
        .collect()
}

fn post(server: &Server, path: &str, body: Value) -> Response {
    client().post(format!("{}{path}", server.url)).json(&body).send().unwrap()
}

#[test]
fn health_ready_and_models() {
    let (engine, _turn) = engine();
    let server = Server::start(ServerConfig::default(), engine);
    let health = json_of(client().get(format!("{}/health", server.url)).send().unwrap());
    assert_eq!(health["status"], "ok");
    let ready = json_of(client().get(format!("{}/ready", server.url)).send().unwrap());
    assert_eq!(ready, json!({"ready": true, "model": "smollm2-135m"}));
    let models = json_of(client().get(format!("{}/v1/models", server.url)).send().unwrap());
    assert_eq!(models["data"][0]["id"], "smollm2-135m");
}

#[test]
fn chat_completions_speak_the_openai_format() {
    let (engine, _turn) = engine();
    let server = Server::start(ServerConfig::default(), engine);
    let body = json!({
        "model": "anything", "temperature": 0, "max_tokens": 16,
        "messages": [{"role": "user", "content": "Name a fruit."}],
    });
    let plain = json_of(post(&server, "/v1/chat/completions", body.clone()));
    assert_eq!(plain["object"], "chat.completion");
    assert_eq!(plain["model"], "anything");
    let text = plain["choices"][0]["message"]["content"].as_str().unwrap().to_string();
    assert!(!text.is_empty());
    let usage = &plain["usage"];
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap()
    );

    let mut streaming = body;
    streaming["stream"] = json!(true);
    streaming["stream_options"] = json!({"include_usage": true});
    let response = post(&server, "/v1/chat/completions", streaming);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let events = sse_events(&response.text().unwrap());
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let chunks: Vec<Value> =
        events[..events.len() - 1].iter().map(|(_, d)| serde_json::from_str(d).unwrap()).collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let streamed: String = chunks
        .iter()
        .filter_map(|c| c["choices"].get(0)?["delta"]["content"].as_str().map(str::to_string))
        .collect();
    assert_eq!(streamed, text, "streamed deltas concatenate to the non-streamed text");
    let finish = chunks.iter().find_map(|c| c["choices"].get(0)?["finish_reason"].as_str());
    assert!(matches!(finish, Some("stop" | "length")));
    assert_eq!(chunks.last().unwrap()["usage"], plain["usage"]);

    let bad = post(&server, "/v1/chat/completions", json!({"messages": [], "max_tokens": 4}));
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(json_of(bad)["error"]["message"].as_str().unwrap().contains("empty"));
    let not_json = client()
        .post(format!("{}/v1/chat/completions", server.url))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    assert!(json_of(not_json)["error"]["message"].is_string());
}

#[test]
fn a_tutoring_session_asks_guiding_questions_and_keeps_the_answer() {
    let (engine, _turn) = engine();
    let server = Server::start(ServerConfig::default(), engine);
    let created = post(
        &server,
        "/api/sessions",
        json!({"student": "ada", "problem": PROBLEM, "solution": WORKED, "grade": 5}),
    );
    assert_eq!(created.status(), StatusCode::CREATED);
    let session = json_of(created);
    let id = session["id"].as_str().unwrap().to_string();
    assert!(!session.to_string().contains("72"), "the view holds no answer: {session}");
    assert_eq!(session["hint_level"], "nudge");

    let wrong = "48 + 48 = 96 so the answer is 96";
    let answered = json_of(post(
        &server,
        &format!("/api/sessions/{id}/messages"),
        json!({"text": wrong, "turn": 0}),
    ));
    let reply = answered["turn"]["tutor"].as_str().unwrap();
    assert!(reply.contains('?'), "the tutor asks: {reply}");
    assert!(!reply.contains("72"), "the tutor must not say the answer: {reply}");
    assert_eq!(answered["turn"]["move"], "guide");
    assert_eq!(answered["session"]["turns"].as_array().unwrap().len(), 1);

    // A retried message is answered from the record, not added again.
    let retried = json_of(post(
        &server,
        &format!("/api/sessions/{id}/messages"),
        json!({"text": wrong, "turn": 0}),
    ));
    assert_eq!(retried["turn"]["tutor"], answered["turn"]["tutor"]);
    assert_eq!(retried["session"]["turns"].as_array().unwrap().len(), 1);
    let ahead =
        post(&server, &format!("/api/sessions/{id}/messages"), json!({"text": "x", "turn": 5}));
    assert_eq!(ahead.status(), StatusCode::CONFLICT);
    let taken =
        post(&server, &format!("/api/sessions/{id}/messages"), json!({"text": "other", "turn": 0}));
    assert_eq!(taken.status(), StatusCode::CONFLICT);

    // Streaming: a status event, deltas that make up the reply, then the turn.
    let response = client()
        .post(format!("{}/api/sessions/{id}/messages", server.url))
        .header("accept", "text/event-stream")
        .json(&json!({"text": "48 / 2 = 24 and 48 + 24 = 72", "turn": 1}))
        .send()
        .unwrap();
    let events = sse_events(&response.text().unwrap());
    assert_eq!(events[0].0, "status");
    let (kind, done) = events.last().unwrap();
    assert_eq!(kind, "done", "{events:?}");
    let done: Value = serde_json::from_str(done).unwrap();
    let deltas: String = events
        .iter()
        .filter(|(e, _)| e == "delta")
        .map(|(_, d)| {
            serde_json::from_str::<Value>(d).unwrap()["text"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(deltas, done["turn"]["tutor"].as_str().unwrap());
    assert_eq!(done["turn"]["move"], "confirm");
    assert_eq!(done["session"]["explain_allowed"], true);

    let read = json_of(client().get(format!("{}/api/sessions/{id}", server.url)).send().unwrap());
    assert_eq!(read["turns"].as_array().unwrap().len(), 2);
    assert_eq!(read["outcome"], "solved");
    let listed =
        json_of(client().get(format!("{}/api/students/ada/sessions", server.url)).send().unwrap());
    assert_eq!(listed[0]["id"], id.as_str());
    let progress =
        json_of(client().get(format!("{}/api/students/ada/progress", server.url)).send().unwrap());
    assert_eq!(progress[0]["solved"], 1, "{progress}");

    let missing = client().get(format!("{}/api/sessions/s-nope", server.url)).send().unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let bad_student = post(&server, "/api/sessions", json!({"student": "<b>", "problem": PROBLEM}));
    assert_eq!(bad_student.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn solve_returns_the_trace() {
    let (engine, _turn) = engine();
    let server = Server::start(ServerConfig::default(), engine);
    let solved = json_of(post(
        &server,
        "/api/solve",
        json!({"problem": "What is 6 times 7?", "strategy": "cot", "max_tokens": 64}),
    ));
    assert_eq!(solved["strategy"], "cot");
    assert_eq!(solved["model"], "smollm2-135m");
    assert_eq!(solved["trace"]["steps"][0]["kind"], "generation");
    let unknown = post(&server, "/api/solve", json!({"problem": "1+1", "strategy": "magic"}));
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn the_web_page_and_katex_are_served_from_the_binary() {
    let server = Server::start(ServerConfig::default(), Arc::new(ScriptedBackend::new([""; 0])));
    let page = client().get(&server.url).send().unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'self'"));
    let html = page.text().unwrap();
    assert!(html.contains("vendor/katex/katex.min.js"), "{html}");
    for (path, mime) in [
        ("/vendor/katex/katex.min.js", "javascript"),
        ("/vendor/katex/katex.min.css", "text/css"),
        ("/vendor/katex/fonts/KaTeX_Main-Regular.woff2", "font/woff2"),
        ("/app.js", "javascript"),
    ] {
        let r = client().get(format!("{}{path}", server.url)).send().unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert!(r.headers()["content-type"].to_str().unwrap().contains(mime), "{path}");
    }
    let missing = client().get(format!("{}/nope.js", server.url)).send().unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[test]
fn the_openapi_description_matches_the_router() {
    let spec: Value = serde_json::from_str(hypatia_server::OPENAPI).unwrap();
    let paths = spec["paths"].as_object().unwrap();
    // Every route the router declares is described, with its method...
    let source = include_str!("../src/lib.rs");
    let mut declared = Vec::new();
    for line in source.lines().map(str::trim).filter(|l| l.starts_with(".route(\"")) {
        let path = line.split('"').nth(1).unwrap();
        let method = if line.contains("post(") { "post" } else { "get" };
        declared.push((path.to_string(), method));
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} undescribed"
        );
    }
    // ...and every described operation is served (not the fallback's 404 or a 405).
    let server = Server::start(
        ServerConfig::default(),
        Arc::new(ScriptedBackend::new(["ok"; 4])) as Arc<dyn Backend>,
    );
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            assert!(declared.iter().any(|(p, m)| p == path && m == method), "{method} {path}");
            let url = format!(
                "{}{}",
                server.url,
                path.replace("{id}", "nope").replace("{student}", "ada")
            );
            let response = match method.as_str() {
                "get" => client().get(&url).send().unwrap(),
                _ => client().post(&url).json(&json!({})).send().unwrap(),
            };
            assert_ne!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            let body = response.text().unwrap();
            assert!(body.starts_with('{') || body.starts_with('['), "{method} {path}: {body:.200}");
        }
    }
    let served = json_of(client().get(format!("{}/openapi.json", server.url)).send().unwrap());
    assert_eq!(served, spec);
    // Rejections of the query string come in the API's JSON error shape (found by the
    // fuzzer: they were text/plain).
    let bad_query = client()
        .post(format!("{}/api/sessions/nope/messages?stream=maybe", server.url))
        .json(&json!({"text": "hi"}))
        .send()
        .unwrap();
    assert_eq!(bad_query.status(), StatusCode::BAD_REQUEST);
    assert!(json_of(bad_query)["error"]["message"].as_str().unwrap().contains("stream"));
}

#[test]
fn startup_refuses_weak_tokens_and_unservable_sample_counts() {
    let short = ServerConfig { token: Some("abc".into()), ..ServerConfig::default() };
    let err = short.validate().unwrap_err().to_string();
    assert!(err.contains("at least 16"), "{err}");
    let long = ServerConfig { token: Some("x".repeat(16)), ..ServerConfig::default() };
    assert!(long.validate().is_ok());
    let over = ServerConfig { max_samples: 16, parallel: Some(8), ..ServerConfig::default() };
    let err = over.validate().unwrap_err().to_string();
    assert!(err.contains("--parallel 8"), "{err}");
    let fits = ServerConfig { max_samples: 8, parallel: Some(8), ..ServerConfig::default() };
    assert!(fits.validate().is_ok());
}

#[test]
fn a_grammar_nested_thousands_deep_is_refused_and_the_server_stays_up() {
    let (engine, _turn) = engine();
    let server = Server::start(ServerConfig::default(), engine);
    let grammar = format!("root ::= {}\"a\"{}", "(".repeat(5000), ")".repeat(5000));
    let body = json!({
        "max_tokens": 4, "grammar": grammar,
        "messages": [{"role": "user", "content": "Say a."}],
    });
    let refused = post(&server, "/v1/chat/completions", body.clone());
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(json_of(refused)["error"]["message"].as_str().unwrap().contains("nests"));
    let mut streamed = body;
    streamed["stream"] = json!(true);
    assert_eq!(post(&server, "/v1/chat/completions", streamed).status(), StatusCode::BAD_REQUEST);
    // Still serving.
    let health = client().get(format!("{}/health", server.url)).send().unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

#[test]
fn limits_refuse_with_clear_answers() {
    let scripted = || -> Arc<dyn Backend> { Arc::new(ScriptedBackend::new(["ok"; 8])) };
    // Bodies over the limit.
    let config = ServerConfig { max_body_bytes: 1024, ..ServerConfig::default() };
    let server = Server::start(config, scripted());
    let big = json!({"messages": [{"role": "user", "content": "x".repeat(4096)}]});
    assert_eq!(post(&server, "/v1/chat/completions", big).status(), StatusCode::PAYLOAD_TOO_LARGE);

    // A token, when configured, is required on the API but not on health or the page.
    let config =
        ServerConfig { token: Some("s3cret-token-0123456789".into()), ..ServerConfig::default() };
    let server = Server::start(config, scripted());
    let models = format!("{}/v1/models", server.url);
    assert_eq!(client().get(&models).send().unwrap().status(), StatusCode::UNAUTHORIZED);
    let wrong = client().get(&models).bearer_auth("guess").send().unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        client().get(&models).bearer_auth("s3cret-token-0123456789").send().unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        client().get(format!("{}/health", server.url)).send().unwrap().status(),
        StatusCode::OK
    );

    // Per-client rate: the third request in a minute is refused with Retry-After.
    let config = ServerConfig { rate_per_minute: 2, ..ServerConfig::default() };
    let server = Server::start(config, scripted());
    let models = format!("{}/v1/models", server.url);
    for _ in 0..2 {
        assert_eq!(client().get(&models).send().unwrap().status(), StatusCode::OK);
    }
    let refused = client().get(&models).send().unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");

    // CORS stays off unless an origin is allowed.
    let server = Server::start(ServerConfig::default(), scripted());
    let preflight = client()
        .request(reqwest::Method::OPTIONS, format!("{}/v1/models", server.url))
        .header("origin", "http://evil.example")
        .header("access-control-request-method", "GET")
        .send()
        .unwrap();
    assert!(preflight.headers().get("access-control-allow-origin").is_none());
}

#[test]
fn a_full_server_answers_429_instead_of_queueing() {
    let (engine, _turn) = engine();
    let config = ServerConfig { max_in_flight: 1, ..ServerConfig::default() };
    let server = Server::start(config, engine);
    let long = json!({
        "temperature": 0, "max_tokens": 400,
        "messages": [{"role": "user", "content": "Write a very long essay about the ocean."}],
    });
    std::thread::scope(|s| {
        let busy = s.spawn(|| post(&server, "/v1/chat/completions", long.clone()));
        // Wait until the first request holds the only slot.
        let mut refused = None;
        for _ in 0..100 {
            std::thread::sleep(std::time::Duration::from_millis(50));
            let r = post(
                &server,
                "/v1/chat/completions",
                json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}),
            );
            if r.status() == StatusCode::TOO_MANY_REQUESTS {
                refused = Some(r);
                break;
            }
        }
        let refused = refused.expect("a second request while the first runs is refused");
        assert!(refused.headers().contains_key("retry-after"));
        assert_eq!(busy.join().unwrap().status(), StatusCode::OK);
    });
    // Free again once the first is done.
    let r = post(
        &server,
        "/v1/chat/completions",
        json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}),
    );
    assert_eq!(r.status(), StatusCode::OK);
}
