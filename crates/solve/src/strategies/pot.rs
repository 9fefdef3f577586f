//! `pot`: plan → code → execute → explain.
//!
//! The model writes a short plan and one program that prints the answer; the program runs
//! in the sandbox, and a failing one goes back to the model with its traceback, a bounded
//! number of times. The answer is what the program printed, never a number the model
//! claims. A second, short generation then explains the executed computation for a
//! student: it is given the code and its output, so the explanation follows a result that
//! is known to be what the program computed instead of re-deriving (and contradicting) it.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use hypatia_grade::{evaluate, extract_program_answer};
use hypatia_llm::{Backend, ChatMessage, SamplingParams};
use hypatia_sandbox::Status;

use crate::common::{
    draw_samples, fill, generate, last_python_block, render_outcome, Finished, Ledger,
};
use crate::exec::Executor;
use crate::{Event, Problem, Solution, SolveError, Step, Strategy, StrategyOptions, Style};

const SYSTEM_WORD: &str = include_str!("../../prompts/pot_system_word.txt");
const SYSTEM_COMPETITION: &str = include_str!("../../prompts/pot_system_competition.txt");
const EXAMPLES_WORD: &str = include_str!("../../prompts/pot_examples_word.txt");
const EXAMPLES_COMPETITION: &str = include_str!("../../prompts/pot_examples_competition.txt");
const RETRY: &str = include_str!("../../prompts/pot_retry.txt");
const EXPLAIN_SYSTEM: &str = include_str!("../../prompts/pot_explain_system.txt");
const EXPLAIN_USER: &str = include_str!("../../prompts/pot_explain_user.txt");

/// Ends a completion after its code block (an opening fence is followed by `python`).
const CLOSING_FENCE: &str = "\n```\n";

/// Temperature of retries after a failed program.
const RETRY_TEMPERATURE: f32 = 0.7;

/// Program of thought with retries on error and an explanation of the result.
pub struct ProgramOfThought {
    pub params: SamplingParams,
    /// Times a program that failed (or printed nothing) is sent back with its error.
    pub max_retries: u32,
    /// Whether [`Strategy::solve`] writes the explanation; [`Strategy::finish`] writes it
    /// on request either way.
    pub explain: bool,
    /// Token budget of the explanation.
    pub explain_tokens: u32,
    executor: Arc<dyn Executor>,
}

impl ProgramOfThought {
    pub fn new(opts: &StrategyOptions, executor: Arc<dyn Executor>) -> Self {
        Self {
            params: opts.params(),
            max_retries: opts.max_retries,
            explain: opts.explain,
            explain_tokens: opts.max_tokens.min(256),
            executor,
        }
    }

    /// The chat the model sees for `problem`: the instructions of its style, the worked
    /// examples as earlier turns, then the problem alone. Everything before the problem's
    /// own text is the same for every problem of a style, so the engine's prefix cache
    /// computes it once: instructions placed after the problem would be recomputed with
    /// every problem.
    pub fn messages(problem: &Problem) -> Vec<ChatMessage> {
        let system = match problem.style {
            Style::Word => SYSTEM_WORD,
            Style::Competition => SYSTEM_COMPETITION,
        };
        let mut messages = vec![ChatMessage::system(system.trim())];
        for (question, reply) in examples(problem.style) {
            messages.push(ChatMessage::user(question.as_str()));
            messages.push(ChatMessage::assistant(reply.as_str()));
        }
        messages.push(ChatMessage::user(problem.text.trim()));
        messages
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
        let params = self.program_params(k, seed, self.params.temperature);
        // Several samples' retries and explanations would interleave on a stream, so only a
        // single sample streams (draw_samples silences the rest).
        draw_samples(
            self.name(),
            backend,
            &messages,
            &params,
            on_event,
            |i, choice, ledger, on_event| {
                let seed = seed.wrapping_add(i as u32);
                let program = self.execute_with_retries(
                    backend,
                    problem,
                    choice.text.clone(),
                    seed,
                    ledger,
                    on_event,
                )?;
                ledger.steps.push(Step::Answer {
                    answer: program.answer.clone(),
                    source: "program output".into(),
                });
                let mut text = program.text();
                if self.explain {
                    if let Some(explained) =
                        self.explanation(backend, problem, &program, ledger, on_event)?
                    {
                        text = explained;
                    }
                }
                Ok(Finished { text, answer: program.answer })
            },
        )
    }

