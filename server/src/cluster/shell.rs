//! POSIX shell quoting for the pull request pod's scripts. Branch names, paths, chart
//! names and URLs come from users; every one of them reaches `sh -c` only through
//! [`quote`], so no input can end the word it is in.

/// Quotes `s` as one POSIX shell word: wrapped in single quotes, each `'` written as
/// `'\''`. Inside single quotes the shell interprets nothing, so this is complete.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Quotes every word and joins them with spaces: one shell command line.
pub fn command<I, S>(words: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    words
        .into_iter()
        .map(|w| quote(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `sh -c 'printf %s <quoted>'` and returns what the shell saw as one word.
    fn round_trip(s: &str) -> String {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {}", quote(s)))
            .output()
            .expect("sh runs");
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn plain_words_are_wrapped() {
        assert_eq!(quote("main"), "'main'");
        assert_eq!(quote(""), "''");
    }

    #[test]
    fn single_quotes_cannot_end_the_word() {
        assert_eq!(quote("'; rm -rf /"), "''\\''; rm -rf /'");
    }

    #[test]
    fn hostile_input_reaches_the_command_as_one_literal_word() {
        for hostile in [
            "'; rm -rf /",
            "$(reboot)",
            "`id`",
            "a\nb",
            "x' \"y\" $HOME \\ ; | & > <",
            "--set=evil",
        ] {
            assert_eq!(round_trip(hostile), hostile);
        }
    }

    #[test]
    fn commands_quote_every_word() {
        assert_eq!(command(["helm", "a b"]), "'helm' 'a b'");
    }
}
