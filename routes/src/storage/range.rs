//! One byte range as a client asks for it (`Range: bytes=...`), resolved against a size.

use std::ops::Range;

/// A single range, not yet checked against the object's size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeSpec {
    /// `bytes=N-`
    From(u64),
    /// `bytes=N-M` (inclusive)
    FromTo(u64, u64),
    /// `bytes=-N`: the last N bytes.
    Suffix(u64),
}

impl RangeSpec {
    /// A `Range` header value. `None` (serve the whole object) for anything else than one
    /// well-formed bytes range: several ranges, other units and syntax errors are ignored,
    /// as RFC 9110 allows.
    pub fn parse(header: &str) -> Option<RangeSpec> {
        let spec = header.trim().strip_prefix("bytes=")?.trim();
        if spec.contains(',') {
            return None;
        }
        let (first, last) = spec.split_once('-')?;
        let (first, last) = (first.trim(), last.trim());
        let number = |s: &str| -> Option<u64> {
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        };
        match (first.is_empty(), last.is_empty()) {
            (true, false) => number(last).map(RangeSpec::Suffix),
            (false, true) => number(first).map(RangeSpec::From),
            (false, false) => {
                let (a, b) = (number(first)?, number(last)?);
                (a <= b).then_some(RangeSpec::FromTo(a, b))
            }
            (true, true) => None,
        }
    }

    /// The bytes to send of an object of `size` bytes; `None` when unsatisfiable (416).
    pub fn resolve(self, size: u64) -> Option<Range<u64>> {
        match self {
            RangeSpec::From(a) if a < size => Some(a..size),
            RangeSpec::FromTo(a, b) if a < size => Some(a..b.min(size - 1) + 1),
            RangeSpec::Suffix(n) if n > 0 && size > 0 => Some(size.saturating_sub(n)..size),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_one_range_and_ignores_the_rest() {
        assert_eq!(RangeSpec::parse("bytes=0-0"), Some(RangeSpec::FromTo(0, 0)));
        assert_eq!(RangeSpec::parse("bytes=5-"), Some(RangeSpec::From(5)));
        assert_eq!(RangeSpec::parse("bytes=-7"), Some(RangeSpec::Suffix(7)));
        assert_eq!(RangeSpec::parse("bytes=0-1,3-4"), None);
        assert_eq!(RangeSpec::parse("bytes=4-2"), None);
        assert_eq!(RangeSpec::parse("items=0-1"), None);
        assert_eq!(RangeSpec::parse("bytes=-"), None);
        assert_eq!(RangeSpec::parse("bytes=+1-2"), None);
    }

    #[test]
    fn resolves_against_the_size() {
        assert_eq!(RangeSpec::FromTo(0, 0).resolve(10), Some(0..1));
        assert_eq!(RangeSpec::FromTo(9, 9).resolve(10), Some(9..10));
        assert_eq!(RangeSpec::FromTo(5, 500).resolve(10), Some(5..10));
        assert_eq!(RangeSpec::From(10).resolve(10), None);
        assert_eq!(RangeSpec::Suffix(1).resolve(10), Some(9..10));
        assert_eq!(RangeSpec::Suffix(50).resolve(10), Some(0..10));
        assert_eq!(RangeSpec::Suffix(0).resolve(10), None);
        assert_eq!(RangeSpec::Suffix(5).resolve(0), None);
    }
}