    /// Runs the program in `text`; on failure shows the model what went wrong and runs its
    /// next program, at most `max_retries` more times.
    ///
    /// A word problem's answer is a number: a program that prints something else (a
    /// variable's name in quotes, a sentence) is sent back like a failing one, and what it
    /// printed stays the answer only if no retry prints a number.
    fn execute_with_retries(
        &self,
        backend: &dyn Backend,
        problem: &Problem,
        mut text: String,
        seed: u32,
        ledger: &mut Ledger,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<Program, SolveError> {
        let mut chat = Self::messages(problem);
        let mut retries = 0;
        let mut not_a_number: Option<Program> = None;
        loop {
            // Generation stopped at the closing fence, which the stop string removed; put
            // it back so the reply reads (and is replayed to the model) as written.
            if text.matches("```").count() % 2 == 1 {
                text.push_str("\n```");
            }
            let feedback = match last_python_block(&text) {
                None => "Your reply had no ```python block.".to_string(),
                Some(code) => {
                    let outcome = self.executor.run(&code)?;
                    ledger
                        .steps
                        .push(Step::Execution { code: code.clone(), outcome: outcome.clone() });
                    on_event(Event::Text(&format!(
                        "\n```output\n{}\n```\n",
                        render_outcome(&outcome)
                    )));
                    let answer = (outcome.status == Status::Ok)
                        .then(|| extract_program_answer(&outcome.stdout))
                        .flatten();
                    match answer {
                        Some(a) if problem.style == Style::Word && evaluate(&a).is_none() => {
                            let not_a_number_feedback = format!(
                                "It printed `{a}`, which is not a number; the program must \
                                 compute the answer and print only that number."
                            );
                            not_a_number.get_or_insert(Program {
                                completion: text.clone(),
                                code,
                                output: outcome.stdout,
                                answer: Some(a),
                            });
                            not_a_number_feedback
                        }
                        Some(a) => {
                            return Ok(Program {
                                completion: text,
                                code,
                                output: outcome.stdout,
                                answer: Some(a),
                            })
                        }
                        None if outcome.status == Status::Ok => {
                            "It ran but printed nothing; the program must print the final answer."
                                .into()
                        }
                        None => render_outcome(&outcome),
                    }
                }
            };
            if retries == self.max_retries {
                return Ok(not_a_number.unwrap_or(Program {
                    completion: text,
                    code: String::new(),
                    output: String::new(),
                    answer: None,
                }));
            }
            retries += 1;
            chat.push(ChatMessage::assistant(text));
            chat.push(ChatMessage::user(fill(RETRY, &[("error", &feedback)])));
            // A greedy retry tends to repeat the failed program word for word; some
            // temperature (and a fresh seed) lets it try something else.
            let temperature = self.params.temperature.max(RETRY_TEMPERATURE);
            let params = self.program_params(1, seed.wrapping_add(retries * 7919), temperature);
            on_event(Event::Text("\n"));
            let response = generate(backend, &chat, None, &params, on_event)?;
            text = ledger.single(&chat, &response);
        }
    }

    /// Sampling for a program: generation ends at the code block's closing fence, since
    /// nothing the model writes after its program is used.
    fn program_params(&self, n: u32, seed: u32, temperature: f32) -> SamplingParams {
        SamplingParams {
            n,
            seed,
            temperature,
            stop: vec![CLOSING_FENCE.into()],
            ..self.params.clone()
        }
    }

    /// A student-facing explanation of the executed program, or `None` without an answer.
    fn explanation(
        &self,
        backend: &dyn Backend,
        problem: &Problem,
        program: &Program,
        ledger: &mut Ledger,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<Option<String>, SolveError> {
        let Some(answer) = &program.answer else { return Ok(None) };
        let messages = explain_messages(problem, &program.code, &program.output, answer);
        // Greedy: the explanation is shown to a student and should not vary between runs.
        let params = SamplingParams {
            n: 1,
            max_tokens: self.explain_tokens,
            temperature: 0.0,
            ..self.params.clone()
        };
        on_event(Event::Text("\n"));
        let response = generate(backend, &messages, None, &params, on_event)?;
        let text = ledger.single(&messages, &response);
        Ok((!text.trim().is_empty()).then(|| text.trim().to_string()))
    }
}

/// The chat that asks for an explanation of an executed program.
pub fn explain_messages(
    problem: &Problem,
    code: &str,
    output: &str,
    answer: &str,
) -> Vec<ChatMessage> {
    let output = crate::common::clip_middle(output.trim(), crate::common::MAX_SHOWN_OUTPUT);
    vec![
        ChatMessage::system(EXPLAIN_SYSTEM.trim()),
        ChatMessage::user(fill(
            EXPLAIN_USER,
            &[
                ("problem", problem.text.trim()),
                ("code", code),
                ("output", &output),
                ("answer", answer),
            ],
        )),
    ]
}

/// The worked examples of `pot_examples.txt`: (problem, reply) pairs.
fn examples(style: Style) -> &'static [(String, String)] {
    static WORD: OnceLock<Vec<(String, String)>> = OnceLock::new();
    static COMPETITION: OnceLock<Vec<(String, String)>> = OnceLock::new();
    match style {
        Style::Word => WORD.get_or_init(|| crate::common::parse_examples(EXAMPLES_WORD)),
        Style::Competition => {
            COMPETITION.get_or_init(|| crate::common::parse_examples(EXAMPLES_COMPETITION))
        }
    }
}

/// The problem texts of the worked examples the prompt of `style` shows (a program that
/// reuses their numbers copied an example instead of reading the problem).
pub fn example_problems(style: Style) -> Vec<&'static str> {
    examples(style).iter().map(|(question, _)| question.as_str()).collect()
}

