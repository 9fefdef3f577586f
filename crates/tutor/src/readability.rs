//! How hard a reply is to read: the Flesch–Kincaid grade level.
//!
//! FK grade = 0.39 · words/sentences + 11.8 · syllables/words − 15.59. Syllables are
//! counted with the usual vowel-group heuristic (a silent final `e` dropped, at least one
//! per word), which is within a syllable for most English words — good enough to tell a
//! third-grade reply from a textbook sentence, which is all the tutor asks of it. Hand-written
//! because the formula is three lines and no maintained crate offers it with a syllable
//! counter that treats numbers and math sensibly: numbers count as one short word.

/// The Flesch–Kincaid grade of `text` (0 for text without words).
///
/// ```
/// use hypatia_tutor::readability::grade_level;
/// let easy = grade_level("Look at the first step. What did you add?");
/// let hard = grade_level("Consider reexamining the multiplicative relationship characterizing the proportional quantities.");
/// assert!(easy < 3.0 && hard > 12.0, "{easy} {hard}");
/// ```
pub fn grade_level(text: &str) -> f64 {
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == '/' || c == '-')
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() {
        return 0.0;
    }
    let sentences =
        text.split(['.', '!', '?']).filter(|s| s.chars().any(char::is_alphanumeric)).count().max(1);
    let syllables: usize = words.iter().map(|w| syllables(w)).sum();
    let w = words.len() as f64;
    (0.39 * w / sentences as f64 + 11.8 * syllables as f64 / w - 15.59).max(0.0)
}

/// Syllables of one word by vowel groups; numbers and symbols count as one.
pub fn syllables(word: &str) -> usize {
    let lower = word.to_ascii_lowercase();
    if !lower.chars().any(|c| c.is_ascii_alphabetic()) {
        return 1;
    }
    let is_vowel = |c: char| "aeiouy".contains(c);
    let chars: Vec<char> = lower.chars().filter(char::is_ascii_alphabetic).collect();
    let mut count: usize = 0;
    let mut previous_vowel = false;
    for &c in &chars {
        let v = is_vowel(c);
        if v && !previous_vowel {
            count += 1;
        }
        previous_vowel = v;
    }
    let n = chars.len();
    // A silent final e ("make"), but not "-le" after a consonant ("table").
    if n > 2 && chars[n - 1] == 'e' && !is_vowel(chars[n - 2]) {
        let consonant_le = chars[n - 2] == 'l' && !is_vowel(chars[n - 3]);
        if !consonant_le {
            count = count.saturating_sub(1);
        }
    }
    count.max(1)
}

/// The highest grade level a reply for a student in `grade` may have: two grades of
/// slack, and never below 4, because even the shortest math sentence ("What is
/// 3 times 4?") scores a couple of grades on the formula.
pub fn limit_for(grade: u8) -> f64 {
    (grade as f64 + 2.0).max(4.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syllable_counts_of_common_words() {
        for (w, n) in [
            ("cat", 1),
            ("make", 1),
            ("table", 2),
            ("apple", 2),
            ("banana", 3),
            ("multiply", 3),
            ("the", 1),
            ("42", 1),
        ] {
            assert_eq!(syllables(w), n, "{w}");
        }
    }

    #[test]
    fn empty_text_is_grade_zero() {
        assert_eq!(grade_level("  ... "), 0.0);
    }
}
