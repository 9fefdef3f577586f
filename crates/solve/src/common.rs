//! Pieces every strategy uses: model calls that are recorded as steps, token ledgers, code
//! blocks in model text, and program outcomes rendered for the model to read.

use std::ops::ControlFlow;
use std::time::Instant;

use hypatia_llm::{Backend, ChatMessage, Choice, LlmError, Request, Response, SamplingParams};
use hypatia_sandbox::{Outcome, Status};

use crate::{Event, Solution, SolveError, Step, Trace};

/// Calls the model. Text is streamed to `on_event` only for a single sample: interleaved
/// pieces of several samples would be unreadable.
pub(crate) fn generate(
    backend: &dyn Backend,
    messages: &[ChatMessage],
    assistant_prefix: Option<&str>,
    params: &SamplingParams,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<Response, LlmError> {
    let request = Request {
        messages: messages.to_vec(),
        assistant_prefix: assistant_prefix.map(str::to_string),
        params: params.clone(),
        cancel: None,
    };
    let stream = params.n == 1;
    let response = backend.generate_streaming(&request, &mut |delta| {
        if stream {
            on_event(Event::Text(delta.text));
        }
        ControlFlow::Continue(())
    })?;
    if response.choices.len() != params.n as usize {
        return Err(LlmError::Engine(format!(
            "asked for {} samples, got {}",
            params.n,
            response.choices.len()
        )));
    }
    Ok(response)
}

/// What a strategy made of one sample after its first completion: the reader-facing text
/// and the answer. The strategy records its own steps (the answer step included) in the
/// ledger it is given.
pub(crate) struct Finished {
    pub text: String,
    pub answer: Option<String>,
}

/// Draws `params.n` samples of `messages` in one request, so that they share the prompt's
/// computation, then lets `finish` carry each sample on (run its code, ask again, explain)
/// with a ledger that already holds the sample's first generation. Only a single sample
/// streams: the follow-up calls of several samples would interleave unreadably. A sample's
/// seconds are the shared first call plus its own follow-ups.
pub(crate) fn draw_samples(
    strategy: &str,
    backend: &dyn Backend,
    messages: &[ChatMessage],
    params: &SamplingParams,
    on_event: &mut dyn FnMut(Event<'_>),
    mut finish: impl FnMut(
        usize,
        &Choice,
        &mut Ledger,
        &mut dyn FnMut(Event<'_>),
    ) -> Result<Finished, SolveError>,
) -> Result<Vec<Solution>, SolveError> {
    if params.n == 0 {
        return Ok(Vec::new());
    }
    let start = Instant::now();
    let response = generate(backend, messages, None, params, on_event)?;
    let mut quiet = |_: Event<'_>| {};
    let on_event: &mut dyn FnMut(Event<'_>) = if params.n == 1 { on_event } else { &mut quiet };
    let shared = start.elapsed().as_secs_f64();
    let mut solutions = Vec::new();
    for (i, choice) in response.choices.iter().enumerate() {
        let sample_start = Instant::now();
        let mut ledger = Ledger::default();
        ledger.generation(messages, &response, choice, i == 0);
        let Finished { text, answer } = finish(i, choice, &mut ledger, &mut *on_event)?;
        solutions.push(Solution {
            answer,
            strategy: strategy.into(),
            model: backend.model_name().into(),
            text,
            prompt_tokens: ledger.prompt_tokens,
            completion_tokens: ledger.completion_tokens,
            seconds: shared + sample_start.elapsed().as_secs_f64(),
            trace: Trace { steps: ledger.steps },
            confidence: None,
        });
    }
    Ok(solutions)
}

/// `template` with each `{key}` replaced by its value, in one pass, so that a value that
/// happens to contain `{answer}` (problem text is user text) is never substituted again.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template.trim();
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let hit =
            values.iter().find(|(k, _)| after.strip_prefix(k).is_some_and(|r| r.starts_with('}')));
        match hit {
            Some((k, v)) => {
                out.push_str(v);
                rest = &after[k.len() + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Reads `### problem` / `### reply` sections; `#` lines before the first section are
/// comments (inside a section they may be Python comments).
pub(crate) fn parse_examples(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut section: Option<(&str, Vec<&str>)> = None;
    let mut question = String::new();
    let mut close = |section: Option<(&str, Vec<&str>)>, question: &mut String| {
        if let Some((kind, lines)) = section {
            let body = lines.join("\n").trim().to_string();
            if kind == "problem" {
                *question = body;
            } else {
                pairs.push((std::mem::take(question), body));
            }
        }
    };
    for line in text.lines() {
        match line.trim_end() {
            "### problem" => close(section.replace(("problem", Vec::new())), &mut question),
            "### reply" => close(section.replace(("reply", Vec::new())), &mut question),
            _ => {
                if let Some((_, lines)) = section.as_mut() {
                    lines.push(line);
                }
            }
        }
    }
    close(section, &mut question);
    pairs
}

/// Steps and token counts of one solution as it is built.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    pub steps: Vec<Step>,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

impl Ledger {
    /// Records one choice of a response. `count_prompt` is false for all but one sample of a
    /// shared prompt, so that summing the samples gives the true cost.
    pub fn generation(
        &mut self,
        prompt: &[ChatMessage],
        response: &Response,
        choice: &Choice,
        count_prompt: bool,
    ) {
        let prompt_tokens = if count_prompt { response.prompt_tokens } else { 0 };
        self.prompt_tokens += prompt_tokens;
        self.completion_tokens += choice.completion_tokens;
        self.steps.push(Step::Generation {
            prompt: prompt.to_vec(),
            completion: choice.text.clone(),
            prompt_tokens,
            completion_tokens: choice.completion_tokens,
            finish_reason: choice.finish_reason,
        });
    }

    /// Records the only choice of a one-sample response and returns its text.
    pub fn single(&mut self, prompt: &[ChatMessage], response: &Response) -> String {
        match response.choices.first() {
            Some(choice) => {
                self.generation(prompt, response, choice, true);
                choice.text.clone()
            }
            None => String::new(),
        }
    }
}

/// The body of the last fenced Python block in `text` (an unclosed final block counts, as
/// a truncated or stop-cut completion ends in one). Blocks tagged with another language,
/// such as `output`, are skipped; an untagged block is taken for Python.
pub(crate) fn last_python_block(text: &str) -> Option<String> {
    // Splitting at fences alternates outside and inside text, so odd parts are blocks.
    text.split("```")
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .filter_map(|(_, part)| {
            let (tag, body) = part.split_once('\n')?;
            let tag = tag.trim().to_ascii_lowercase();
            let is_python = matches!(tag.as_str(), "python" | "py" | "python3" | "");
            (is_python && !body.trim().is_empty()).then(|| body.trim_end().to_string())
        })
        .last()
}

/// `s` cut to about `max` bytes, keeping its start and its end (a traceback's cause and a
/// program's result are at the end), on character boundaries.
pub(crate) fn clip_middle(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut head = max / 3;
    while !s.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = s.len() - (max - head);
    while !s.is_char_boundary(tail) {
        tail += 1;
    }
    format!("{}\n[... {} bytes omitted ...]\n{}", &s[..head], tail - head, &s[tail..])
}

/// Longest program output or error shown to the model: enough for any answer and the cause
/// of any error, small enough not to crowd the context.
pub(crate) const MAX_SHOWN_OUTPUT: usize = 1500;

/// What a program did, as the model should read it: its output when it ran, otherwise
/// what went wrong, with the traceback.
pub(crate) fn render_outcome(outcome: &Outcome) -> String {
    let stdout = clip_middle(outcome.stdout.trim_end(), MAX_SHOWN_OUTPUT);
    let stderr = clip_middle(outcome.stderr.trim_end(), MAX_SHOWN_OUTPUT);
    let what = match outcome.status {
        Status::Ok => return stdout,
        Status::Error => "The program raised an error",
        Status::Timeout => "The program ran out of time",
        Status::Memory => "The program ran out of memory",
        Status::OutputLimit => "The program printed too much",
        Status::Denied => "The sandbox refused an operation (no files, network or processes)",
    };
    let mut text = format!("{what}.");
    if !stdout.is_empty() {
        text.push_str(&format!("\nIt printed:\n{stdout}"));
    }
    if !stderr.is_empty() {
        text.push_str(&format!("\n{stderr}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_last_python_block_and_skips_output_blocks() {
        let text = "```python\na = 1\n```\n```output\n1\n```\n```py\nprint(a + 1)\n```\nDone";
        assert_eq!(last_python_block(text).as_deref(), Some("print(a + 1)"));
        assert_eq!(
            last_python_block("```python\nx = 2\nprint(x)").as_deref(),
            Some("x = 2\nprint(x)")
        );
        assert_eq!(last_python_block("```\nprint(3)\n```").as_deref(), Some("print(3)"));
        assert_eq!(last_python_block("```output\n3\n```"), None);
        assert_eq!(last_python_block("no code here"), None);
        assert_eq!(last_python_block("```python\n\n```"), None);
    }

    #[test]
    fn templates_fill_once_and_leave_other_braces() {
        let t = "Q: {problem}\nA: {answer} in \\boxed{}";
        let filled = fill(t, &[("problem", "what is {answer}?"), ("answer", "7")]);
        assert_eq!(filled, "Q: what is {answer}?\nA: 7 in \\boxed{}");
    }

    #[test]
    fn clipping_keeps_both_ends_on_char_boundaries() {
        let s = "é".repeat(1000);
        let c = clip_middle(&s, 101);
        assert!(c.len() < 200);
        assert!(c.starts_with('é') && c.ends_with('é'));
        assert_eq!(clip_middle("short", 10), "short");
    }

    #[test]
    fn outcomes_read_as_output_or_as_the_error() {
        let ok =
            Outcome { status: Status::Ok, stdout: "42\n".into(), stderr: "".into(), seconds: 0.1 };
        assert_eq!(render_outcome(&ok), "42");
        let err = Outcome {
            status: Status::Error,
            stdout: "partial\n".into(),
            stderr: "NameError: name 'x' is not defined\n".into(),
            seconds: 0.1,
        };
        let r = render_outcome(&err);
        assert!(r.starts_with("The program raised an error."));
        assert!(r.contains("partial") && r.contains("NameError"));
    }
}
