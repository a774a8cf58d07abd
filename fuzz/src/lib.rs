//! What the fuzz targets share: an input is a selector byte (which parser
//! of the target it feeds) and UTF-8 text.

/// The selector byte and the text after it; `None` for an empty or
/// non-UTF-8 input (the parsers take `&str`).
pub fn selector_and_text(data: &[u8]) -> Option<(u8, &str)> {
    let (&selector, rest) = data.split_first()?;
    Some((selector, std::str::from_utf8(rest).ok()?))
}
