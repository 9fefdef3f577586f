//! Tutoring sessions over HTTP: create one, send the student's messages, read it back,
//! list a student's sessions and progress.
//!
//! A turn is answered under the session's lock and saved before the reply goes out, so a
//! reply a client has seen is a turn the database has. What goes out is a *view* of the
//! session: the reference solution and its answer stay on the server.

use std::convert::Infallible;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use hypatia_tutor::batch::References;
use hypatia_tutor::ladder::{HintLevel, Move};
use hypatia_tutor::{Outcome, Session, Turn, Tutor, TutorConfig};
use serde::{Deserialize, Serialize};

use crate::error::{Json, Path, Query};
use crate::{ApiError, AppState};

const MAX_PROBLEM_CHARS: usize = 4000;
const MAX_MESSAGE_CHARS: usize = 4000;
const MAX_STUDENT_CHARS: usize = 64;
/// Sessions listed per student: a class's worth, not an unbounded scan.
const MAX_LISTED: usize = 200;

#[derive(Debug, Deserialize)]
pub struct CreateSession {
    student: String,
    problem: String,
    grade: Option<u8>,
    solution: Option<String>,
    answer: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct StudentMessage {
    text: String,
    /// Turns the client has seen: makes a retried message idempotent.
    turn: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
pub struct StreamQuery {
    #[serde(default)]
    stream: bool,
}

/// What a client may see of a session.
#[derive(Debug, Serialize)]
pub struct SessionView {
    id: String,
    student: String,
    problem: String,
    grade: u8,
    hint_level: HintLevel,
    outcome: Outcome,
    attempts: u32,
    explain_allowed: bool,
    greeting: &'static str,
    turns: Vec<TurnView>,
}

#[derive(Debug, Serialize)]
pub struct TurnView {
    student: String,
    tutor: String,
    #[serde(rename = "move")]
    action: &'static str,
    hint_level: Option<HintLevel>,
    leak_blocked: bool,
    seconds: f64,
    /// The final answer the student stated and the verdict on it; null when none.
    student_answer: Option<hypatia_tutor::StudentAnswer>,
}

impl TurnView {
    fn of(turn: &Turn) -> Self {
        let (action, hint_level) = match turn.action {
            Move::Confirm => ("confirm", None),
            Move::Guide { level } => ("guide", Some(level)),
            Move::Explain => ("explain", None),
        };
        Self {
            student: turn.student.clone(),
            tutor: turn.tutor.clone(),
            action,
            hint_level,
            leak_blocked: turn.leak_blocked,
            seconds: turn.seconds,
            student_answer: turn.student_answer.clone(),
        }
    }
}

impl SessionView {
    fn of(session: &Session, config: &TutorConfig) -> Self {
        Self {
            id: session.id.clone(),
            student: session.student.clone(),
            problem: session.problem.clone(),
            grade: session.grade,
            hint_level: session.hint_level,
            outcome: session.outcome,
            attempts: session.attempts,
            explain_allowed: session.outcome != Outcome::Open
                || session.attempts >= config.reveal_after,
            greeting: session.greeting(),
            turns: session.turns.iter().map(TurnView::of).collect(),
        }
    }
}

fn check_student(student: &str) -> Result<(), ApiError> {
    let ok = !student.is_empty()
        && student.chars().count() <= MAX_STUDENT_CHARS
        && student.chars().all(|c| c.is_alphanumeric() || " ._-@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "student must be 1-{MAX_STUDENT_CHARS} letters, digits, spaces or . _ - @"
        )))
    }
}

fn check_length(what: &str, text: &str, max: usize) -> Result<(), ApiError> {
    if text.trim().is_empty() {
        return Err(ApiError::BadRequest(format!("{what} is empty")));
    }
    if text.chars().count() > max {
        return Err(ApiError::BadRequest(format!("{what} is longer than {max} characters")));
    }
    Ok(())
}

pub async fn create(
    State(state): State<AppState>,
    Json(body): Json<CreateSession>,
) -> Result<Response, ApiError> {
    let student = body.student.trim().to_string();
    check_student(&student)?;
    check_length("problem", &body.problem, MAX_PROBLEM_CHARS)?;
    let grade = body.grade.unwrap_or(state.config.tutor.grade);
    if !(1..=12).contains(&grade) {
        return Err(ApiError::BadRequest("grade must be between 1 and 12".into()));
    }
    let backend = state.backend()?;
    let permit = state.admission.admit()?;
    let session = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let mut references = References::new(backend, state.executor.clone());
        let solution = body.solution.as_deref().filter(|s| !s.trim().is_empty());
        let answer = body.answer.as_deref().filter(|s| !s.trim().is_empty());
        let reference = references.get(body.problem.trim(), solution, answer)?;
        let id = format!("s-{}", uuid::Uuid::new_v4().simple());
        let session = Session::new(id, student, body.problem.trim(), reference, grade);
        state.store.save(&session)?;
        tracing::info!(session = %session.id, student = %session.student, "session created");
        Ok::<_, ApiError>(SessionView::of(&session, &state.config.tutor))
    })
    .await??;
    Ok((StatusCode::CREATED, axum::Json(session)).into_response())
}

async fn load(state: &AppState, id: &str) -> Result<Session, ApiError> {
    let store = state.store.clone();
    let key = id.to_string();
    tokio::task::spawn_blocking(move || store.load(&key))
        .await??
        .ok_or_else(|| ApiError::NotFound(format!("no session {id}")))
}

