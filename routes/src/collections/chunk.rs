//! Splits a text or markdown file into overlapping chunks for indexing. Chunks end at the best
//! boundary in the second half of the window (a markdown heading, a blank line, a line end, a
//! sentence end, a space) and the next one starts `overlap` characters earlier, at a word.

/// Defaults and bounds of the chunking options, in characters.
pub const DEFAULT_SIZE: usize = 1000;
pub const DEFAULT_OVERLAP: usize = 200;
pub const MIN_SIZE: usize = 100;
pub const MAX_SIZE: usize = 10_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    pub size: usize,
    pub overlap: usize,
    pub markdown: bool,
}

impl Options {
    /// Checks `size` and `overlap` (at most half the size, so every chunk moves forward).
    pub fn new(size: usize, overlap: usize, markdown: bool) -> Result<Options, String> {
        if !(MIN_SIZE..=MAX_SIZE).contains(&size) {
            return Err(format!("chunk_size must be {MIN_SIZE}-{MAX_SIZE}"));
        }
        if overlap > size / 2 {
            return Err("chunk_overlap must be at most half of chunk_size".into());
        }
        Ok(Options {
            size,
            overlap,
            markdown,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// 0, 1, 2... in file order.
    pub position: usize,
    /// Character offset of the chunk's first character in the file.
    pub offset: usize,
    pub text: String,
    /// The markdown heading the chunk falls under, if any.
    pub section: Option<String>,
}

/// Whether a file is treated as markdown: by extension or declared type.
pub fn is_markdown(filename: &str, content_type: Option<&str>) -> bool {
    let lower = filename.to_ascii_lowercase();
    lower.ends_with(".md")
        || lower.ends_with(".markdown")
        || content_type.is_some_and(|t| t.starts_with("text/markdown"))
}

/// Byte index `n` characters after `from` (or the end).
fn advance(text: &str, from: usize, n: usize) -> usize {
    text[from..]
        .char_indices()
        .nth(n)
        .map_or(text.len(), |(i, _)| from + i)
}

/// Byte index `n` characters before `to` (or the start).
fn back(text: &str, to: usize, n: usize) -> usize {
    if n == 0 {
        return to;
    }
    text[..to]
        .char_indices()
        .rev()
        .nth(n - 1)
        .map_or(0, |(i, _)| i)
}

/// Where the chunk `[start, end)` should end: after the last good separator in its second half.
/// `true` when that is just before a markdown heading: the next chunk starts there, without
/// overlap, so a section's first chunk begins with its heading.
fn boundary(text: &str, start: usize, end: usize, size: usize, markdown: bool) -> (usize, bool) {
    if end == text.len() {
        return (end, false);
    }
    let half = advance(text, start, size / 2);
    let window = &text[half..end];
    if let Some(i) = window.rfind("\n#").filter(|_| markdown) {
        return (half + i + 1, true);
    }
    let found = ["\n\n", "\n", ". ", "? ", "! ", " "]
        .iter()
        .find_map(|sep| window.rfind(sep).map(|i| half + i + sep.len()));
    (found.filter(|&b| b > start).unwrap_or(end), false)
}

/// Markdown headings outside code fences: (byte index of the line, heading text).
fn headings(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut fenced = false;
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim_end();
        if t.trim_start().starts_with("```") || t.trim_start().starts_with("~~~") {
            fenced = !fenced;
        } else if !fenced {
            let hashes = t.chars().take_while(|&c| c == '#').count();
            if (1..=6).contains(&hashes) && t[hashes..].starts_with(' ') {
                out.push((at, t[hashes..].trim().to_owned()));
            }
        }
        at += line.len();
    }
    out
}

pub fn split(text: &str, opts: Options) -> Vec<Chunk> {
    let sections = if opts.markdown {
        headings(text)
    } else {
        Vec::new()
    };
    let mut chunks = Vec::new();
    // Running character count, so offsets cost one pass over the text in total.
    let (mut counted_bytes, mut counted_chars) = (0usize, 0usize);
    let mut start = 0;
    while start < text.len() {
        let window_end = advance(text, start, opts.size);
        let (end, heading) = boundary(text, start, window_end, opts.size, opts.markdown);
        let raw = &text[start..end];
        let body = raw.trim();
        if !body.is_empty() {
            let first = start + (raw.len() - raw.trim_start().len());
            counted_chars += text[counted_bytes..first].chars().count();
            counted_bytes = first;
            let section = sections
                .iter()
                .take_while(|(at, _)| *at <= first)
                .last()
                .map(|(_, h)| h.clone());
            chunks.push(Chunk {
                position: chunks.len(),
                offset: counted_chars,
                text: body.to_owned(),
                section,
            });
        }
        if end == text.len() {
            break;
        }
        start = if heading {
            end
        } else {
            next_start(text, start, end, opts.overlap)
        };
    }
    chunks
}

/// `overlap` characters before `end`, moved forward to the start of a word; always past `start`.
fn next_start(text: &str, start: usize, end: usize, overlap: usize) -> usize {
    let back_to = back(text, end, overlap).max(start);
    let word = text[back_to..end]
        .find(char::is_whitespace)
        .map(|i| back_to + i)
        .map(|ws| advance(text, ws, 1));
    match word {
        Some(w) if w > start && w < end && overlap > 0 => w,
        _ if back_to > start && overlap > 0 => back_to,
        _ => end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(size: usize, overlap: usize, markdown: bool) -> Options {
        Options::new(size, overlap, markdown).unwrap()
    }

    #[test]
    fn options_are_bounded() {
        assert!(Options::new(50, 0, false).is_err());
        assert!(Options::new(20_000, 0, false).is_err());
        assert!(Options::new(200, 101, false).is_err());
        assert!(Options::new(200, 100, false).is_ok());
    }

    #[test]
    fn small_text_is_one_chunk_and_empty_is_none() {
        let c = split("  hello world \n", opts(100, 20, false));
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].text, "hello world");
        assert_eq!(c[0].offset, 2);
        assert!(split(" \n\n ", opts(100, 20, false)).is_empty());
    }

    #[test]
    fn chunks_cover_the_text_with_overlap_and_word_boundaries() {
        let words: Vec<String> = (0..400).map(|i| format!("w{i}")).collect();
        let text = words.join(" ");
        let chunks = split(&text, opts(200, 50, false));
        assert!(chunks.len() > 5);
        for (i, c) in chunks.iter().enumerate() {
            assert_eq!(c.position, i);
            assert!(c.text.chars().count() <= 200);
            assert_eq!(&text[c.offset..c.offset + c.text.len()], c.text);
            assert!(c.text.starts_with('w'), "starts at a word: {:?}", c.text);
        }
        for pair in chunks.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            assert!(b.offset > a.offset);
            assert!(
                b.offset < a.offset + a.text.len(),
                "overlaps the previous chunk"
            );
        }
        // Every word is in some chunk, whole.
        for w in &words {
            assert!(
                chunks.iter().any(|c| c.text.split(' ').any(|x| x == w)),
                "{w} missing"
            );
        }
        assert!(chunks.last().unwrap().text.ends_with("w399"));
    }

