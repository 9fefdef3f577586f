//! `tools`: interleaved reasoning and computation, like a notebook.
//!
//! The model reasons in text and writes Python blocks. Generation stops as soon as a block
//! is closed; the block runs in a sandbox session (so variables persist from one block to
//! the next), its output is appended to the assistant's own text as an `output` block, and
//! generation resumes from there through [`Request::assistant_prefix`]. The number of
//! programs and the tokens generated are both bounded. The answer is the boxed one, else
//! the last successful program's output.
//!
//! [`Request::assistant_prefix`]: hypatia_llm::Request::assistant_prefix

use std::sync::{Arc, OnceLock};

use hypatia_grade::extract_program_answer;
use hypatia_llm::{Backend, ChatMessage, Choice, FinishReason, SamplingParams};
use hypatia_sandbox::{SandboxError, Status};

use crate::common::{
    draw_samples, fill, generate, parse_examples, render_outcome, Finished, Ledger,
};
use crate::exec::{CellRunner, Executor};
use crate::strategies::cot::boxed_answer;
use crate::{Event, Problem, Solution, SolveError, Step, Strategy, StrategyOptions};

const SYSTEM: &str = include_str!("../../prompts/tools_system.txt");
const USER: &str = include_str!("../../prompts/tools_user.txt");
const EXAMPLES: &str = include_str!("../../prompts/tools_examples.txt");

/// Where generation pauses for a program to run: the closing fence of a block, or the
/// model starting to write the output itself.
const STOPS: [&str; 2] = ["```output", "\n```\n"];

/// Interleaved tool use with a bounded number of programs.
pub struct ToolUse {
    /// `max_tokens` bounds the tokens generated over the whole solution.
    pub params: SamplingParams,
    pub max_calls: u32,
    executor: Arc<dyn Executor>,
}

impl ToolUse {
    pub fn new(opts: &StrategyOptions, executor: Arc<dyn Executor>) -> Self {
        Self { params: opts.params(), max_calls: opts.max_tool_calls, executor }
    }

    /// The chat the model sees for `problem`.
    /// The chat the model sees for `problem`: a worked example (showing the output block
    /// the model will see) as earlier turns, then the problem.
    pub fn messages(problem: &Problem) -> Vec<ChatMessage> {
        static PARSED: OnceLock<Vec<(String, String)>> = OnceLock::new();
        let mut messages = vec![ChatMessage::system(SYSTEM.trim())];
        for (question, reply) in PARSED.get_or_init(|| parse_examples(EXAMPLES)) {
            messages.push(ChatMessage::user(fill(USER, &[("problem", question)])));
            messages.push(ChatMessage::assistant(reply.as_str()));
        }
        messages.push(ChatMessage::user(fill(USER, &[("problem", problem.text.trim())])));
        messages
    }

    fn params(&self, calls: u32, used: u32, seed: u32, n: u32) -> SamplingParams {
        SamplingParams {
            n,
            seed,
            max_tokens: self.params.max_tokens.saturating_sub(used).max(1),
            // Past the last allowed program the model just writes on to its answer.
            stop: if calls < self.max_calls {
                STOPS.map(String::from).to_vec()
            } else {
                Vec::new()
            },
            ..self.params.clone()
        }
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
        let params = self.params(0, 0, seed, k);
        draw_samples(
            self.name(),
            backend,
            &messages,
            &params,
            on_event,
            |i, choice, ledger, on_event| {
                let seed = seed.wrapping_add(i as u32);
                let (text, answer, source) =
                    self.continue_sample(backend, &messages, choice, seed, ledger, on_event)?;
                ledger.steps.push(Step::Answer { answer: answer.clone(), source: source.into() });
                Ok(Finished { text, answer })
            },
        )
    }

