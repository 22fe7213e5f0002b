//! Text a peer sent, made safe to print.

/// Text a peer sent, made safe to print on a terminal or in a log: control characters other than newline
/// and tab (terminal escape sequences, carriage returns that overwrite a line) are shown as `\xNN`, and
/// invalid UTF-8 as U+FFFD.
pub fn printable(bytes: &[u8]) -> String {
    let mut out = String::new();
    for c in String::from_utf8_lossy(bytes).chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            out.push_str(&format!("\\x{:02x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}
