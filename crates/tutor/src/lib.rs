//! The Socratic tutor: it gets a student to the answer without handing it over.
//!
//! Before it says anything, the tutor holds a verified solution ([`Reference`]): the
//! answer and every intermediate quantity as exact numbers, from a worked solution or
//! from Hypatia's own program run under a tracer. Everything else follows from that:
//!
//! * [`diagnose`] recomputes each step of the student's work exactly and names the first
//!   wrong one and its kind ([`ErrorKind`]);
//! * [`ladder`] decides the move — a guiding question on a three-rung hint ladder,
//!   confirmation, or an explanation once earned — in plain code;
//! * the model only words that move ([`Tutor`]); every reply passes the leak [`guard`]
//!   and a [`readability`] check, and is regenerated or replaced when it fails;
//! * sessions and per-student progress persist through the [`Store`] trait (SQLite).
//!
//! The key design choice is that knowing is separated from talking: the decision of what
//! to reveal is never the model's, so a 1.5B model that would happily blurt the answer
//! (or obey "ignore your instructions") cannot.
//!
//! ```
//! use hypatia_llm::ScriptedBackend;
//! use hypatia_tutor::{Reference, Session, Tutor, TutorConfig};
//!
//! let reference = Reference::from_worked("48/2 = <<48/2=24>>24\n48+24 = <<48+24=72>>72\n#### 72", None).unwrap();
//! let mut session = Session::new("s1", "ada", "Natalia sold 48 clips in April and half as many in May. How many in all?", reference, 4);
//! let backend = ScriptedBackend::new(["The total is 72 clips.", "Look at your adding again. What is 48 + 24?", "Good start! What do you get when you add again?"]);
//! let tutor = Tutor::new(&backend, TutorConfig::default()).unwrap();
//! let turn = tutor.respond(&mut session, "48 / 2 = 24 and 48 + 24 = 82").unwrap();
//! assert!(turn.leak_blocked);                 // the model tried to give the answer away…
//! assert!(!turn.tutor.contains("72"));        // …and the student never saw it
//! assert!(turn.tutor.ends_with('?'));
//! ```

use serde::{Deserialize, Serialize};

pub mod batch;
pub mod diagnose;
pub mod guard;
pub mod ladder;
pub mod numbers;
pub mod perturb;
pub mod readability;
mod reference;
mod session;
pub mod store;
pub mod verdict;

pub use diagnose::{diagnose, Diagnosis, WrongStep};
pub use reference::{Quantity, Reference, Source};
pub use session::{Outcome, Session, Turn, TurnStats, Tutor, TutorConfig};
pub use store::{SqliteStore, Store};
pub use verdict::{AnswerVerdict, StudentAnswer};

/// What kind of mistake a wrong step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The operation is the right one on the right numbers, but the result is miscomputed.
    ArithmeticSlip,
    /// A number that is not in the problem (nor an earlier result) was used: a misread quantity.
    MisreadQuantity,
    /// The right numbers combined with the wrong operation.
    WrongOperation,
    /// Anything else: the step does not lead toward the solution.
    Conceptual,
}

#[derive(Debug, thiserror::Error)]
pub enum TutorError {
    #[error(transparent)]
    Llm(#[from] hypatia_llm::LlmError),
    #[error(transparent)]
    Solve(#[from] hypatia_solve::SolveError),
    #[error(transparent)]
    Sandbox(#[from] hypatia_sandbox::SandboxError),
    #[error("could not solve the problem, so there is nothing verified to tutor from")]
    Unsolved,
    #[error("store: {0}")]
    Store(String),
    #[error("{0}")]
    Invalid(String),
}
