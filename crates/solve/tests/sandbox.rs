//! Strategies that run code, against the real sandbox (scripted model, real Python).

use std::sync::Arc;

use hypatia_llm::ScriptedBackend;
use hypatia_sandbox::Status;
use hypatia_solve::{
    build_strategy, build_strategy_with, Executor, Problem, SandboxExecutor, Step, StrategyOptions,
};

fn executions(steps: &[Step]) -> Vec<(String, Status, String)> {
    steps
        .iter()
        .filter_map(|s| match s {
            Step::Execution { code, outcome } => {
                Some((code.clone(), outcome.status, outcome.stdout.clone()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn pot_runs_exact_arithmetic_and_recovers_from_a_real_traceback() {
    let backend = ScriptedBackend::new([
        "Plan: add the fractions.\n```python\nfrom fractions import Fraction\nprint(Fraction(1, 3) + undefined)\n```",
        "```python\nfrom fractions import Fraction\nprint(Fraction(1, 3) + Fraction(1, 6))\n```",
        "A third and a sixth make a half. \\boxed{\\frac{1}{2}}",
    ]);
    let pot = build_strategy("pot", &StrategyOptions::default()).unwrap();
    let s = pot.solve(&backend, &Problem::new("1/3 + 1/6?"), &mut |_| {}).unwrap();
    assert_eq!(s.answer.as_deref(), Some("1/2"));
    let runs = executions(&s.trace.steps);
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].1, Status::Error);
    assert_eq!((runs[1].1, runs[1].2.as_str()), (Status::Ok, "1/2\n"));
    // The model saw the real traceback.
    let retry = backend.requests()[1].messages.last().unwrap().content.clone();
    assert!(retry.contains("NameError"), "{retry}");
    assert!(s.text.contains("half"));
}

#[test]
fn tools_cells_share_variables_and_echo_a_final_expression() {
    let backend = ScriptedBackend::from_fn(|req, _| {
        let prefix = req.assistant_prefix.clone().unwrap_or_default();
        Some(match prefix.matches("```output").count() {
            0 => "```python\nfrom sympy import symbols, solve\nx = symbols('x')\nroots = solve(x**2 - 5*x + 6, x)\n```\n".into(),
            1 => "```python\nsum(roots)\n```\n".into(),
            _ => "The roots sum to 5, so \\boxed{5}.".into(),
        })
    });
    let tools = build_strategy("tools", &StrategyOptions::default()).unwrap();
    let s = tools.solve(&backend, &Problem::new("sum of roots"), &mut |_| {}).unwrap();
    let runs = executions(&s.trace.steps);
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1].1, Status::Ok);
    assert_eq!(runs[1].2, "5\n");
    assert!(s.text.contains("```output\n5\n```"), "{}", s.text);
    assert_eq!(s.answer.as_deref(), Some("5"));
}

#[test]
fn tools_errors_in_a_cell_read_cleanly() {
    let backend = ScriptedBackend::from_fn(|req, _| {
        let prefix = req.assistant_prefix.clone().unwrap_or_default();
        Some(match prefix.matches("```output").count() {
            0 => "```python\nvalue = 1 / 0\n```\n".into(),
            _ => "Division by zero; \\boxed{\\text{undefined}}".into(),
        })
    });
    let tools = build_strategy("tools", &StrategyOptions::default()).unwrap();
    let s = tools.solve(&backend, &Problem::new("1/0"), &mut |_| {}).unwrap();
    assert!(s.text.contains("ZeroDivisionError"), "{}", s.text);
    assert!(!s.text.contains("<program>"), "{}", s.text);
}

#[test]
fn code_feedback_shows_the_real_output() {
    let backend = ScriptedBackend::new([
        "```python\nprint(sum(range(1, 101)))\n```",
        "The sum is 5050. \\boxed{5050}",
    ]);
    let cf = build_strategy("code-feedback", &StrategyOptions::default()).unwrap();
    let s = cf.solve(&backend, &Problem::new("1+...+100"), &mut |_| {}).unwrap();
    assert_eq!(s.answer.as_deref(), Some("5050"));
    assert!(backend.requests()[1].messages[3].content.contains("5050"));
}

#[test]
fn a_hostile_program_is_refused_not_fatal() {
    let exec = SandboxExecutor::global(StrategyOptions::default().limits());
    let out = exec.run("import socket\nsocket.socket()").unwrap();
    assert_eq!(out.status, Status::Denied);
    let backend = ScriptedBackend::new([
        "```python\nimport os\nprint(os.listdir('/home'))\n```",
        "```python\nprint(2)\n```",
    ]);
    let opts = StrategyOptions { explain: false, ..Default::default() };
    let pot = build_strategy_with("pot", &opts, Arc::new(exec)).unwrap();
    let s = pot.solve(&backend, &Problem::new("p"), &mut |_| {}).unwrap();
    assert_eq!(s.answer.as_deref(), Some("2"));
    assert_ne!(executions(&s.trace.steps)[0].1, Status::Ok);
}
