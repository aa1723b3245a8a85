//! GitHub-flavoured Markdown that stays intact whatever it quotes. The PR comment
//! shows text Catalyst does not control (error messages, health-check output,
//! container logs, label names); none of it may close a code fence, open an HTML
//! element, forge the comment's hidden marker, or @-mention someone.
//!
//! Every helper caps its output, so the comment's total size has a known bound.

/// Zero-width space: invisible, but breaks a run of backticks or an `@mention`.
const ZWSP: char = '\u{200B}';

/// Inline prose: newlines folded into spaces (a blank line would end the paragraph),
/// HTML and Markdown punctuation escaped, mentions defused, at most `max_chars`
/// characters of input (an ellipsis marks a cut).
pub fn inline(text: &str, max_chars: usize) -> String {
    let mut out = String::new();
    for c in fold_whitespace(&clip(text, max_chars)).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '@' => {
                out.push('@');
                out.push(ZWSP);
            }
            c => out.push(c),
        }
    }
    out
}

/// An inline code span around `text` (newlines folded, at most `max_chars`). The
/// delimiter is one backtick longer than the longest run inside, as CommonMark asks.
/// Mentions and Markdown are inert inside a code span.
pub fn code_span(text: &str, max_chars: usize) -> String {
    let body = fold_whitespace(&clip(text, max_chars));
    let fence = "`".repeat(longest_backtick_run(&body) + 1);
    // Padding keeps a leading or trailing backtick from merging with the delimiter;
    // CommonMark strips exactly one space on each side.
    if body.starts_with('`') || body.ends_with('`') || body.is_empty() {
        format!("{fence} {body} {fence}")
    } else {
        format!("{fence}{body}{fence}")
    }
}

/// A fenced code block holding `text`'s lines, made safe by [`sanitize_line`].
pub fn code_block(text: &str) -> String {
    let mut out = String::from("```text\n");
    for line in text.lines() {
        out.push_str(&sanitize_line(line));
        out.push('\n');
    }
    out.push_str("```");
    out
}

/// One line for a code block: ANSI colour codes and other control characters removed,
/// a carriage-return progress bar reduced to its final state, and no run of three
/// backticks left (a ZWSP goes after every second one), so the line can never close
/// the fence around it.
pub fn sanitize_line(line: &str) -> String {
    let line = line
        .rsplit('\r')
        .find(|part| !part.is_empty())
        .unwrap_or("");
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    let mut backticks = 0;
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI sequence: ESC [ parameters… final byte in '@'..='~'.
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            continue;
        }
        if c.is_control() && c != '\t' {
            continue;
        }
        if c == '`' {
            if backticks == 2 {
                out.push(ZWSP);
                backticks = 0;
            }
            backticks += 1;
        } else {
            backticks = 0;
        }
        out.push(c);
    }
    out
}

/// The last lines of a log for a code block: at most `max_lines` lines and
/// `max_bytes` bytes after sanitizing, keeping the newest. Returns the text and
/// whether anything was left out.
pub fn log_tail(lines: &[String], max_lines: usize, max_bytes: usize) -> (String, bool) {
    let start = lines.len().saturating_sub(max_lines);
    let mut kept: Vec<String> = Vec::new();
    let mut bytes = 0;
    let mut truncated = start > 0;
    for line in lines[start..].iter().rev() {
        let line = sanitize_line(line);
        let room = max_bytes.saturating_sub(bytes);
        if line.len() < room {
            bytes += line.len() + 1;
            kept.push(line);
        } else {
            truncated = true;
            if kept.is_empty() && room > 1 {
                // A single huge line: keep its end, which is usually where the error is.
                kept.push(tail_at_char_boundary(&line, room - 1).to_owned());
            }
            break;
        }
    }
    kept.reverse();
    (kept.join("\n"), truncated)
}

/// Cuts `text` to at most `max_chars` characters, marking a cut with an ellipsis.
pub fn clip(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        None => text.to_owned(),
        Some((end, _)) => {
            let keep = text[..end].char_indices().last().map_or(0, |(i, _)| i);
            format!("{}…", &text[..keep])
        }
    }
}

