//! `POST /api/solve`: run a strategy and return its answer with the whole trace (plan,
//! code, program output), which the web page's playground shows.

use axum::extract::State;
use hypatia_solve::{build_strategy, Problem, Solution, StrategyOptions};
use serde::Deserialize;

use crate::error::Json;
use crate::{ApiError, AppState};

const MAX_PROBLEM_CHARS: usize = 4000;
const MAX_SAMPLES: u32 = 16;
const MAX_TOKENS: u32 = 4096;

#[derive(Debug, Deserialize)]
pub struct SolveRequest {
    problem: String,
    #[serde(default = "default_strategy")]
    strategy: String,
    max_tokens: Option<u32>,
    samples: Option<u32>,
    base: Option<String>,
    temperature: Option<f32>,
    seed: Option<u32>,
}

fn default_strategy() -> String {
    hypatia_solve::DEFAULT_STRATEGY.into()
}

impl SolveRequest {
    fn options(&self) -> Result<StrategyOptions, ApiError> {
        let defaults = StrategyOptions::default();
        let options = StrategyOptions {
            samples: self.samples.unwrap_or(defaults.samples),
            base: self.base.clone().unwrap_or(defaults.base.clone()),
            max_tokens: self.max_tokens.unwrap_or(defaults.max_tokens),
            temperature: self.temperature.unwrap_or(defaults.temperature),
            seed: self.seed.unwrap_or(defaults.seed),
            ..defaults
        };
        if options.samples > MAX_SAMPLES || options.max_tokens > MAX_TOKENS {
            return Err(ApiError::BadRequest(format!(
                "samples must be at most {MAX_SAMPLES} and max_tokens at most {MAX_TOKENS}"
            )));
        }
        Ok(options)
    }
}

pub async fn solve(
    State(state): State<AppState>,
    Json(body): Json<SolveRequest>,
) -> Result<axum::Json<Solution>, ApiError> {
    let text = body.problem.trim();
    if text.is_empty() || text.chars().count() > MAX_PROBLEM_CHARS {
        return Err(ApiError::BadRequest(format!(
            "problem must be 1-{MAX_PROBLEM_CHARS} characters"
        )));
    }
    let strategy = build_strategy(&body.strategy, &body.options()?)?;
    let problem = Problem::new(text);
    let backend = state.backend()?;
    let permit = state.admission.admit()?;
    let solution = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        strategy.solve(backend.as_ref(), &problem, &mut |_| {})
    })
    .await??;
    tracing::info!(
        strategy = %solution.strategy, answer = ?solution.answer, seconds = solution.seconds,
        "solved"
    );
    Ok(axum::Json(solution))
}
