//! One tutor turn per JSON line: the `hypatia tutor reply` contract of DESIGN.md.
//!
//! Input: `{"id", "problem", "reference_solution", "reference_answer", "history":
//! [{"role": "student"|"tutor", "text"}], "grade"}`; output: `{"id", "reply", "diagnosis",
//! "leak_blocked", "seconds"}`. The history is replayed through the same state machine a
//! live session uses (diagnoses, hint rung, attempts), so a batch turn gets exactly the
//! reply a live session would have given at that point.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use hypatia_llm::Backend;
use hypatia_solve::{Executor, Problem};
use serde::{Deserialize, Serialize};

use crate::{Diagnosis, Reference, Session, Turn, Tutor, TutorConfig, TutorError};

/// Who said a history entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Speaker {
    Student,
    Tutor,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Utterance {
    pub role: Speaker,
    pub text: String,
}

/// One input line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplyRequest {
    pub id: serde_json::Value,
    pub problem: String,
    #[serde(default)]
    pub reference_solution: Option<String>,
    #[serde(default)]
    pub reference_answer: Option<String>,
    #[serde(default)]
    pub history: Vec<Utterance>,
    #[serde(default)]
    pub grade: Option<u8>,
}

/// One output line. `error` is present only when the turn failed (the line is still
/// written, so outputs stay aligned with inputs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplyLine {
    pub id: serde_json::Value,
    pub reply: String,
    pub diagnosis: Option<Diagnosis>,
    pub leak_blocked: bool,
    pub seconds: f64,
    /// The final answer the last student message stated and the verdict on it; `null`
    /// when it stated none.
    #[serde(default)]
    pub student_answer: Option<crate::StudentAnswer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Builds references once per distinct problem: a batch usually holds many turns of the
/// same few problems, and solving one costs a model call and a program run.
pub struct References {
    backend: Arc<dyn Backend>,
    executor: Arc<dyn Executor>,
    known: HashMap<(String, Option<String>, Option<String>), Reference>,
}

impl References {
    pub fn new(backend: Arc<dyn Backend>, executor: Arc<dyn Executor>) -> Self {
        Self { backend, executor, known: HashMap::new() }
    }

    /// The verified solution of `problem`: from the worked solution when given (with the
    /// answer taken from it or from `answer`), else by solving it, checked against
    /// `answer` when given.
    pub fn get(
        &mut self,
        problem: &str,
        solution: Option<&str>,
        answer: Option<&str>,
    ) -> Result<Reference, TutorError> {
        let key = (problem.to_string(), solution.map(str::to_string), answer.map(str::to_string));
        if let Some(r) = self.known.get(&key) {
            return Ok(r.clone());
        }
        let worked = solution.and_then(|s| Reference::from_worked(s, answer));
        let reference = match worked {
            Some(r) => r,
            None => Reference::solve(
                self.backend.as_ref(),
                self.executor.clone(),
                &Problem::new(problem),
                answer,
            )?,
        };
        self.known.insert(key, reference.clone());
        Ok(reference)
    }
}

/// Answers one request: replays its history, then responds to its last student message.
pub fn reply(tutor: &Tutor<'_>, references: &mut References, request: &ReplyRequest) -> ReplyLine {
    let started = Instant::now();
    let turn = reply_inner(tutor, references, request);
    // The whole line's time, solving the problem for its reference included.
    let seconds = started.elapsed().as_secs_f64();
    match turn {
        Ok(turn) => ReplyLine {
            id: request.id.clone(),
            reply: turn.tutor,
            diagnosis: turn.diagnosis,
            leak_blocked: turn.leak_blocked,
            seconds,
            student_answer: turn.student_answer,
            error: None,
        },
        Err(e) => ReplyLine {
            id: request.id.clone(),
            reply: String::new(),
            diagnosis: None,
            leak_blocked: false,
            seconds,
            student_answer: None,
            error: Some(e.to_string()),
        },
    }
}

