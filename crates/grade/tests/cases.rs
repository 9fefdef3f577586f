//! Hand-written table of (gold, prediction, verdict) cases: normalisation, structure,
//! and every false-match trap we know of.

use hypatia_grade::{equivalent, Checker, PercentPolicy};

/// `(gold, pred, equal)`.
const CASES: &[(&str, &str, bool)] = &[
    // --- false-match traps: absolute tolerance, comma stripping, brackets ---
    ("0.001", "0.0015", false),
    ("0.0015", "0.001", false),
    ("1,0", "10", false),
    ("10", "1,0", false),
    (r"\{1,2\}", "(1,2)", false),
    ("(1,2)", r"\{1,2\}", false),
    ("(1,2)", "[1,2]", false),
    ("[1,2)", "(1,2)", false),
    ("(1,2]", "(1,2)", false),
    ("(1,2)", "(2,1)", false),
    (r"\frac{1}{3}", "0.333", false),
    (r"\frac{1}{3}", "0.333333333333", false),
    ("1", "1.0000000001", false),
    ("0", "0.0000001", false),
    ("100000000000000000001", "100000000000000000000", false),
    ("2^{64}", "18446744073709551616", true),
    ("2^{64}", "18446744073709551617", false),
    ("3", "3.0001", false),
    (r"\pi", "3.14", false),
    (r"\sqrt{2}", "1.414", false),
    (r"50\%", r"0.5\%", false),
    ("0.5", "50", false),
    ("5", "50", false),
    ("1,000", "1", false),
    ("(1,000)", "1000", false),
    ("12", "21", false),
    ("-5", "5", false),
    ("x+1", "x-1", false),
    ("2x+2", "2x+1", false),
    (r"\frac{\sqrt{3}}{3}", r"\frac{\sqrt{2}}{2}", false),
    ("x^2", "x^3", false),
    (r"\text{Monday}", r"\text{Tuesday}", false),
    ("A", "B", false),
    (r"\text{(C)}", "D", false),
    ("2, 3", "2", false),
    ("2", "2, 3", false),
    ("2, 3", "2, 3, 4", false),
    ("2, 2, 3", "2, 3, 3", false),
    ("x > 3", r"[3, \infty)", false),
    (r"x \ge 3", r"(3, \infty)", false),
    ("x < 3", r"(3, \infty)", false),
    (r"(-\infty, 3)", r"(3, \infty)", false),
    (r"\infty", r"-\infty", false),
    (r"\infty", "1000000", false),
    ("y = 2x + 1", "y = 2x - 1", false),
    ("y = 2x + 1", "y = x + 1", false),
    ("1010_2", "1011", false),
    ("1010_2", "10_2", false),
    ("4 + 6i", "4 - 6i", false),
    ("4 + 6i", "4 + 6", false),
    ("2i", "2", false),
    (r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", r"\begin{pmatrix} 2 \\ 1 \end{pmatrix}", false),
    (
        r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}",
        r"\begin{pmatrix} 1 & 3 \\ 2 & 4 \end{pmatrix}",
        false,
    ),
    ("10^{10^{10}}", "10^{10^{10}}+1", false),
    ("3\\frac{1}{2}", "\\frac{3}{2}", false),
    ("1.5", "15", false),
    ("0.5", "5", false),
    ("1.23", "1.24", false),
    ("0.33", r"\frac{1}{2}", false),
    ("0.33", "0.333", false),
    ("12.5", "12", false),
    ("1/2", "2", false),
    ("-1/2", "1/2", false),
    ("x = 2", "x = 3", false),
    ("x = 2", "3", false),
    ("k=2", "y=2", false),
    (r"\frac{1}{2}", r"\frac{2}{1}", false),
    ("8", "", false),
    ("", "", false),
    ("", "8", false),
    // --- numbers: exact rational arithmetic ---
    ("5", "5", true),
    ("5", "5.0", true),
    ("5", "5.000", true),
    ("5", "+5", true),
    ("-3", "- 3", true),
    (r"\frac{1}{2}", "0.5", true),
    (r"\frac{1}{2}", "1/2", true),
    (r"\frac{1}{2}", r"\dfrac{1}{2}", true),
    (r"\frac{1}{2}", r"\tfrac12", true),
    (r"\frac12", r"\frac{1}{2}", true),
    (r"\frac{2}{4}", r"\frac{1}{2}", true),
    (r"-\frac{3}{2}", r"\frac{-3}{2}", true),
    (r"-\frac{3}{2}", "-1.5", true),
    (".5", "0.5", true),
    ("0.50", "0.5", true),
    ("1,000", "1000", true),
    (r"6,\!000", "6000", true),
    (r"13,\!800", "13800", true),
    ("1,234,567", "1234567", true),
    ("1234567", "1,234,567", true),
    ("1.5e3", "1500", true),
    (r"1.5 \times 10^{3}", "1500", true),
    (r"1.5 \times 10^3", "1.5e3", true),
    ("2.5E-2", "0.025", true),
    (r"2\frac{1}{2}", r"\frac{5}{2}", true),
    (r"2\frac{1}{2}", "2.5", true),
    ("2^{10}", "1024", true),
    ("2^{-1}", "0.5", true),
    ("5!", "120", true),
    (r"\binom{5}{2}", "10", true),
    (r"\dbinom{6}{3}", "20", true),
    ("3 \\cdot 4", "12", true),
    ("3 \\times 4", "12", true),
    ("12 \\div 4", "3", true),
    ("8^{2/3}", "4", true),
    (r"\sqrt{16}", "4", true),
    (r"\sqrt[3]{27}", "3", true),
    (r"\log_2 8", "3", true),
    ("|-5|", "5", true),
    // --- normalisation: delimiters, spacing, text, units ---
    ("5", "$5$", true),
    ("5", r"\(5\)", true),
    ("5", "5.", true),
    ("5", r"\boxed{5}", true),
    ("(1,2)", r"\left( 1, 2 \right)", true),
    (r"\left( \frac{11}{2}, -1, 1 \right)", r"(5.5, -1, 1)", true),
    ("5", r"5\,", true),
    ("5", "5\u{2009}", true),
    ("10", r"\$10", true),
    (r"\$40", "40", true),
    (r"\$3800", "3,800", true),
    (r"\$20", "20 dollars", true),
    ("68^\\circ", "68", true),
    ("68", "68^\\circ", true),
    ("87^\\circ", "87^{\\circ}", true),
    ("45", "45\u{00b0}", true),
    ("45^\\circ", "45 degrees", true),
    (r"135\text{ square feet}", "135", true),
    (r"8\text{ meals}", "8", true),
    (r"162\text{ minutes}", "162 minutes", true),
    ("5 cm", "5", true),
    ("5", r"5\text{ cm}^2", true),
    ("5", r"5 \mbox{ cm}", true),
    ("12", "12 apples", true),
    (r"\text{Monday}", "Monday", true),
    (r"\text{Monday}", "monday", true),
    (r"\text{B}", "B", true),
    (r"\text{(C)}", "C", true),
    (r"\text{(C)}", "(C)", true),
    ("C", r"\text{(C)}", true),
    (r"\textbf{(A)}", "A", true),
    ("yes", r"\text{Yes}", true),
    (r"\text{no solution}", "No solution", true),
    // --- percent ---
    (r"50\%", "50", true),
    (r"50\%", "0.5", true),
    ("0.5", r"50\%", true),
    // A sign-less gold is a percentage only when the question asks for one.
    ("50", r"50\%", false),
    (r"50\%", r"50\%", true),
    (r"50\%", "50 percent", true),
    (r"12.5\%", r"\frac{1}{8}", true),
    (r"50\%", "51", false),
    // --- x = prefixes, equations and inequalities ---
    ("x=2", "2", true),
    ("2", "x=2", true),
    ("x = 2", "x=2", true),
    ("y = 2x+1", "2x+1", true),
    ("y=2x+1", "2x+1=y", true),
    ("y=2x+1", "y - 2x = 1", true),
    ("2x + 3y = 6", "4x + 6y = 12", true),
    ("2x + 3y = 6", "4x + 6y = 13", false),
    ("x > 3", r"(3,\infty)", true),
    (r"(3,\infty)", "x>3", true),
    (r"x \geq 3", r"[3, \infty)", true),
    (r"x \ge 3", r"x \geq 3", true),
    ("3 < x", "x > 3", true),
    (r"-2 < x \le 5", "(-2, 5]", true),
    (r"x \le 5", r"(-\infty, 5]", true),
    (r"x \in [1, 2]", "[1,2]", true),
    // --- tuples, intervals, sets, lists, matrices ---
    ("(1,2)", "(1, 2)", true),
    ("(-11,9)", "(-11, 9)", true),
    ("(4,5)", "4, 5", true),
    ("[1,2]", "[1, 2]", true),
    ("(1,2]", "(1, 2]", true),
    (r"(-\infty,0]\cup[4,\infty)", r"(-\infty, 0] \cup [4, \infty)", true),
    (r"(-\infty,0]\cup[4,\infty)", r"[4,\infty) \cup (-\infty,0]", true),
    (r"(-\infty,0]\cup[4,\infty)", r"(-\infty,0)\cup[4,\infty)", false),
    (r"\{1,2\}", r"\{2,1\}", true),
    (r"\{1,2\}", "2, 1", true),
    ("2, 3", "3, 2", true),
    ("2, 3", r"\{3, 2\}", true),
    ("2, 3", "x=2, x=3", true),
    ("2, 3", r"2 \text{ and } 3", true),
    ("2, 3", "2 and 3", true),
    (r"-\frac{3}{2}, -1, 7", r"7, -1, -1.5", true),
    (r"1\pm\sqrt{2}", r"1+\sqrt{2}, 1-\sqrt{2}", true),
    (r"1+\sqrt{2}, 1-\sqrt{2}", r"1 \pm \sqrt 2", true),
    (r"\pm 3", "3, -3", true),
    (r"\pm 3", "3", false),
    (r"\{5\}", "5", true),
    (r"\emptyset", r"\{\}", true),
    (
        r"\begin{pmatrix} 3/5 \\ 57/5 \end{pmatrix}",
        r"\begin{pmatrix} 0.6 \\ 11.4 \end{pmatrix}",
        true,
    ),
    (r"\begin{pmatrix} -6 \\ 9 \end{pmatrix}", "(-6, 9)", true),
    (r"\begin{pmatrix} -6 \\ 9 \end{pmatrix}", r"\begin{bmatrix} -6 \\ 9 \end{bmatrix}", true),
    (
        r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}",
        r"\begin{pmatrix}1&2\\3&4\end{pmatrix}",
        true,
    ),
    (r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}", "(1, 2, 3, 4)", false),
    // --- irrational values and symbolic expressions ---
    (r"\frac{\sqrt{3}}{3}", r"\frac{1}{\sqrt{3}}", true),
    (r"\sqrt{2}", r"\sqrt2", true),
    (r"\sqrt{2}", r"2^{1/2}", true),
    (r"1+\sqrt5", r"\sqrt{5}+1", true),
    (r"4+2\sqrt{2}", r"2(2+\sqrt{2})", true),
    (r"4\sqrt{13}", r"\sqrt{208}", true),
    (r"9 \pi", r"9\pi", true),
    (r"9\pi", r"\pi \cdot 9", true),
    (r"\frac{\pi}{4}", r"0.25\pi", true),
    (r"2\sqrt{2}", "2.8284271247461903", true),
    ("2(x+1)", "2x+2", true),
    ("(x-5)(x^2-4x+7)", "x^3-9x^2+27x-35", true),
    ("(x-5)(x^2-4x+7)", "x^3-9x^2+27x-36", false),
    ("8x^3 - 6x - 1", "-1 - 6x + 8x^3", true),
    ("9c+6", "3(3c+2)", true),
    (r"\frac{x+1}{x-1}", r"\frac{2x+2}{2x-2}", true),
    (r"\sin^2 x + \cos^2 x", "1", true),
    ("1", r"\sin^2 x + \cos^2 x", true),
    (r"\ln 9", r"2\ln 3", true),
    (r"e^{2}", r"\exp(2)", true),
    (r"\sqrt{x^2}", "|x|", true),
    (r"\sqrt{x^2}", "x", false),
    (r"\frac{a}{b}", r"a/b", true),
    // A bare letter run is text, compared in order: "no" is not "on".
    ("xy", "yx", false),
    ("2xy", "2yx", true),
    (r"\frac{1}{2}x", "x/2", true),
    ("0", r"\sin(\pi)", true),
    (r"\tan\frac{\pi}{4}", "1", true),
    (r"\infty", r"\infty", true),
    (r"-\infty", r"-\infty", true),
    // --- complex numbers ---
    ("4 + 6i", "6i + 4", true),
    ("4+6i", "4 + 6 i", true),
    ("i", r"\sqrt{-1}", true),
    ("2i", "(1+i)^2", true),
    (r"\frac{1}{2} - \frac{1}{2}i", r"\frac{1-i}{2}", true),
    ("1-i", r"\frac{2}{1+i}", true),
    // --- bases ---
    ("1010_2", "1010_2", true),
    ("1010_2", "1010", true),
    ("1010_2", "10_{10}", true),
    ("1010_{2}", "1010_2", true),
    ("2A_{16}", "42", false),
    // --- multiple choice letters ---
    ("(C)", "C", true),
    ("C", "(C)", true),
    ("C", r"\text{C}", true),
    (r"\text{(A)}", r"\text{(A)}", true),
    // --- `a,bcd` at top level: thousands or a list; both readings count ---
    ("70,110", "70, 110", true),
    ("70,110", "110, 70", true),
    ("15,600", "15600", true),
    ("70,110", "70", false),
    ("70,110", "7011", false),
    ("1, 0", "10", false),
    // --- from the math-verify cross-check: answers of other problems it accepted ---
    ("0", r"p_{Y}(y)=1 / 2$ for $y=1$, 2; otherwise, $p_{Y}(y)=0", false),
    ("(9,11)", r"\{9, 11\}", false),
    ("(8,4,2)", r"\{8, 4, 2\}", false),
    // --- more traps and normalisations ---
    ("3", "3x", false),
    ("x", "2x", false),
    ("2x", "x^2", false),
    (r"\sqrt{3}", "3", false),
    (r"\sqrt{3}", r"\sqrt{3}x", false),
    (r"\frac{\pi}{2}", r"\pi", false),
    ("0", "O", false),
    ("1", "l", false),
    (r"\{1, 2\}", r"\{1, 2, 2\}", false),
    ("(0,1)", "(0,1,0)", false),
    ("1000", "1,000,0", false),
    ("1.000", "1000", false),
    ("1e3", "1e4", false),
    ("2^{10}", "2^{11}", false),
    ("10!", "3628801", false),
    (r"\log_2 8", "4", false),
    ("5%", "5.5", false),
    ("7", "7%", false),
    (r"\$1.50", "1.5", true),
    (r"\$1.50", "1.50 dollars", true),
    ("30", r"30^\circ", true),
    (r"\frac{1}{4}", "0.25", true),
    (r"\frac{1}{4}", "25%", true),
    ("-0", "0", true),
    ("0.0", "0", true),
    ("1/3", r"\frac{2}{6}", true),
    (r"\frac{-1}{-2}", "0.5", true),
    (r"a^2 + b^2", "b^2 + a^2", true),
    (r"\frac{1}{x}", "x^{-1}", true),
    (r"\sqrt{x}", "x^{1/2}", true),
    ("3x^2", r"3 \cdot x^2", true),
    ("(x+1)^2", "x^2+2x+1", true),
    ("(x+1)^2", "x^2+2x+2", false),
];

