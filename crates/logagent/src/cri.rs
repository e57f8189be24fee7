//! The CRI log format the kubelet's runtimes write under /var/log/pods:
//! `<RFC3339Nano time> <stdout|stderr> <F|P> <message>` per line, where `P` marks a partial line
//! (the runtime split a long line) that continues in the next `P`/`F` lines of the same stream.

/// One parsed CRI line.
#[derive(Debug, PartialEq, Eq)]
pub struct CriLine<'a> {
    pub time: &'a str,
    pub stream: &'a str,
    pub partial: bool,
    pub message: &'a str,
}

/// Parses one line (without its newline). Lines not in the format are returned whole as the
/// message of an `unknown` stream, so that nothing is dropped.
pub fn parse(line: &str) -> CriLine<'_> {
    let mut parts = line.splitn(4, ' ');
    let (Some(time), Some(stream), Some(tag)) = (parts.next(), parts.next(), parts.next()) else {
        return CriLine { time: "", stream: "unknown", partial: false, message: line };
    };
    let message = parts.next().unwrap_or("");
    if !(stream == "stdout" || stream == "stderr") || !(tag == "F" || tag == "P" || tag.starts_with("F:")) {
        return CriLine { time: "", stream: "unknown", partial: false, message: line };
    }
    CriLine { time, stream, partial: tag == "P", message }
}

/// Joins partial lines per stream (stdout and stderr interleave in one file).
#[derive(Default, Debug)]
pub struct Joiner {
    stdout: Option<String>,
    stderr: Option<String>,
}

impl Joiner {
    /// Feeds one parsed line; returns the full message when the line completes one.
    pub fn feed(&mut self, line: &CriLine<'_>) -> Option<String> {
        let slot = match line.stream {
            "stdout" => &mut self.stdout,
            "stderr" => &mut self.stderr,
            _ => return Some(line.message.to_string()),
        };
        if line.partial {
            slot.get_or_insert_with(String::new).push_str(line.message);
            return None;
        }
        Some(match slot.take() {
            Some(mut acc) => {
                acc.push_str(line.message);
                acc
            }
            None => line.message.to_string(),
        })
    }

    /// Whether a partial line is waiting for its end (its start must be read again after a
    /// restart: the checkpoint never passes an unfinished line).
    pub fn pending(&self) -> bool {
        self.stdout.is_some() || self.stderr.is_some()
    }

    pub fn reset(&mut self) {
        self.stdout = None;
        self.stderr = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_joins_partials_per_stream() {
        let l = parse("2026-12-07T22:00:00.123456789Z stdout F hello world");
        assert_eq!(
            l,
            CriLine {
                time: "2026-12-07T22:00:00.123456789Z",
                stream: "stdout",
                partial: false,
                message: "hello world"
            }
        );
        let mut j = Joiner::default();
        assert_eq!(j.feed(&parse("t stdout P abc")), None);
        assert_eq!(j.feed(&parse("t stderr F err")), Some("err".into()));
        assert!(j.pending());
        assert_eq!(j.feed(&parse("t stdout P def")), None);
        assert_eq!(j.feed(&parse("t stdout F ghi")), Some("abcdefghi".into()));
        assert!(!j.pending());
        assert_eq!(j.feed(&parse("t stdout F ")), Some(String::new()));
    }

    #[test]
    fn keeps_lines_that_are_not_cri() {
        let l = parse("plain text line");
        assert_eq!(l.stream, "unknown");
        assert_eq!(l.message, "plain text line");
        assert_eq!(parse("x").message, "x");
    }
}