/// The longest suffix of `text` of at most `max_bytes` bytes that starts on a
/// character boundary.
fn tail_at_char_boundary(text: &str, max_bytes: usize) -> &str {
    let mut start = text.len().saturating_sub(max_bytes);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

fn fold_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether a fenced block opened with ``` would be closed early by `content`:
    /// CommonMark closes it on a line of three or more backticks after at most three
    /// spaces of indentation.
    fn closes_fence(content: &str) -> bool {
        content.lines().any(|line| {
            let trimmed = line.trim_start_matches(' ');
            line.len() - trimmed.len() <= 3 && trimmed.starts_with("```")
        })
    }

    #[test]
    fn inline_text_cannot_inject_markup_or_mentions() {
        let hostile = "<!-- catalyst-preview:comment v1 --> **bold** [x](y) | @octocat\n\n# h";
        let got = inline(hostile, 200);
        assert_eq!(
            got,
            "&lt;!-- catalyst-preview:comment v1 --&gt; \\*\\*bold\\*\\* \\[x\\](y) \\| \
             @\u{200B}octocat # h"
        );
    }

    #[test]
    fn inline_text_is_clipped_by_characters() {
        assert_eq!(inline("ééééé", 3), "éé…");
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("", 0), "");
    }

    #[test]
    fn code_spans_outgrow_the_backticks_inside() {
        assert_eq!(code_span("preview", 50), "`preview`");
        assert_eq!(code_span("a``b", 50), "```a``b```");
        assert_eq!(code_span("`x", 50), "`` `x ``");
        assert_eq!(code_span("", 50), "`  `");
    }

    #[test]
    fn log_lines_lose_colours_and_control_characters() {
        let line = "\u{1b}[31merror\u{1b}[0m: boom\u{7}\tdone";
        assert_eq!(sanitize_line(line), "error: boom\tdone");
        assert_eq!(sanitize_line("10%\r50%\r100%\r"), "100%");
    }

    #[test]
    fn no_line_content_can_close_the_fence() {
        let nasty = [
            "```",
            "   ````",
            "``````````",
            "`` ` ``` `",
            "```rust\n</details>\n```",
            "\u{1b}[1m```\u{1b}[0m",
            "`\u{0}``",
        ];
        for text in nasty {
            let block = code_block(text);
            let inner = &block["```text\n".len()..block.len() - "```".len()];
            assert!(!closes_fence(inner), "{text:?} -> {block:?}");
            assert!(!inner.contains("```"), "{text:?}");
        }
    }

    #[test]
    fn backtick_runs_of_any_length_are_broken_up() {
        // A cheap exhaustive property check over short strings of '`', ' ' and 'a'.
        let alphabet = ['`', ' ', 'a'];
        for len in 0..=7u32 {
            for n in 0..3usize.pow(len) {
                let mut k = n;
                let s: String = (0..len)
                    .map(|_| {
                        let c = alphabet[k % 3];
                        k /= 3;
                        c
                    })
                    .collect();
                let cleaned = sanitize_line(&s);
                assert!(!cleaned.contains("```"), "{s:?}");
                assert_eq!(cleaned.replace(ZWSP, ""), s, "only ZWSPs are added");
            }
        }
    }

    #[test]
    fn log_tail_keeps_the_newest_lines_within_both_caps() {
        let lines: Vec<String> = (1..=100).map(|i| format!("line {i}")).collect();
        let (text, truncated) = log_tail(&lines, 60, 20 * 1024);
        assert!(truncated);
        assert_eq!(text.lines().count(), 60);
        assert!(text.starts_with("line 41\n") && text.ends_with("line 100"));

        let (text, truncated) = log_tail(&lines[..3], 60, 1024);
        assert_eq!(
            (text.as_str(), truncated),
            ("line 1\nline 2\nline 3", false)
        );

        let (text, truncated) = log_tail(&lines, 60, 30);
        assert!(truncated);
        assert!(text.len() <= 30, "{text:?}");
        assert!(text.ends_with("line 100"));
    }

    #[test]
    fn one_huge_line_keeps_its_end() {
        let line = format!("{}THE END", "é".repeat(30_000));
        let (text, truncated) = log_tail(&[line], 60, 20 * 1024);
        assert!(truncated);
        assert!(text.len() < 20 * 1024);
        assert!(text.ends_with("THE END"));
        let (text, _) = log_tail(&["abc".to_owned()], 60, 0);
        assert_eq!(text, "");
    }
}