#[test]
fn table() {
    let mut failures = Vec::new();
    for &(gold, pred, want) in CASES {
        if equivalent(gold, pred) != want {
            failures.push(format!("equivalent({gold:?}, {pred:?}) should be {want}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

#[test]
fn percent_policies() {
    let value = Checker::default().percent_policy(PercentPolicy::Value);
    assert!(value.equivalent(r"50\%", "0.5"));
    assert!(!value.equivalent(r"50\%", "50"));
    let ignore = Checker::default().percent_policy(PercentPolicy::Ignore);
    assert!(ignore.equivalent(r"50\%", "50"));
    assert!(!ignore.equivalent(r"50\%", "0.5"));
}

#[test]
fn rounding_is_licensed_by_the_question() {
    // The licence says answers are rounded at 2 places: either side may be the rounded one.
    let c = Checker::default().rounded_to(Some(2));
    assert!(c.equivalent("0.33", r"\frac{1}{3}"));
    assert!(c.equivalent(r"\frac{1}{3}", "0.33"));
    assert!(!c.equivalent(r"\frac{1}{3}", "0.3"));
    assert!(c.equivalent("1.41", r"\sqrt{2}"));
    assert!(!c.equivalent("1.42", r"\sqrt{2}"));
    assert!(!c.equivalent("0.34", r"\frac{1}{3}"));
    // Without a licence a decimal gold is exact.
    let strict = Checker::default();
    assert!(!strict.equivalent("0.33", r"\frac{1}{3}"));
    assert!(!strict.equivalent("1.41", r"\sqrt{2}"));
    assert!(!strict.equivalent("0.5", r"\frac{7}{15}"));
    // The question's wording grants it.
    let q = Checker::default().with_question("Express your answer to the nearest hundredth.");
    assert!(q.equivalent("0.33", r"\frac{1}{3}"));
    // So does a gold that says it is approximate.
    assert!(strict.equivalent(r"\approx 0.33", r"\frac{1}{3}"));
}

#[test]
fn relative_tolerance_is_configurable() {
    let loose = Checker::default().relative_tolerance(1e-3);
    assert!(loose.equivalent(r"\pi", "3.1416"));
    assert!(!Checker::default().equivalent(r"\pi", "3.1416"));
    // Rational values never use the tolerance.
    assert!(!loose.equivalent("1", "1.0001"));
}

#[test]
fn case_count() {
    assert!(CASES.len() >= 250, "only {} cases", CASES.len());
}
