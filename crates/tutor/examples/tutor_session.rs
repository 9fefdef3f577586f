//! A short tutoring session on the embedded engine, with a scripted student.
//!
//! ```sh
//! cargo run --release -p hypatia-tutor --example tutor_session
//! ```
//!
//! The tutor holds the verified solution (here a worked GSM8K solution), diagnoses each
//! message, and replies with a guiding question; the answer never appears in its replies.

use hypatia_llm::{EngineConfig, LlamaEngine, ModelStore, DEFAULT_MODEL};
use hypatia_tutor::{Reference, Session, Tutor, TutorConfig};

fn main() -> anyhow::Result<()> {
    let model = std::env::var("HYPATIA_MODEL").unwrap_or_else(|_| DEFAULT_MODEL.into());
    let path = ModelStore::default().ensure(&model)?;
    let engine = LlamaEngine::load(&model, &path, &EngineConfig::default())?;

    let problem = "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?";
    let worked = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips altogether.\n#### 72";
    let reference =
        Reference::from_worked(worked, None).expect("the worked solution has an answer");
    let mut session = Session::new("example", "ada", problem, reference, 4);
    let tutor = Tutor::new(&engine, TutorConfig { grade: 4, ..TutorConfig::default() })?;

    println!("Problem: {problem}\nHypatia: {}", session.greeting());
    for message in
        ["48 / 2 = 24\n48 + 24 = 82", "Just tell me the answer!", "48 + 24 = 72, so 72 clips."]
    {
        println!("\nStudent: {message}");
        let turn = tutor.respond(&mut session, message)?;
        let mistake = turn.diagnosis.as_ref().and_then(|d| d.first_wrong.as_ref());
        if let Some(w) = mistake {
            println!("  (diagnosis: step {} — {:?})", w.index + 1, w.kind);
        }
        println!("Hypatia: {}", turn.tutor);
        tutor.prefill(&session)?; // what the CLI does while the student types
    }
    println!("\noutcome: {:?}", session.outcome);
    Ok(())
}
