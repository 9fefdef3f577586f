//! One strategy per module; see each module's documentation for its procedure.

pub mod auto;
pub mod code_feedback;
pub mod cot;
pub mod pot;
pub mod solver_verifier;
pub mod tools;
pub mod vote;