    #[test]
    fn markdown_splits_before_headings_and_records_the_section() {
        let para = "Lorem ipsum dolor sit amet consectetur. ".repeat(4);
        let text = format!(
            "# Intro\n\n{para}\n\n## Install\n\n{para}\n\n```\n# not a heading\n```\n\n## Use\n\n{para}"
        );
        let chunks = split(&text, opts(250, 40, true));
        assert!(chunks.iter().any(|c| c.text.starts_with("## Install")));
        let install = chunks
            .iter()
            .find(|c| c.text.starts_with("## Install"))
            .unwrap();
        assert_eq!(install.section.as_deref(), Some("Install"));
        assert_eq!(chunks[0].section.as_deref(), Some("Intro"));
        assert!(chunks
            .iter()
            .all(|c| c.section.as_deref() != Some("not a heading")));
    }

    #[test]
    fn multibyte_text_never_splits_a_character() {
        let text = "äöü ß 日本語 ".repeat(300);
        let chunks = split(&text, opts(100, 30, false));
        assert!(chunks.len() > 10);
        let chars: Vec<char> = text.chars().collect();
        for c in &chunks {
            let n = c.text.chars().count();
            let expect: String = chars[c.offset..c.offset + n].iter().collect();
            assert_eq!(expect, c.text);
        }
    }

    #[test]
    fn a_long_word_is_cut_at_the_window() {
        let text = "x".repeat(1000);
        let chunks = split(&text, opts(100, 0, false));
        assert_eq!(chunks.len(), 10);
        assert!(chunks.iter().all(|c| c.text.len() == 100));
    }
}