    /// Runs the tool loop from a sample's first segment to its end. Returns the assistant's
    /// whole text (outputs included), the answer and where the answer came from.
    fn continue_sample(
        &self,
        backend: &dyn Backend,
        messages: &[ChatMessage],
        first: &Choice,
        seed: u32,
        ledger: &mut Ledger,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<(String, Option<String>, &'static str), SolveError> {
        let mut text = String::new();
        let mut segment = first.clone();
        let mut calls = 0;
        let mut used = first.completion_tokens;
        let mut session: Option<Box<dyn CellRunner + '_>> = None;
        let mut last_ok_output: Option<String> = None;
        loop {
            text.push_str(&segment.text);
            let stoppable = calls < self.max_calls && segment.finish_reason == FinishReason::Stop;
            let Some((code, closing)) = stoppable.then(|| pending_block(&text)).flatten() else {
                break;
            };
            calls += 1;
            let outcome = run_cell(&*self.executor, &mut session, &code)?;
            ledger.steps.push(Step::Execution { code, outcome: outcome.clone() });
            if outcome.status == Status::Ok {
                last_ok_output = Some(outcome.stdout.clone());
            }
            let shown = match render_outcome(&outcome) {
                s if s.trim().is_empty() => "(no output; print the values you need)".to_string(),
                s => s,
            };
            let inserted = format!("{closing}```output\n{shown}\n```\n");
            on_event(Event::Text(&inserted));
            text.push_str(&inserted);
            if used >= self.params.max_tokens {
                break;
            }
            let params = self.params(calls, used, seed, 1);
            let response = generate(backend, messages, Some(&text), &params, on_event)?;
            let mut prompt = messages.to_vec();
            prompt.push(ChatMessage::assistant(text.clone()));
            let Some(next) = response.choices.first() else { break };
            ledger.generation(&prompt, &response, next, true);
            used += next.completion_tokens;
            segment = next.clone();
        }
        Ok(match boxed_answer(&text) {
            Some(a) => (text, Some(a), "boxed"),
            None => {
                let answer = last_ok_output.as_deref().and_then(extract_program_answer);
                (text, answer, "last program output")
            }
        })
    }
}

/// Runs a cell, opening the session on first use and once more if a previous cell ended it
/// (a timeout or crash kills the session's process; the variables are then lost).
fn run_cell<'a>(
    executor: &'a dyn Executor,
    session: &mut Option<Box<dyn CellRunner + 'a>>,
    code: &str,
) -> Result<hypatia_sandbox::Outcome, SolveError> {
    for _ in 0..2 {
        let cells = match session {
            Some(s) => s,
            None => session.insert(executor.session()?),
        };
        match cells.run_cell(code) {
            Err(SandboxError::SessionEnded) => *session = None,
            other => return Ok(other?),
        }
    }
    Err(SolveError::Sandbox(SandboxError::SessionEnded))
}

/// The Python block the text ends in, if it ends in one, with what must be appended to
/// close it: the stop string `\n```\n` is cut from the text, leaving the block open; the
/// stop string "```output" leaves it closed.
fn pending_block(text: &str) -> Option<(String, &'static str)> {
    let parts: Vec<&str> = text.split("```").collect();
    let open = parts.len().is_multiple_of(2);
    // With an open block the last part is its inside; with closed ones, the last inside
    // part is second to last and nothing but blank space may follow it.
    let (inside, closing) = if open {
        (parts[parts.len() - 1], "\n```\n")
    } else if parts.len() >= 3 && parts[parts.len() - 1].trim().is_empty() {
        (parts[parts.len() - 2], if text.ends_with('\n') { "" } else { "\n" })
    } else {
        return None;
    };
    let (tag, body) = inside.split_once('\n')?;
    let is_python =
        matches!(tag.trim().to_ascii_lowercase().as_str(), "python" | "py" | "python3" | "");
    (is_python && !body.trim().is_empty()).then(|| (body.trim_end().to_string(), closing))
}

