//! The adversarial suite (issue 16): answers as students and small models really write
//! them — currency, units, magnitude and operation words, mixed numbers, spaced
//! thousands, percent both ways, exact decimals, symbolic answers on both signs of zero,
//! text, stray characters, explanations after the answer, `\approx`, `\pm` — each with
//! the verdict a careful teacher would give. Both outcomes are represented in every
//! class but the first, which lists the false matches the issue found. Rows with a
//! `question` test the licences its wording grants (rounding, a percentage written
//! without its sign). The rows are data (`tests/data/adversarial_cases.jsonl`) so the
//! math-verify cross-check in `bench/grade/` reads the same ones.

use hypatia_grade::Checker;
use serde::Deserialize;

#[derive(Deserialize)]
struct Row {
    class: String,
    gold: String,
    pred: String,
    equal: bool,
    #[serde(default)]
    question: Option<String>,
}

fn rows() -> Vec<Row> {
    include_str!("data/adversarial_cases.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("valid row"))
        .collect()
}

#[test]
fn adversarial_rows() {
    let rows = rows();
    let failures: Vec<String> = rows
        .iter()
        .filter(|r| {
            let checker = match &r.question {
                Some(q) => Checker::default().with_question(q),
                None => Checker::default(),
            };
            checker.equivalent(&r.gold, &r.pred) != r.equal
        })
        .map(|r| {
            format!(
                "[{}] equivalent({:?}, {:?}) should be {} (question: {:?})",
                r.class, r.gold, r.pred, r.equal, r.question
            )
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

/// The suite keeps its size and both outcomes in every class.
#[test]
fn suite_shape() {
    let rows = rows();
    assert!(rows.len() >= 250, "{} rows", rows.len());
    let mut classes: Vec<&str> = rows.iter().map(|r| r.class.as_str()).collect();
    classes.dedup();
    // The table lists false matches only: every row there is `false`.
    for class in classes.into_iter().filter(|c| *c != "issue table") {
        let of_class: Vec<&Row> = rows.iter().filter(|r| r.class == class).collect();
        let equal = of_class.iter().filter(|r| r.equal).count();
        assert!(
            equal > 0 && equal < of_class.len(),
            "class {class:?}: {equal} of {} equal",
            of_class.len()
        );
    }
}