fn reply_inner(
    tutor: &Tutor<'_>,
    references: &mut References,
    request: &ReplyRequest,
) -> Result<Turn, TutorError> {
    if request.problem.trim().is_empty() {
        return Err(TutorError::Invalid("the problem is empty".into()));
    }
    let (earlier, last) = exchanges(&request.history)?;
    let reference = references.get(
        &request.problem,
        request.reference_solution.as_deref(),
        request.reference_answer.as_deref(),
    )?;
    let grade = request.grade.unwrap_or(tutor.config().grade);
    TutorConfig { grade, ..tutor.config().clone() }.validate()?;
    let mut session =
        Session::new(request.id.to_string(), "batch", request.problem.trim(), reference, grade);
    for (student, reply) in &earlier {
        tutor.replay(&mut session, student, reply);
    }
    Ok(tutor.respond(&mut session, &last)?.clone())
}

/// The history as (student, tutor) exchanges plus the final student message. Leading tutor
/// lines (a greeting) are skipped; consecutive lines of one speaker are joined.
fn exchanges(history: &[Utterance]) -> Result<(Vec<(String, String)>, String), TutorError> {
    let mut merged: Vec<(Speaker, String)> = Vec::new();
    for u in history.iter().skip_while(|u| u.role == Speaker::Tutor) {
        match merged.last_mut() {
            Some((who, text)) if *who == u.role => {
                text.push('\n');
                text.push_str(u.text.trim());
            }
            _ => merged.push((u.role, u.text.trim().to_string())),
        }
    }
    let Some((Speaker::Student, last)) = merged.pop() else {
        return Err(TutorError::Invalid("the history must end with a student message".into()));
    };
    let earlier = merged
        .chunks(2)
        .map(|pair| match pair {
            [(Speaker::Student, s), (Speaker::Tutor, t)] => Ok((s.clone(), t.clone())),
            _ => Err(TutorError::Invalid("history out of order".into())),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((earlier, last))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TutorConfig;
    use hypatia_llm::ScriptedBackend;
    use hypatia_solve::FnExecutor;

    fn request(history: serde_json::Value) -> ReplyRequest {
        serde_json::from_value(serde_json::json!({
            "id": 7,
            "problem": "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether?",
            "reference_solution": "48/2 = <<48/2=24>>24\n48+24 = <<48+24=72>>72\n#### 72",
            "reference_answer": null,
            "history": history,
            "grade": 4
        }))
        .unwrap()
    }

    #[test]
    fn a_history_is_replayed_and_the_last_message_answered() {
        let backend = Arc::new(ScriptedBackend::new(["It is 72!", "Which numbers did you add?"]));
        let tutor = Tutor::new(backend.as_ref(), TutorConfig::default()).unwrap();
        let mut refs =
            References::new(backend.clone(), Arc::new(FnExecutor::new(|_| FnExecutor::ok(""))));
        let req = request(serde_json::json!([
            {"role": "tutor", "text": "Hi! How would you start?"},
            {"role": "student", "text": "I don't know"},
            {"role": "tutor", "text": "What does the problem ask?"},
            {"role": "student", "text": "48 / 2 = 24. Then 48 + 24 = 82"}
        ]));
        let line = reply(&tutor, &mut refs, &req);
        assert_eq!(line.error, None);
        assert!(!line.reply.contains("72"));
        // The model's draft was only a question, so the ladder's question is the reply.
        assert_eq!(
            line.reply,
            "Let's look at your second step again. Does every part of it look right to you?"
        );
        assert_eq!(line.diagnosis.as_ref().unwrap().first_wrong.as_ref().unwrap().index, 1);
        let json = serde_json::to_value(&line).unwrap();
        assert_eq!(json["id"], 7);
        assert!(json.get("error").is_none());
    }

    #[test]
    fn a_history_not_ending_with_the_student_is_an_error_line() {
        let backend = Arc::new(ScriptedBackend::new(Vec::<String>::new()));
        let tutor = Tutor::new(backend.as_ref(), TutorConfig::default()).unwrap();
        let mut refs =
            References::new(backend.clone(), Arc::new(FnExecutor::new(|_| FnExecutor::ok(""))));
        let line = reply(
            &tutor,
            &mut refs,
            &request(serde_json::json!([{"role": "tutor", "text": "Hi"}])),
        );
        assert!(line.error.unwrap().contains("must end with a student message"));
        assert_eq!(line.id, 7);
    }
}
