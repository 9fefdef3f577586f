//! Cases built from the `answer` fields of the MATH test set (minus MATH-500): each
//! answer against rewritten equivalents and near-misses. Generated once by
//! `bench/grade/gen_cases.py` and committed, so CI needs no data outside the repo.

use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    id: String,
    gold: String,
    pred: String,
    equal: bool,
    why: String,
}

#[test]
fn math_answer_cases() {
    let data = include_str!("data/math_answer_cases.jsonl");
    let cases: Vec<Case> =
        data.lines().map(|l| serde_json::from_str(l).expect("valid case line")).collect();
    assert!(cases.len() >= 300, "only {} cases", cases.len());
    let failures: Vec<String> = cases
        .iter()
        .filter(|c| hypatia_grade::equivalent(&c.gold, &c.pred) != c.equal)
        .map(|c| {
            format!(
                "{} ({}): equivalent({:?}, {:?}) should be {}",
                c.id, c.why, c.gold, c.pred, c.equal
            )
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Every gold answer equals itself and parses the same way after re-spacing.
#[test]
fn every_gold_equals_itself() {
    let data = include_str!("data/math_answer_cases.jsonl");
    for line in data.lines() {
        let c: Case = serde_json::from_str(line).expect("valid case line");
        assert!(hypatia_grade::equivalent(&c.gold, &c.gold), "{}", c.gold);
    }
}
