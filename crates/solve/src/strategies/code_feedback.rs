//! `code-feedback`: reason, compute with a program, read its output, then answer.
//!
//! Unlike `pot`, the answer is the model's, not the program's: the program's output (or its
//! error) is put in front of the model, which checks it against the question — units,
//! rounding, whether it is the quantity asked for — before boxing an answer. The program's
//! own answer is kept only as a fallback when the model boxes nothing.

use std::sync::Arc;

use hypatia_grade::extract_program_answer;
use hypatia_llm::{Backend, ChatMessage, SamplingParams};
use hypatia_sandbox::Status;

use crate::common::{draw_samples, fill, generate, last_python_block, render_outcome, Finished};
use crate::exec::Executor;
use crate::strategies::cot::boxed_answer;
use crate::{Event, Problem, Solution, SolveError, Step, Strategy, StrategyOptions};

const SYSTEM: &str = include_str!("../../prompts/code_feedback_system.txt");
const USER: &str = include_str!("../../prompts/code_feedback_user.txt");
const RESULT: &str = include_str!("../../prompts/code_feedback_result.txt");

/// Reasoning with code, whose output is fed back before the final answer.
pub struct CodeFeedback {
    pub params: SamplingParams,
    executor: Arc<dyn Executor>,
}

impl CodeFeedback {
    pub fn new(opts: &StrategyOptions, executor: Arc<dyn Executor>) -> Self {
        Self { params: opts.params(), executor }
    }

    /// The chat the model sees for `problem`.
    pub fn messages(problem: &Problem) -> Vec<ChatMessage> {
        vec![
            ChatMessage::system(SYSTEM.trim()),
            ChatMessage::user(fill(USER, &[("problem", problem.text.trim())])),
        ]
    }

    fn run(
        &self,
        backend: &dyn Backend,
        problem: &Problem,
        k: u32,
        seed: u32,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<Vec<Solution>, SolveError> {
        let messages = Self::messages(problem);
        let params = SamplingParams { n: k, seed, ..self.params.clone() };
        draw_samples(
            self.name(),
            backend,
            &messages,
            &params,
            on_event,
            |i, choice, ledger, on_event| {
                let mut text = choice.text.clone();
                let (answer, source) = match last_python_block(&choice.text) {
                    // No program: the reasoning stands on its own.
                    None => (boxed_answer(&choice.text), "completion"),
                    Some(code) => {
                        let outcome = self.executor.run(&code)?;
                        ledger.steps.push(Step::Execution { code, outcome: outcome.clone() });
                        let shown = render_outcome(&outcome);
                        let mut chat = messages.clone();
                        chat.push(ChatMessage::assistant(choice.text.clone()));
                        chat.push(ChatMessage::user(fill(RESULT, &[("output", &shown)])));
                        on_event(Event::Text(&format!("\n```output\n{shown}\n```\n\n")));
                        let params = SamplingParams {
                            n: 1,
                            seed: seed.wrapping_add(i as u32),
                            ..self.params.clone()
                        };
                        let reply = generate(backend, &chat, None, &params, on_event)?;
                        let last = ledger.single(&chat, &reply);
                        text = format!(
                            "{}\n\n```output\n{shown}\n```\n\n{}",
                            choice.text.trim(),
                            last.trim()
                        );
                        match boxed_answer(&last) {
                            Some(a) => (Some(a), "final answer"),
                            None if outcome.status == Status::Ok => {
                                (extract_program_answer(&outcome.stdout), "program output")
                            }
                            None => (None, "final answer"),
                        }
                    }
                };
                ledger.steps.push(Step::Answer { answer: answer.clone(), source: source.into() });
                Ok(Finished { text, answer })
            },
        )
    }
}

impl Strategy for CodeFeedback {
    fn name(&self) -> &str {
        "code-feedback"
    }

    fn solve(
        &self,
        backend: &dyn Backend,
        problem: &Problem,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<Solution, SolveError> {
        crate::only_sample(self.run(backend, problem, 1, self.params.seed, on_event)?)
    }

    fn solve_samples(
        &self,
        backend: &dyn Backend,
        problem: &Problem,
        k: u32,
        seed: u32,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<Vec<Solution>, SolveError> {
        self.run(backend, problem, k, seed, on_event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::FnExecutor;
    use hypatia_llm::{Role, ScriptedBackend};

    fn strategy(executor: FnExecutor) -> CodeFeedback {
        CodeFeedback::new(&StrategyOptions::default(), Arc::new(executor))
    }

    #[test]
    fn the_output_is_shown_before_the_final_answer() {
        let backend = ScriptedBackend::new([
            "Cost in cents:\n```python\nprint(250 * 3)\n```",
            "That is 750 cents, so $7.50. \\boxed{7.50}",
        ]);
        let s = strategy(FnExecutor::new(|_| FnExecutor::ok("750\n")))
            .solve(&backend, &Problem::new("Three at $2.50: dollars?"), &mut |_| {})
            .unwrap();
        // The model's checked answer wins over the program's raw output.
        assert_eq!(s.answer.as_deref(), Some("7.50"));
        let second = &backend.requests()[1].messages;
        assert_eq!(second[2].role, Role::Assistant);
        assert!(second[3].content.contains("```output\n750\n```"));
        assert!(s.text.contains("```output\n750\n```"));
    }

    #[test]
    fn the_program_answer_is_the_fallback_and_no_code_means_text_only() {
        let backend = ScriptedBackend::new(["```python\nprint(9)\n```", "It is nine."]);
        let s = strategy(FnExecutor::new(|_| FnExecutor::ok("9\n")))
            .solve(&backend, &Problem::new("p"), &mut |_| {})
            .unwrap();
        assert_eq!(s.answer.as_deref(), Some("9"));

        let backend = ScriptedBackend::new(["Clearly \\boxed{4}."]);
        let s = strategy(FnExecutor::new(|_| panic!("no code should run")))
            .solve(&backend, &Problem::new("p"), &mut |_| {})
            .unwrap();
        assert_eq!(s.answer.as_deref(), Some("4"));
        assert_eq!(backend.requests().len(), 1);
    }

    #[test]
    fn an_error_is_fed_back_and_gives_no_fallback() {
        let backend = ScriptedBackend::new(["```python\nprint(1/0)\n```", "I could not finish."]);
        let s = strategy(FnExecutor::new(|_| {
            FnExecutor::error("ZeroDivisionError: division by zero\n")
        }))
        .solve(&backend, &Problem::new("p"), &mut |_| {})
        .unwrap();
        assert_eq!(s.answer, None);
        assert!(backend.requests()[1].messages[3].content.contains("ZeroDivisionError"));
    }
}