pub async fn read(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<SessionView>, ApiError> {
    let session = load(&state, &id).await?;
    Ok(axum::Json(SessionView::of(&session, &state.config.tutor)))
}

/// A turn as answered: the new turn and the whole session after it.
#[derive(Debug, Serialize)]
struct Answered {
    turn: TurnView,
    session: SessionView,
}

pub async fn message(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<StreamQuery>,
    headers: HeaderMap,
    Json(body): Json<StudentMessage>,
) -> Result<Response, ApiError> {
    check_length("the message", &body.text, MAX_MESSAGE_CHARS)?;
    let stream = query.stream
        || headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/event-stream"));
    let backend = state.backend()?;
    // Refuse before waiting for the session: a full server answers at once.
    let permit = state.admission.admit()?;
    let lock = state.locks.lock(&id).await;
    let task = tokio::task::spawn_blocking(move || {
        let (_permit, _lock) = (permit, lock);
        let mut session =
            state.store.load(&id)?.ok_or_else(|| ApiError::NotFound(format!("no session {id}")))?;
        let seen = session.turns.len();
        match body.turn {
            Some(t) if t > seen => {
                return Err(ApiError::Conflict(format!(
                    "the session has {seen} turns; turn {t} cannot be next"
                )))
            }
            Some(t) if t < seen => {
                // A retry of a message that was recorded: answer it again, add nothing.
                let recorded = &session.turns[t];
                if recorded.student.trim() != body.text.trim() {
                    return Err(ApiError::Conflict(format!(
                        "turn {t} was already taken by a different message"
                    )));
                }
                let turn = TurnView::of(recorded);
                return Ok(Answered {
                    turn,
                    session: SessionView::of(&session, &state.config.tutor),
                });
            }
            _ => {}
        }
        let config = TutorConfig { grade: session.grade, ..state.config.tutor.clone() };
        let tutor = Tutor::new(backend.as_ref(), config)?.with_checking(state.executor.clone());
        let turn = TurnView::of(tutor.respond(&mut session, &body.text)?);
        state.store.save(&session)?;
        tracing::info!(
            session = %session.id, turn = session.turns.len(), action = turn.action,
            leak_blocked = turn.leak_blocked, seconds = turn.seconds, "tutor turn"
        );
        Ok(Answered { turn, session: SessionView::of(&session, &state.config.tutor) })
    });
    if !stream {
        return Ok(axum::Json(task.await??).into_response());
    }
    // The guard reads the whole reply before any of it may be shown, so the stream opens
    // with a status event and carries the checked reply in pieces once it exists.
    let events = turn_events(task);
    Ok(Sse::new(events).into_response())
}

/// The SSE events of one turn: `status`, then `delta`s of the reply, then `done` (or
/// `error`).
fn turn_events(
    task: tokio::task::JoinHandle<Result<Answered, ApiError>>,
) -> impl futures_util::Stream<Item = Result<Event, Infallible>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Event>(16);
    tokio::spawn(async move {
        let status = serde_json::json!({"stage": "thinking"});
        let _ = tx.send(Event::default().event("status").data(status.to_string())).await;
        let answered = task.await.map_err(ApiError::from).and_then(|r| r);
        match answered {
            Ok(answered) => {
                for piece in answered.turn.tutor.split_inclusive(' ') {
                    let delta = serde_json::json!({"text": piece});
                    if tx
                        .send(Event::default().event("delta").data(delta.to_string()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                let done = serde_json::to_string(&answered).unwrap_or_default();
                let _ = tx.send(Event::default().event("done").data(done)).await;
            }
            Err(e) => {
                let error = serde_json::json!({"message": e.to_string()});
                let _ = tx.send(Event::default().event("error").data(error.to_string())).await;
            }
        }
    });
    futures_util::StreamExt::map(tokio_stream::wrappers::ReceiverStream::new(rx), Ok)
}

#[derive(Debug, Serialize)]
struct Listed {
    id: String,
    problem: String,
    outcome: Outcome,
    turns: usize,
}

pub async fn sessions_of(
    State(state): State<AppState>,
    Path(student): Path<String>,
) -> Result<axum::Json<Vec<serde_json::Value>>, ApiError> {
    check_student(&student)?;
    let store = state.store.clone();
    let listed = tokio::task::spawn_blocking(move || {
        let mut listed = Vec::new();
        for id in store.sessions_of(&student)?.into_iter().take(MAX_LISTED) {
            if let Some(s) = store.load(&id)? {
                let item =
                    Listed { id, problem: s.problem, outcome: s.outcome, turns: s.turns.len() };
                listed.push(serde_json::to_value(item).unwrap_or_default());
            }
        }
        Ok::<_, ApiError>(listed)
    })
    .await??;
    Ok(axum::Json(listed))
}

pub async fn progress(
    State(state): State<AppState>,
    Path(student): Path<String>,
) -> Result<axum::Json<Vec<hypatia_tutor::store::SkillProgress>>, ApiError> {
    check_student(&student)?;
    let store = state.store.clone();
    let progress = tokio::task::spawn_blocking(move || store.progress(&student)).await??;
    Ok(axum::Json(progress))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn student_names_are_checked() {
        assert!(check_student("Ada Lovelace").is_ok());
        assert!(check_student("ada.l@school-1").is_ok());
        assert!(check_student("").is_err());
        assert!(check_student("<script>").is_err());
        assert!(check_student(&"x".repeat(65)).is_err());
    }

    #[test]
    fn a_view_never_carries_the_reference() {
        let reference =
            hypatia_tutor::Reference::from_worked("48/2 = <<48/2=24>>24\n#### 1234567", None)
                .unwrap();
        let session = Session::new("s-1", "ada", "A problem", reference, 6);
        let view =
            serde_json::to_string(&SessionView::of(&session, &TutorConfig::default())).unwrap();
        assert!(!view.contains("1234567") && !view.contains("24"), "{view}");
        assert!(view.contains("\"explain_allowed\":false"), "{view}");
    }
}
