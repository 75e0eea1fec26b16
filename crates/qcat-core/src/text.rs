//! Text that came from someone else (a sign-in name, an audit detail, a config value) made
//! safe to show: on a terminal a raw ESC, CR or line break can forge a whole line or clear
//! the screen, and bidirectional overrides can make a line read differently from what it
//! says. What is stored stays as it was sent; what is shown goes through [`escape_controls`].

use std::borrow::Cow;

/// Whether `c` changes how the text around it is displayed: C0 and C1 controls, DEL, and
/// the Unicode bidirectional and line/paragraph separators.
pub fn is_display_control(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}' | '\u{061c}'
        )
}

/// Whether `text` holds any character [`escape_controls`] would escape.
pub fn has_control(text: &str) -> bool {
    text.chars().any(is_display_control)
}

/// `text` with every display control written as a visible escape (`\n`, `\r`, `\t`, `\e`,
/// `\u{202e}`), so one entry prints as one line that says what it holds. A backslash is
/// doubled only when the text needs escaping at all, so ordinary text is unchanged.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !has_control(text) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{1b}' => out.push_str("\\e"),
            c if is_display_control(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// JSON text with the display controls JSON leaves raw (DEL, C1, bidi and line separators)
/// written as JSON `\u` escapes (`\u009b`, `\u202e`): still the same JSON value, but safe on a terminal and in a
/// viewer. serde_json already escapes C0 controls; these can only occur inside strings.
pub fn escape_json_controls(json: &str) -> Cow<'_, str> {
    if !json
        .chars()
        .any(|c| is_display_control(c) && u32::from(c) >= 0x7f)
    {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 8);
    for c in json.chars() {
        if is_display_control(c) && u32::from(c) >= 0x7f {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// At most `max_chars` characters of `text`; a longer text is cut and says how long it was,
/// so an unauthenticated caller cannot make the console store megabytes per attempt.
pub fn bounded(text: &str, max_chars: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max_chars) {
        None => Cow::Borrowed(text),
        Some((cut, _)) => Cow::Owned(format!("{}…({} bytes)", &text[..cut], text.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_shown_as_it_is() {
        // Escaping must not change what honest names and paths look like.
        for text in ["alice", "user:ops.bot-2", r"C:\data", "张三 登录"] {
            assert_eq!(escape_controls(text), text);
        }
    }

    #[test]
    fn controls_cannot_forge_lines_or_move_the_cursor() {
        let forged = "x\r\n    42 2026-12-01T00:00:00Z root  auth.login ok\u{1b}[2J\u{202e}";
        let shown = escape_controls(forged);
        assert!(!shown.chars().any(is_display_control), "{shown}");
        assert_eq!(
            shown,
            r"x\r\n    42 2026-12-01T00:00:00Z root  auth.login ok\e[2J\u{202e}"
        );
        // With escaping on, a literal backslash is doubled, so `\n` typed by someone cannot
        // pass for an escaped line break.
        assert_eq!(escape_controls("a\\n\u{7}"), r"a\\n\u{7}");
        assert_eq!(escape_controls("\u{9b}31m"), r"\u{9b}31m");
    }

    #[test]
    fn json_keeps_its_value_and_loses_raw_controls() {
        let json = "{\"a\":\"x\u{9b}31m\u{202e}y\"}";
        let safe = escape_json_controls(json);
        assert_eq!(safe, r#"{"a":"x\u009b31m\u202ey"}"#);
        assert!(!safe.chars().any(is_display_control));
    }

    #[test]
    fn long_text_is_cut_and_says_how_long_it_was() {
        assert_eq!(bounded("short", 10), "short");
        let long = "é".repeat(100);
        let cut = bounded(&long, 4);
        assert_eq!(cut, "éééé…(200 bytes)");
    }
}
