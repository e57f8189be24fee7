//! The shell's grammar: a command line is pipelines joined by `;`, `&&` and `||`; a pipeline is
//! commands joined by `|`; a command is words and redirections (`>`, `>>`, `<`, `2>`, `2>>`,
//! `2>&1`). Words keep their `$VAR` references unexpanded, so that `export A=1; echo $A` sees
//! the value set before it runs. Quoting is POSIX's: single quotes take everything literally,
//! double quotes expand variables and honour `\` before `$`, `"`, `\` and `` ` ``.

/// One piece of a word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    Lit(String),
    /// `$NAME`, `${NAME}`, `$?`, `$$`.
    Var(String),
}

/// A word as written: its pieces, and whether any part was quoted (so `""` is an empty
/// argument rather than none).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Word {
    pub pieces: Vec<Piece>,
    pub quoted: bool,
}

impl Word {
    fn push_char(&mut self, c: char) {
        match self.pieces.last_mut() {
            Some(Piece::Lit(s)) => s.push(c),
            _ => self.pieces.push(Piece::Lit(c.to_string())),
        }
    }

    fn is_empty(&self) -> bool {
        self.pieces.is_empty() && !self.quoted
    }

    /// The word when it is plain text (no variables, no quotes): for recognising `2>`.
    fn plain(&self) -> Option<&str> {
        match self.pieces.as_slice() {
            [Piece::Lit(s)] if !self.quoted => Some(s),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RedirectKind {
    /// `>` and `>>` (append).
    Out { append: bool },
    /// `2>` and `2>>`.
    Err { append: bool },
    /// `2>&1`.
    ErrToOut,
    /// `<`.
    In,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redirect {
    pub kind: RedirectKind,
    /// The file (empty for `2>&1`).
    pub target: Word,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Command {
    pub words: Vec<Word>,
    pub redirects: Vec<Redirect>,
}

/// How a pipeline is joined to the one before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Join {
    /// First, or after `;`: always runs.
    Always,
    /// After `&&`: runs when the previous status was 0.
    And,
    /// After `||`: runs when the previous status was not 0.
    Or,
}

/// A command line.
pub type List = Vec<(Join, Vec<Command>)>;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Word(Word),
    Pipe,
    And,
    Or,
    Semi,
    Redirect(RedirectKind),
}

/// Why a line cannot be run, as sh says it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError(pub String);

impl std::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Reads a `$` reference after the `$` at `chars[*i - 1]`; `None` when what follows is not a
/// name (the `$` is then literal).
fn variable(chars: &[char], i: &mut usize) -> Result<Option<String>, SyntaxError> {
    match chars.get(*i) {
        Some('?') | Some('$') | Some('#') => {
            *i += 1;
            Ok(Some(chars[*i - 1].to_string()))
        }
        Some('{') => {
            let start = *i + 1;
            let end = chars[start..]
                .iter()
                .position(|c| *c == '}')
                .ok_or_else(|| SyntaxError("sh: syntax error: missing '}'".into()))?;
            let name: String = chars[start..start + end].iter().collect();
            if name.is_empty() || !name.chars().all(is_name_char) {
                return Err(SyntaxError(format!("sh: ${{{name}}}: bad substitution")));
            }
            *i = start + end + 1;
            Ok(Some(name))
        }
        Some(c) if is_name_start(*c) => {
            let start = *i;
            while chars.get(*i).is_some_and(|c| is_name_char(*c)) {
                *i += 1;
            }
            Ok(Some(chars[start..*i].iter().collect()))
        }
        _ => Ok(None),
    }
}

fn tokens(line: &str) -> Result<Vec<Tok>, SyntaxError> {
    let chars: Vec<char> = line.chars().collect();
    let mut out = Vec::new();
    let mut word = Word::default();
    let mut i = 0;
    let flush = |word: &mut Word, out: &mut Vec<Tok>| {
        if !word.is_empty() {
            out.push(Tok::Word(std::mem::take(word)));
        }
    };
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            ' ' | '\t' | '\r' | '\n' => flush(&mut word, &mut out),
            '#' if word.is_empty() => break,
            '\'' => {
                word.quoted = true;
                let end = chars[i..]
                    .iter()
                    .position(|c| *c == '\'')
                    .ok_or_else(|| SyntaxError("sh: syntax error: unterminated quoted string".into()))?;
                for c in &chars[i..i + end] {
                    word.push_char(*c);
                }
                i += end + 1;
            }
            '"' => {
                word.quoted = true;
                loop {
                    let Some(&c) = chars.get(i) else {
                        return Err(SyntaxError("sh: syntax error: unterminated quoted string".into()));
                    };
                    i += 1;
                    match c {
                        '"' => break,
                        '\\' if matches!(chars.get(i), Some('$' | '"' | '\\' | '`')) => {
                            word.push_char(chars[i]);
                            i += 1;
                        }
                        '$' => match variable(&chars, &mut i)? {
                            Some(name) => word.pieces.push(Piece::Var(name)),
                            None => word.push_char('$'),
                        },
                        c => word.push_char(c),
                    }
                }
            }
            '\\' => {
                if let Some(&next) = chars.get(i) {
                    word.quoted = true;
                    word.push_char(next);
                    i += 1;
                }
            }
            '$' => match variable(&chars, &mut i)? {
                Some(name) => word.pieces.push(Piece::Var(name)),
                None => word.push_char('$'),
            },
            '|' => {
                flush(&mut word, &mut out);
                if chars.get(i) == Some(&'|') {
                    i += 1;
                    out.push(Tok::Or);
                } else {
                    out.push(Tok::Pipe);
                }
            }
            '&' => {
                flush(&mut word, &mut out);
                if chars.get(i) == Some(&'&') {
                    i += 1;
                    out.push(Tok::And);
                } else {
                    return Err(SyntaxError("sh: background jobs (&) are not supported here".into()));
                }
            }
            ';' => {
                flush(&mut word, &mut out);
                out.push(Tok::Semi);
            }
            '<' => {
                flush(&mut word, &mut out);
                out.push(Tok::Redirect(RedirectKind::In));
            }
            '>' => {
                let append = chars.get(i) == Some(&'>');
                if append {
                    i += 1;
                }
                if word.plain() == Some("2") {
                    word = Word::default();
                    if !append && chars.get(i) == Some(&'&') && chars.get(i + 1) == Some(&'1') {
                        i += 2;
                        out.push(Tok::Redirect(RedirectKind::ErrToOut));
                    } else {
                        out.push(Tok::Redirect(RedirectKind::Err { append }));
                    }
                } else {
                    flush(&mut word, &mut out);
                    out.push(Tok::Redirect(RedirectKind::Out { append }));
                }
            }
            c => word.push_char(c),
        }
    }
    flush(&mut word, &mut out);
    Ok(out)
}

fn unexpected(tok: Option<&Tok>) -> SyntaxError {
    let t = match tok {
        None => "end of file",
        Some(Tok::Pipe) => "|",
        Some(Tok::And) => "&&",
        Some(Tok::Or) => "||",
        Some(Tok::Semi) => ";",
        Some(Tok::Redirect(_)) => "redirection",
        Some(Tok::Word(_)) => "word",
    };
    SyntaxError(format!("sh: syntax error: unexpected {t}"))
}

/// Parses one command line.
pub fn parse(line: &str) -> Result<List, SyntaxError> {
    let toks = tokens(line)?;
    let mut list: List = Vec::new();
    let mut join = Join::Always;
    let mut pipeline: Vec<Command> = Vec::new();
    let mut cmd = Command::default();
    let mut it = toks.into_iter().peekable();
    while let Some(tok) = it.next() {
        match tok {
            Tok::Word(w) => cmd.words.push(w),
            Tok::Redirect(kind) => {
                let target = if kind == RedirectKind::ErrToOut {
                    Word::default()
                } else {
                    match it.next() {
                        Some(Tok::Word(w)) => w,
                        other => return Err(unexpected(other.as_ref())),
                    }
                };
                cmd.redirects.push(Redirect { kind, target });
            }
            Tok::Pipe => {
                if cmd.words.is_empty() {
                    return Err(unexpected(Some(&Tok::Pipe)));
                }
                pipeline.push(std::mem::take(&mut cmd));
                if it.peek().is_none() {
                    return Err(unexpected(None));
                }
            }
            sep @ (Tok::And | Tok::Or | Tok::Semi) => {
                if cmd.words.is_empty() && cmd.redirects.is_empty() {
                    return Err(unexpected(Some(&sep)));
                }
                pipeline.push(std::mem::take(&mut cmd));
                list.push((join, std::mem::take(&mut pipeline)));
                join = match sep {
                    Tok::And => Join::And,
                    Tok::Or => Join::Or,
                    _ => Join::Always,
                };
                if join != Join::Always && it.peek().is_none() {
                    return Err(unexpected(None));
                }
            }
        }
    }
    if !cmd.words.is_empty() || !cmd.redirects.is_empty() {
        pipeline.push(cmd);
    }
    if !pipeline.is_empty() {
        list.push((join, pipeline));
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Word {
        Word { pieces: vec![Piece::Lit(s.into())], quoted: false }
    }

    fn words(line: &str) -> Vec<Vec<Word>> {
        parse(line).unwrap().into_iter().flat_map(|(_, p)| p.into_iter().map(|c| c.words)).collect()
    }

    #[test]
    fn words_quotes_and_variables() {
        assert_eq!(words("ls  -l /"), vec![vec![lit("ls"), lit("-l"), lit("/")]]);
        let w = &words(r#"echo 'a $B' "c $D${E}f" \$g $"#)[0];
        assert_eq!(w[1], Word { pieces: vec![Piece::Lit("a $B".into())], quoted: true });
        assert_eq!(
            w[2],
            Word {
                pieces: vec![
                    Piece::Lit("c ".into()),
                    Piece::Var("D".into()),
                    Piece::Var("E".into()),
                    Piece::Lit("f".into())
                ],
                quoted: true
            }
        );
        assert_eq!(w[3], Word { pieces: vec![Piece::Lit("$g".into())], quoted: true });
        assert_eq!(w[4], lit("$"));
        assert_eq!(words(r#"echo "" x"#)[0][1], Word { pieces: vec![], quoted: true });
        assert_eq!(
            words("echo $? # comment")[0],
            vec![lit("echo"), Word { pieces: vec![Piece::Var("?".into())], quoted: false }]
        );
        assert_eq!(words(r#"echo "say \"hi\"""#)[0][1].pieces, vec![Piece::Lit("say \"hi\"".into())]);
    }

    #[test]
    fn pipelines_lists_and_redirections() {
        let list = parse("cat /etc/hosts | grep local > /tmp/x; false && echo no || echo yes").unwrap();
        let joins: Vec<Join> = list.iter().map(|(j, _)| *j).collect();
        assert_eq!(joins, [Join::Always, Join::Always, Join::And, Join::Or]);
        assert_eq!(list[0].1.len(), 2);
        assert_eq!(
            list[0].1[1].redirects,
            vec![Redirect { kind: RedirectKind::Out { append: false }, target: lit("/tmp/x") }]
        );
        let list = parse("ls /nope 2>/dev/null >>out 2>&1 < in").unwrap();
        let kinds: Vec<RedirectKind> = list[0].1[0].redirects.iter().map(|r| r.kind.clone()).collect();
        assert_eq!(
            kinds,
            [
                RedirectKind::Err { append: false },
                RedirectKind::Out { append: true },
                RedirectKind::ErrToOut,
                RedirectKind::In
            ]
        );
        assert_eq!(list[0].1[0].words, vec![lit("ls"), lit("/nope")]);
        assert_eq!(parse("").unwrap(), List::new());
        assert_eq!(parse("echo a;").unwrap().len(), 1);
    }

    #[test]
    fn syntax_errors_say_what_is_wrong() {
        for (line, message) in [
            ("| ls", "sh: syntax error: unexpected |"),
            ("ls |", "sh: syntax error: unexpected end of file"),
            ("ls &&", "sh: syntax error: unexpected end of file"),
            ("; ls", "sh: syntax error: unexpected ;"),
            ("echo >", "sh: syntax error: unexpected end of file"),
            ("echo 'open", "sh: syntax error: unterminated quoted string"),
            ("echo \"open", "sh: syntax error: unterminated quoted string"),
            ("sleep 1 &", "sh: background jobs (&) are not supported here"),
            ("echo ${A B}", "sh: ${A B}: bad substitution"),
        ] {
            assert_eq!(parse(line).unwrap_err().0, message, "{line}");
        }
    }
}