impl Strategy for ToolUse {
    fn name(&self) -> &str {
        "tools"
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
    use hypatia_llm::ScriptedBackend;
    use std::sync::Mutex;

    #[test]
    fn pending_blocks_are_found_only_at_the_end() {
        // Cut by the "\n```\n" stop: still open.
        assert_eq!(
            pending_block("Let me compute.\n```python\nprint(2+2)"),
            Some(("print(2+2)".into(), "\n```\n"))
        );
        // Cut by the "```output" stop: already closed.
        assert_eq!(pending_block("x\n```python\nprint(1)\n```\n"), Some(("print(1)".into(), "")));
        assert_eq!(pending_block("```python\nprint(1)\n```\nSo \\boxed{1}."), None);
        assert_eq!(pending_block("```output\n4\n```\n"), None);
        assert_eq!(pending_block("no code"), None);
    }

    #[test]
    fn outputs_are_inserted_into_the_assistant_text_and_generation_resumes() {
        // The backend writes code, then (seeing the output in its prefix) the answer.
        let backend = ScriptedBackend::from_fn(|req, _| {
            Some(match &req.assistant_prefix {
                None => "First the product.\n```python\nx = 6 * 7\nprint(x)\n```\nmore".into(),
                Some(p) if p.contains("```output\n42\n```") => {
                    "So the answer is \\boxed{42}.".into()
                }
                Some(p) => format!("unexpected prefix: {p}"),
            })
        });
        let strategy = ToolUse::new(
            &StrategyOptions::default(),
            Arc::new(FnExecutor::new(|_| FnExecutor::ok("42\n"))),
        );
        let mut streamed = String::new();
        let s = strategy
            .solve(&backend, &Problem::new("6*7?"), &mut |Event::Text(t)| streamed.push_str(t))
            .unwrap();
        assert_eq!(s.answer.as_deref(), Some("42"));
        assert_eq!(
            s.text,
            "First the product.\n```python\nx = 6 * 7\nprint(x)\n```\n```output\n42\n```\nSo the answer is \\boxed{42}."
        );
        assert_eq!(streamed, s.text);
        let requests = backend.requests();
        assert_eq!(requests.len(), 2);
        assert!(requests[0].params.stop.contains(&"\n```\n".to_string()));
        // System, the worked example's two turns, then the problem.
        let m = &requests[0].messages;
        assert_eq!(m.len(), 4);
        assert!(
            m[1].content.starts_with("James writes") && m[2].content.contains("```output\n624")
        );
        assert!(m[3].content.starts_with("6*7?"));
    }

    #[test]
    fn the_number_of_programs_is_bounded() {
        let backend =
            ScriptedBackend::from_fn(|_, _| Some("again\n```python\nprint(1)\n```\n".into()));
        let cells = Arc::new(Mutex::new(0));
        let counter = cells.clone();
        let opts = StrategyOptions { max_tool_calls: 3, ..Default::default() };
        let strategy = ToolUse::new(
            &opts,
            Arc::new(FnExecutor::new(move |_| {
                *counter.lock().unwrap() += 1;
                FnExecutor::ok("1\n")
            })),
        );
        let s = strategy.solve(&backend, &Problem::new("loop"), &mut |_| {}).unwrap();
        assert_eq!(*cells.lock().unwrap(), 3);
        let requests = backend.requests();
        assert_eq!(requests.len(), 4);
        // The last call may not stop for a program.
        assert!(requests[3].params.stop.is_empty());
        // No box: the last program output answers.
        assert_eq!(s.answer.as_deref(), Some("1"));
    }

    #[test]
    fn errors_are_shown_and_empty_output_is_explained() {
        let backend = ScriptedBackend::from_fn(|req, _| {
            let prefix = req.assistant_prefix.clone().unwrap_or_default();
            Some(match prefix.matches("```output").count() {
                0 => "```python\ny = 1/0\n```\n".into(),
                1 => "```python\ny = 3\n```\n".into(),
                _ => "Done: \\boxed{3}".into(),
            })
        });
        let strategy = ToolUse::new(
            &StrategyOptions::default(),
            Arc::new(FnExecutor::new(|code| {
                if code.contains("1/0") {
                    FnExecutor::error("ZeroDivisionError: division by zero\n")
                } else {
                    FnExecutor::ok("")
                }
            })),
        );
        let s = strategy.solve(&backend, &Problem::new("p"), &mut |_| {}).unwrap();
        assert!(s.text.contains("ZeroDivisionError"));
        assert!(s.text.contains("(no output; print the values you need)"));
        assert_eq!(s.answer.as_deref(), Some("3"));
    }

    #[test]
    fn the_token_budget_covers_the_whole_solution() {
        let backend =
            ScriptedBackend::from_fn(|_, _| Some("w w w w w\n```python\nprint(1)\n```\n".into()));
        let opts = StrategyOptions { max_tokens: 16, max_tool_calls: 10, ..Default::default() };
        let strategy = ToolUse::new(&opts, Arc::new(FnExecutor::new(|_| FnExecutor::ok("1\n"))));
        let s = strategy.solve(&backend, &Problem::new("p"), &mut |_| {}).unwrap();
        assert!(s.completion_tokens <= 16 + 8, "{}", s.completion_tokens);
        assert!(backend.requests().len() < 4);
    }

    #[test]
    fn the_worked_example_prints_its_output_in_a_real_session() {
        let exec = crate::SandboxExecutor::global(StrategyOptions::default().limits());
        let messages = ToolUse::messages(&Problem::new("p"));
        let reply = &messages[2].content;
        let code = crate::common::last_python_block(reply).unwrap();
        let out = exec.session().unwrap().run_cell(&code).unwrap();
        assert_eq!(out.stdout, "624\n", "{}", out.stderr);
        assert!(reply.contains("```output\n624\n```"));
    }
}
