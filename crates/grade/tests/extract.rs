//! Extraction from model responses and program output.

use hypatia_grade::{extract_answer, extract_program_answer, last_boxed, ExtractOptions};

const ON: ExtractOptions = ExtractOptions { last_number_fallback: true };
const OFF: ExtractOptions = ExtractOptions { last_number_fallback: false };

/// `(response, with fallback, without fallback)`.
const CASES: &[(&str, Option<&str>, Option<&str>)] = &[
    (r"Thus $\boxed{42}$.", Some("42"), Some("42")),
    (r"\boxed{1} and later \boxed{2}", Some("2"), Some("2")),
    (r"\boxed{\frac{\sqrt{3}}{2}}", Some(r"\frac{\sqrt{3}}{2}"), Some(r"\frac{\sqrt{3}}{2}")),
    (r"\boxed{\{1,2\}}", Some(r"\{1,2\}"), Some(r"\{1,2\}")),
    (r"so $\boxed 5$.", Some("5"), Some("5")),
    (r"\fbox{7} is it", Some("7"), Some("7")),
    (r"\boxed{ 12 }", Some("12"), Some("12")),
    (r"\boxed{3} then \boxed{unclosed", Some("3"), Some("3")),
    ("The answer is 17.", Some("17"), Some("17")),
    ("So the answer is $\\frac{1}{2}$. Done", Some(r"\frac{1}{2}"), Some(r"\frac{1}{2}")),
    ("the answer is: 3.5.", Some("3.5"), Some("3.5")),
    ("Final Answer: The final answer is $12$. I hope it is correct.", Some("12"), Some("12")),
    ("Final Answer: 7\nmore text 9", Some("7"), Some("7")),
    ("Natalia sold 48/2 = 24 clips.\n#### 72", Some("72"), Some("72")),
    ("#### 1,234", Some("1234"), Some("1234")),
    ("She has 3 apples and buys 4, so 7 apples.", Some("7"), None),
    ("Total cost is $1,250.", Some("1250"), None),
    ("Half is -3/4", Some("-3/4"), None),
    ("it is 2.5 km", Some("2.5"), None),
    ("no numbers here", None, None),
    ("", None, None),
    (r"\boxed{}", None, None),
];

#[test]
fn table() {
    for &(text, on, off) in CASES {
        assert_eq!(extract_answer(text, &ON).as_deref(), on, "fallback on: {text:?}");
        assert_eq!(extract_answer(text, &OFF).as_deref(), off, "fallback off: {text:?}");
    }
}

#[test]
fn default_has_fallback() {
    assert!(ExtractOptions::default().last_number_fallback);
}

#[test]
fn boxed_needs_a_box() {
    assert_eq!(last_boxed(r"\boxedx"), None);
    assert_eq!(last_boxed("nothing"), None);
    assert_eq!(last_boxed(r"\boxed{a{b}c}").as_deref(), Some("a{b}c"));
}

#[test]
fn program_output() {
    assert_eq!(extract_program_answer("x = 3\n10\n").as_deref(), Some("10"));
    assert_eq!(extract_program_answer("0.5\n   \n").as_deref(), Some("0.5"));
    assert_eq!(extract_program_answer("The answer is 12\n").as_deref(), Some("12"));
    assert_eq!(extract_program_answer(r"\boxed{3}").as_deref(), Some("3"));
    assert_eq!(extract_program_answer(""), None);
}