/// The last program of a sample and what it gave.
struct Program {
    /// The completion the program came from (plan and code).
    completion: String,
    code: String,
    output: String,
    answer: Option<String>,
}

impl Program {
    /// What to show a reader when there is no explanation.
    fn text(&self) -> String {
        match &self.answer {
            Some(_) => format!("{}\n\nOutput:\n{}", self.completion.trim(), self.output.trim()),
            None => self.completion.trim().to_string(),
        }
    }
}

impl Strategy for ProgramOfThought {
    fn name(&self) -> &str {
        "pot"
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

    /// Writes the explanation of a sample drawn without one.
    fn finish(
        &self,
        backend: &dyn Backend,
        problem: &Problem,
        solution: &mut Solution,
    ) -> Result<(), SolveError> {
        let explained = solution.trace.steps.iter().any(|s| {
            matches!(s, Step::Generation { prompt, .. }
                if prompt.first().is_some_and(|m| m.content == EXPLAIN_SYSTEM.trim()))
        });
        let ran = solution.trace.steps.iter().rev().find_map(|s| match s {
            Step::Execution { code, outcome } if outcome.status == Status::Ok => {
                Some((code.clone(), outcome.stdout.clone()))
            }
            _ => None,
        });
        let (Some(answer), Some((code, output)), false) = (solution.answer.clone(), ran, explained)
        else {
            return Ok(());
        };
        let program = Program { completion: String::new(), code, output, answer: Some(answer) };
        let mut ledger = Ledger::default();
        let start = Instant::now();
        if let Some(text) =
            self.explanation(backend, problem, &program, &mut ledger, &mut |_| {})?
        {
            solution.text = text;
        }
        solution.prompt_tokens += ledger.prompt_tokens;
        solution.completion_tokens += ledger.completion_tokens;
        solution.trace.steps.extend(ledger.steps);
        solution.seconds += start.elapsed().as_secs_f64();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::FnExecutor;
    use hypatia_llm::ScriptedBackend;
    use std::sync::Mutex;

    fn pot(executor: FnExecutor) -> ProgramOfThought {
        ProgramOfThought::new(&StrategyOptions::default(), Arc::new(executor))
    }

    #[test]
    fn examples_parse_into_training_pairs() {
        assert_eq!(examples(Style::Word).len(), 3);
        assert!(examples(Style::Word).iter().all(|(_, reply)| !reply.contains("sympy")));
        let ex = examples(Style::Competition);
        assert_eq!(ex.len(), 2);
        assert!(ex[0].0.starts_with("Julie is reading"));
        assert!(ex[0].1.contains("print(tomorrow)"));
        // A Python comment inside a reply is not taken for a file comment.
        assert!(ex[1].1.contains("# |a| = |b|"));
        assert!(!ex[1].1.contains("### "));
    }

    #[test]
    fn plans_runs_and_explains_from_the_executed_result() {
        let backend = ScriptedBackend::new([
            "Plan: multiply.\n```python\nprint(6 * 7)\n```",
            "Six groups of seven make 42. \\boxed{42}",
        ]);
        let ran = Arc::new(Mutex::new(Vec::new()));
        let seen = ran.clone();
        let s = pot(FnExecutor::new(move |code| {
            seen.lock().unwrap().push(code.to_string());
            FnExecutor::ok("42\n")
        }))
        .solve(&backend, &Problem::new("What is 6 times 7?"), &mut |_| {})
        .unwrap();
        assert_eq!(s.answer.as_deref(), Some("42"));
        assert_eq!(s.text, "Six groups of seven make 42. \\boxed{42}");
        assert_eq!(ran.lock().unwrap().as_slice(), ["print(6 * 7)"]);
        let requests = backend.requests();
        assert_eq!(requests.len(), 2);
        // A word problem: system, three word-problem examples, then the problem.
        let first = &requests[0].messages;
        assert_eq!(first.len(), 8);
        assert_eq!(first[7].content, "What is 6 times 7?");
        assert!(first[0].content.contains("prints only the final number"));
        assert_eq!(requests[0].params.stop, [CLOSING_FENCE], "generation ends after the code");
        let explain = &requests[1].messages[1].content;
        assert!(explain.contains("print(6 * 7)") && explain.contains("It printed: 42"));
        assert!(matches!(s.trace.steps[1], Step::Execution { .. }));
        assert!(s.completion_tokens > 0 && s.prompt_tokens > 0);
    }

    #[test]
    fn a_failing_program_is_retried_with_its_traceback() {
        let backend = ScriptedBackend::new([
            "```python\nprint(x)\n```",
            "```python\nx = 5\nprint(x)\n```",
            "Five. \\boxed{5}",
        ]);
        let s = pot(FnExecutor::new(|code| {
            if code.contains("x = 5") {
                FnExecutor::ok("5\n")
            } else {
                FnExecutor::error("NameError: name 'x' is not defined\n")
            }
        }))
        .solve(&backend, &Problem::new("p"), &mut |_| {})
        .unwrap();
        assert_eq!(s.answer.as_deref(), Some("5"));
        let retry = &backend.requests()[1].messages;
        let last = &retry[retry.len() - 1].content;
        assert!(last.contains("NameError"), "{last}");
        assert!(last.contains("corrected"));
        assert_eq!(retry[retry.len() - 2].content, "```python\nprint(x)\n```");
    }

    #[test]
    fn retries_are_bounded_and_a_failure_has_no_answer() {
        let backend = ScriptedBackend::from_fn(|_, _| Some("```python\n1/0\n```".into()));
        let opts = StrategyOptions { max_retries: 2, ..Default::default() };
        let strategy = ProgramOfThought::new(
            &opts,
            Arc::new(FnExecutor::new(|_| FnExecutor::error("ZeroDivisionError\n"))),
        );
        let s = strategy.solve(&backend, &Problem::new("p"), &mut |_| {}).unwrap();
        assert_eq!(s.answer, None);
        // One first attempt and two retries; no explanation without an answer.
        assert_eq!(backend.requests().len(), 3);
        let runs = s.trace.steps.iter().filter(|s| matches!(s, Step::Execution { .. })).count();
        assert_eq!(runs, 3);
    }

    #[test]
    fn printing_nothing_or_writing_no_code_is_sent_back() {
        let backend = ScriptedBackend::new([
            "I think it is 3.",
            "```python\nx = 3\n```",
            "```python\nprint(3)\n```",
        ]);
        let opts = StrategyOptions { explain: false, ..Default::default() };
        let strategy = ProgramOfThought::new(
            &opts,
            Arc::new(FnExecutor::new(|c| {
                FnExecutor::ok(if c.contains("print") { "3\n" } else { "" })
            })),
        );
        let s = strategy.solve(&backend, &Problem::new("p"), &mut |_| {}).unwrap();
        assert_eq!(s.answer.as_deref(), Some("3"));
        let r = backend.requests();
        assert!(r[1].messages.last().unwrap().content.contains("no ```python block"));
        assert!(r[2].messages.last().unwrap().content.contains("printed nothing"));
        assert!(s.text.contains("Output:\n3"));
    }

    #[test]
    fn a_word_problem_that_prints_no_number_is_sent_back() {
        let backend = ScriptedBackend::new([
            "```python\nprint('night_sleep')\n```",
            "```python\nprint(19)\n```",
        ]);
        let opts = StrategyOptions { explain: false, ..Default::default() };
        let run = |code: &str| {
            let printed = code.split(['(', ')']).nth(1).unwrap_or("").trim_matches('\'');
            FnExecutor::ok(&format!("{printed}\n"))
        };
        let strategy = ProgramOfThought::new(&opts, Arc::new(FnExecutor::new(run)));
        let word = Problem::new("Tom sleeps 5 hours a night. How many hours in a week?")
            .with_style(Style::Word);
        let s = strategy.solve(&backend, &word, &mut |_| {}).unwrap();
        assert_eq!(s.answer.as_deref(), Some("19"));
        let feedback = backend.requests()[1].messages.last().unwrap().content.clone();
        assert!(feedback.contains("`night_sleep`, which is not a number"), "{feedback}");

        // With no retry left, what it printed is still the answer; and a competition
        // problem's answer may be any expression.
        let backend = ScriptedBackend::new(["```python\nprint('night_sleep')\n```"]);
        let once = StrategyOptions { explain: false, max_retries: 0, ..Default::default() };
        let strategy = ProgramOfThought::new(&once, Arc::new(FnExecutor::new(run)));
        let s = strategy.solve(&backend, &word, &mut |_| {}).unwrap();
        assert_eq!(s.answer.as_deref(), Some("night_sleep"));
        let backend = ScriptedBackend::new(["```python\nprint('x + 1')\n```"]);
        let strategy = ProgramOfThought::new(&opts, Arc::new(FnExecutor::new(run)));
        let competition = Problem::new("p").with_style(Style::Competition);
        let s = strategy.solve(&backend, &competition, &mut |_| {}).unwrap();
        assert_eq!((s.answer.as_deref(), backend.requests().len()), (Some("x + 1"), 1));
    }

    #[test]
    fn samples_share_the_first_request_and_finish_explains_later() {
        let backend = ScriptedBackend::from_fn(|req, i| {
            Some(if req.messages[0].content == EXPLAIN_SYSTEM.trim() {
                "Because. \\boxed{2}".into()
            } else {
                format!("```python\nprint({})\n```", i + 1)
            })
        });
        let opts = StrategyOptions { explain: false, ..Default::default() };
        let strategy = ProgramOfThought::new(
            &opts,
            Arc::new(FnExecutor::new(|c| {
                FnExecutor::ok(c.trim_start_matches("print(").trim_end_matches(')'))
            })),
        );
        let mut samples =
            strategy.solve_samples(&backend, &Problem::new("p"), 3, 7, &mut |_| {}).unwrap();
        let answers: Vec<_> = samples.iter().map(|s| s.answer.clone().unwrap()).collect();
        assert_eq!(answers, ["1", "2", "3"]);
        assert_eq!(backend.requests().len(), 1);
        assert_eq!(backend.requests()[0].params.n, 3);
        let before = samples[1].completion_tokens;
        strategy.finish(&backend, &Problem::new("p"), &mut samples[1]).unwrap();
        assert_eq!(samples[1].text, "Because. \\boxed{2}");
        assert!(samples[1].completion_tokens > before);
        // Finishing twice does not explain twice.
        strategy.finish(&backend, &Problem::new("p"), &mut samples[1]).unwrap();
        assert_eq!(backend.requests().len(), 2);
    }

    #[test]
    fn the_worked_examples_run_in_the_sandbox_and_print_their_gold_answers() {
        let exec = crate::SandboxExecutor::global(StrategyOptions::default().limits());
        let word = examples(Style::Word).iter().zip(["10", "42", "35"]);
        let competition = examples(Style::Competition).iter().zip(["42", "-\\frac{1}{8}"]);
        for ((_, reply), gold) in word.chain(competition) {
            let code = last_python_block(reply).unwrap();
            let out = exec.run(&code).unwrap();
            assert_eq!(out.status, Status::Ok, "{}", out.stderr);
            let answer = extract_program_answer(&out.stdout).unwrap();
            assert!(hypatia_grade::equivalent(gold, &answer), "{answer}");
        }
    }
}
