//! Turning a sample's token bytes into streamed text.
//!
//! Tokens do not align with characters (one emoji can span several tokens) nor with stop
//! strings (a stop string can span tokens). The assembler decodes UTF-8 incrementally and
//! holds back any tail that could still become a stop string, so a streamed delta is never
//! retracted and the deltas of a sample always add up to its final text.

/// Incremental text of one sample. Invariant: `emitted <= text.len()` and both are on char
/// boundaries; no stop string occurs in `text[..emitted]`.
#[derive(Debug)]
pub struct TextAssembler {
    stops: Vec<String>,
    pending: Vec<u8>,
    text: String,
    emitted: usize,
    stopped: bool,
}

/// What one push produced.
#[derive(Debug, PartialEq, Eq)]
pub struct Pushed {
    /// Text that is now final and may be streamed.
    pub delta: String,
    /// A stop string was found; the sample is over.
    pub stopped: bool,
}

impl TextAssembler {
    pub fn new(stops: &[String]) -> Self {
        Self {
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
            pending: Vec::new(),
            text: String::new(),
            emitted: 0,
            stopped: false,
        }
    }

    /// Adds the bytes of one token.
    pub fn push(&mut self, bytes: &[u8]) -> Pushed {
        if self.stopped {
            return Pushed { delta: String::new(), stopped: true };
        }
        self.pending.extend_from_slice(bytes);
        self.decode_pending(false);
        self.advance()
    }

    /// Ends the sample: flushes held-back text and any incomplete UTF-8 (as U+FFFD).
    pub fn finish(&mut self) -> String {
        if self.stopped {
            return String::new();
        }
        self.decode_pending(true);
        let delta = self.text[self.emitted..].to_string();
        self.emitted = self.text.len();
        delta
    }

    /// The text so far, cut before the stop string if one was found.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn stopped(&self) -> bool {
        self.stopped
    }

    fn decode_pending(&mut self, flush: bool) {
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    self.text.push_str(s);
                    self.pending.clear();
                    return;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    // SAFETY of the unwrap: from_utf8 just said this prefix is valid.
                    self.text.push_str(std::str::from_utf8(&self.pending[..valid]).unwrap());
                    match e.error_len() {
                        Some(bad) => {
                            self.text.push('\u{FFFD}');
                            self.pending.drain(..valid + bad);
                        }
                        None if flush => {
                            self.text.push('\u{FFFD}');
                            self.pending.clear();
                            return;
                        }
                        None => {
                            self.pending.drain(..valid);
                            return;
                        }
                    }
                }
            }
        }
    }

    fn advance(&mut self) -> Pushed {
        let unsent = &self.text[self.emitted..];
        let first_stop = self.stops.iter().filter_map(|s| unsent.find(s.as_str())).min();
        if let Some(at) = first_stop {
            let end = self.emitted + at;
            let delta = self.text[self.emitted..end].to_string();
            self.text.truncate(end);
            self.emitted = end;
            self.stopped = true;
            return Pushed { delta, stopped: true };
        }
        let held = self.longest_stop_prefix_suffix(unsent);
        let end = self.text.len() - held;
        let delta = self.text[self.emitted..end].to_string();
        self.emitted = end;
        Pushed { delta, stopped: false }
    }

    /// Length in bytes of the longest suffix of `s` that is a proper prefix of a stop string.
    fn longest_stop_prefix_suffix(&self, s: &str) -> usize {
        let mut best = 0;
        for stop in &self.stops {
            for (i, _) in stop.char_indices().skip(1) {
                let prefix = &stop[..i];
                if i > best && s.ends_with(prefix) {
                    best = i;
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], pieces: &[&[u8]]) -> (Vec<String>, String, bool) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut a = TextAssembler::new(&stops);
        let mut deltas = Vec::new();
        for p in pieces {
            let r = a.push(p);
            deltas.push(r.delta);
            if r.stopped {
                break;
            }
        }
        deltas.push(a.finish());
        let joined: String = deltas.concat();
        assert_eq!(joined, a.text(), "deltas must add up to the final text");
        (deltas, a.text().to_string(), a.stopped())
    }

    #[test]
    fn stop_string_split_across_tokens_is_never_streamed() {
        let (deltas, text, stopped) = run(&["```"], &[b"x = 1\n`", b"`", b"`\nmore"]);
        assert_eq!(text, "x = 1\n");
        assert!(stopped);
        assert!(deltas.iter().all(|d| !d.contains('`')));
    }

    #[test]
    fn held_back_prefix_is_released_when_it_does_not_complete() {
        let (deltas, text, stopped) = run(&["</s>"], &[b"a </", b"b>"]);
        assert_eq!(deltas[0], "a ");
        assert_eq!(text, "a </b>");
        assert!(!stopped);
    }

    #[test]
    fn earliest_of_several_stops_wins() {
        let (_, text, _) = run(&["B", "A"], &[b"xxAyyB"]);
        assert_eq!(text, "xx");
    }

    #[test]
    fn utf8_split_across_tokens_is_reassembled() {
        let bytes = "π≈3".as_bytes();
        let (deltas, text, _) = run(&[], &[&bytes[..1], &bytes[1..4], &bytes[4..]]);
        assert_eq!(text, "π≈3");
        assert_eq!(deltas[0], "");
    }

    #[test]
    fn invalid_and_truncated_utf8_become_replacement_chars() {
        let (_, text, _) = run(&[], &[b"a\xffb", b"\xe2\x89"]);
        assert_eq!(text, "a\u{FFFD}b\u{FFFD}");
    }
}
