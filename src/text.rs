//! Small text helpers for the short outputs a coordinator model reads.

/// The first `max` characters of `s` on one line, with `…` when cut.
pub fn excerpt(s: &str, max: usize) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        return flat;
    }
    let mut out: String = flat.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `850ms`, `12.3s`, `4m05s`, `2h03m`.
pub fn duration(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms}ms"),
        // Integer arithmetic: float formatting would add ~15 KB to the wasm module.
        1_000..=59_999 => {
            let tenths = (ms + 50) / 100;
            format!("{}.{}s", tenths / 10, tenths % 10)
        }
        60_000..=3_599_999 => format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60),
        _ => format!("{}h{:02}m", ms / 3_600_000, (ms / 60_000) % 60),
    }
}

/// A count of tokens as people read it: `950`, `41k`, `1.2M` (integer arithmetic, as above).
pub fn tokens(n: u64) -> String {
    match n {
        0..=999 => n.to_string(),
        1_000..=999_499 => format!("{}k", (n + 500) / 1000),
        _ => {
            let tenths = (n + 50_000) / 100_000;
            format!("{}.{}M", tenths / 10, tenths % 10)
        }
    }
}

/// Money counted in millionths, to the cent: `$0.12`, `$41.07`; `<$0.01` for less than a cent.
pub fn money(micros: u64) -> String {
    match micros {
        0 => "$0".into(),
        1..=9_999 => "<$0.01".into(),
        _ => {
            let cents = (micros + 5_000) / 10_000;
            format!("${}.{:02}", cents / 100, cents % 100)
        }
    }
}

/// What a worker or an epic spent, in one short word pair: `41k tok $0.12`.
pub fn spent(tokens_used: u64, micros: u64) -> String {
    format!("{} tok {}", tokens(tokens_used), money(micros))
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

/// Orders `items` by `key`, equal keys kept in their order. An insertion sort: the lists it
/// orders (a queue, finished sessions) are short, and the standard sorts would add several KB
/// to the `.wasm` per element type.
pub(crate) fn order_by<T>(items: &mut [T], key: impl Fn(&T) -> (u64, u64)) {
    for i in 1..items.len() {
        let mut j = i;
        while j > 0 && key(&items[j - 1]) > key(&items[j]) {
            items.swap(j - 1, j);
            j -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_money_are_short_and_rounded() {
        let t: Vec<String> = [
            0, 950, 999, 1_000, 41_499, 41_500, 999_499, 999_500, 1_234_567,
        ]
        .map(tokens)
        .into();
        assert_eq!(
            t,
            ["0", "950", "999", "1k", "41k", "42k", "999k", "1.0M", "1.2M"]
        );
        let m: Vec<String> = [0, 1, 9_999, 10_000, 124_999, 125_000, 41_070_000]
            .map(money)
            .into();
        assert_eq!(
            m,
            ["$0", "<$0.01", "<$0.01", "$0.01", "$0.12", "$0.13", "$41.07"]
        );
        assert_eq!(spent(41_000, 120_000), "41k tok $0.12");
    }

    #[test]
    fn excerpts_are_one_line_and_cut_with_an_ellipsis() {
        assert_eq!(excerpt("a\n  b\tc", 10), "a b c");
        assert_eq!(excerpt("abcdefghij", 5), "abcd…");
        assert_eq!(excerpt("héllo wörld", 6), "héllo…");
    }

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(duration(850), "850ms");
        assert_eq!(duration(12_340), "12.3s");
        assert_eq!(duration(1_960), "2.0s");
        assert_eq!(duration(59_999), "60.0s");
        assert_eq!(duration(245_000), "4m05s");
        assert_eq!(duration(7_380_000), "2h03m");
    }

    #[test]
    fn hex_is_lowercase_two_digits_a_byte() {
        assert_eq!(hex(&[0, 15, 255]), "000fff");
    }
}
