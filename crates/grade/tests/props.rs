//! Property tests: equivalence is stable under presentation, and nothing panics.

use hypatia_grade::{equivalent, extract_answer, ExtractOptions};
use proptest::prelude::*;

/// Small random expressions in LaTeX, with their pieces kept simple enough that
/// reformatting them cannot change their meaning.
fn expr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        (0u32..1000).prop_map(|n| n.to_string()),
        (1u32..100, 1u32..100).prop_map(|(a, b)| format!(r"\frac{{{a}}}{{{b}}}")),
        Just("x".to_string()),
        Just("y".to_string()),
        Just(r"\pi".to_string()),
        (2u32..50).prop_map(|n| format!(r"\sqrt{{{n}}}")),
    ];
    leaf.prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} + {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} - {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!(r"({a}) \cdot ({b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!(r"\frac{{{a}}}{{{b}}}")),
            inner.clone().prop_map(|a| format!(r"\left( {a} \right)")),
            inner.prop_map(|a| format!("({a})^{{2}}")),
        ]
    })
}

/// Rewrites that never change meaning: spacing, `\left`/`\right`, `\dfrac`, `$`.
fn reformat(s: &str, spaces: bool) -> String {
    let mut t = s.replace(r"\frac", r"\dfrac").replace(r"\left(", "(").replace(r"\right)", ")");
    if spaces {
        t = t.replace(' ', "");
    } else {
        t = t.replace('+', " + ").replace('(', "( ");
    }
    format!("${t}$")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn expression_equals_its_reformatted_self(e in expr(), spaces in any::<bool>()) {
        prop_assert!(equivalent(&e, &e));
        prop_assert!(equivalent(&e, &reformat(&e, spaces)), "{} vs {}", e, reformat(&e, spaces));
    }

    #[test]
    fn whitespace_and_left_right_do_not_matter(a in -10_000i64..10_000, b in 1i64..1000) {
        let g = format!(r"\frac{{{a}}}{{{b}}}");
        let spaced = format!(r"\left( \frac {{ {a} }} {{ {b} }} \right)");
        prop_assert!(equivalent(&g, &spaced), "{} vs {}", g, spaced);
        let pair = format!("({a}, {b})");
        let pair2 = format!(r"\left(  {a} ,{b}\right)");
        prop_assert!(equivalent(&pair, &pair2), "{} vs {}", pair, pair2);
    }

    #[test]
    fn distinct_rationals_differ(a in -10_000i64..10_000, b in 1i64..1000, c in -10_000i64..10_000, d in 1i64..1000) {
        let same = a * d == c * b;
        let (x, y) = (format!("{a}/{b}"), format!(r"\frac{{{c}}}{{{d}}}"));
        prop_assert_eq!(equivalent(&x, &y), same, "{} vs {}", x, y);
    }

    #[test]
    fn decimals_are_exact(n in 0u64..1_000_000, m in 0u64..1_000_000) {
        let a = format!("0.{n:06}");
        let b = format!("0.{m:06}");
        prop_assert_eq!(equivalent(&a, &b), n == m);
    }

    #[test]
    fn never_panics_on_arbitrary_text(g in "\\PC{0,64}", p in "\\PC{0,64}") {
        let _ = equivalent(&g, &p);
        let _ = extract_answer(&g, &ExtractOptions::default());
    }

    #[test]
    fn never_panics_on_latexish_text(g in r"[0-9a-z\\{}()\[\]^_,.+\-*/=<>|&% !]{0,48}", p in r"[0-9a-z\\{}()\[\]^_,.+\-*/=<>|&% !]{0,48}") {
        let _ = equivalent(&g, &p);
        let _ = equivalent(&p, &g);
    }
}

#[test]
fn hostile_inputs_are_bounded() {
    let deep = "(".repeat(10_000) + &")".repeat(10_000);
    assert!(!equivalent(&deep, "1"));
    let braces = "{".repeat(10_000);
    assert!(!equivalent(&braces, "1"));
    assert!(!equivalent("10^{10^{10}}", "1"));
    assert!(!equivalent("99999999!", "1"));
    assert!(!equivalent("2^{2^{2^{2^{2^{2}}}}}", "3"));
    assert!(!equivalent(r"\binom{100000000}{50000000}", "1"));
    assert!(!equivalent("1e99999999999", "1"));
    // Found by the fuzzer: chained big powers under symbolic evaluation took seconds while
    // exact results could grow to 2^16 bits; the cap is now 2^14.
    assert!(!equivalent("5939,3", "-92445996^--2049R\t99499990^-92--9999,2"));
    // Text commands nested thousands deep: not parsed (each level would cost a call), so
    // compared as text, unwrapped.
    let texts = "\\text{".repeat(10_000) + "5" + &"}".repeat(10_000);
    assert!(!equivalent(&texts, "6"));
    assert!(equivalent(&texts, "5"));
    let long = "1+".repeat(5_000) + "1";
    assert!(!equivalent(&long, "1"));
    assert!(equivalent(&long, &long));
}
