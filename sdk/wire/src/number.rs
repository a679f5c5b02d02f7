//! E.164 phone numbers as 8x8 writes them: with or without a leading `+`.

/// True when `s` is an E.164 number: an optional `+` then 1 to 15 digits.
pub fn is_e164(s: &str) -> bool {
    let digits = s.strip_prefix('+').unwrap_or(s);
    (1..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

/// The canonical form of a number: E.164 numbers get a leading `+`; anything else
/// (a SIP address, `anonymous`) is kept verbatim so that nothing the platform sent is lost.
pub fn normalize(s: &str) -> String {
    let trimmed = s.trim();
    if is_e164(trimmed) && !trimmed.starts_with('+') {
        let mut out = String::with_capacity(trimmed.len() + 1);
        out.push('+');
        out.push_str(trimmed);
        out
    } else {
        trimmed.to_owned()
    }
}

/// True when `a` and `b` are the same number, whether or not either carries a `+`.
pub fn same_number(a: &str, b: &str) -> bool {
    a.trim().trim_start_matches('+') == b.trim().trim_start_matches('+')
}

/// `+6591234567` → `*******4567`: all but the last four digits hidden, for logs.
pub fn mask(s: &str) -> String {
    let n = s.chars().count();
    s.chars()
        .enumerate()
        .map(|(i, c)| if i + 4 < n && c != '+' { '*' } else { c })
        .collect()
}

/// `text` with phone numbers hidden but their last four digits, for logs: free text (a
/// path, a plugin's log line) may name them, and logs must not. Hidden: every run of five
/// or more digits (`call +6591234567` → `call +******4567`), and every number written with
/// spaces, dashes, dots or brackets between its digits once it has nine or more digits
/// (`+65 9123 4567` → `+** **** 4567`, `+1 (415) 555-0100` → `+* (***) ***-0100`); a date
/// such as `2026-12-07` (eight digits) stays.
pub fn mask_digit_runs(text: &str) -> String {
    const SEPARATORS: &[char] = &[' ', '-', '.', '(', ')'];
    let chars: Vec<char> = text.chars().collect();
    let mut hide = vec![false; chars.len()];
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        // A run: digits, with at most two separators between two of them.
        let start = i;
        let mut end = i + 1;
        loop {
            let mut j = end;
            while j < chars.len() && j - end < 2 && SEPARATORS.contains(&chars[j]) {
                j += 1;
            }
            if j < chars.len() && chars[j].is_ascii_digit() {
                end = j + 1;
            } else {
                break;
            }
        }
        let digits: Vec<usize> = (start..end)
            .filter(|&k| chars[k].is_ascii_digit())
            .collect();
        let separated = digits.len() < end - start;
        if separated && digits.len() >= 9 {
            for &k in &digits[..digits.len() - 4] {
                hide[k] = true;
            }
        } else {
            // Each unbroken stretch of five or more digits on its own.
            let mut k = start;
            while k < end {
                let stretch = (k..end).take_while(|&m| chars[m].is_ascii_digit()).count();
                if stretch >= 5 {
                    hide[k..k + stretch - 4].fill(true);
                }
                k += stretch.max(1);
            }
        }
        i = end;
    }
    chars
        .iter()
        .zip(hide)
        .map(|(c, hidden)| if hidden { '*' } else { *c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_accepts_numbers_with_or_without_plus() {
        assert!(is_e164("+6591234567"));
        assert!(is_e164("6591234567"));
        assert!(!is_e164("+"));
        assert!(!is_e164("+1234567890123456"));
        assert!(!is_e164("65-9123"));
        assert!(!is_e164(""));
    }

    #[test]
    fn normalize_adds_plus_and_keeps_non_numbers() {
        assert_eq!(normalize("6591234567"), "+6591234567");
        assert_eq!(normalize("+6591234567"), "+6591234567");
        assert_eq!(normalize("anonymous"), "anonymous");
    }

    #[test]
    fn same_number_ignores_plus() {
        assert!(same_number("+6512345678", "6512345678"));
        assert!(!same_number("+6512345678", "6512345679"));
    }

    #[test]
    fn mask_keeps_last_four_digits() {
        assert_eq!(mask("+6591234567"), "+******4567");
        assert_eq!(mask("123"), "123");
    }

    #[test]
    fn mask_digit_runs_hides_long_runs_but_their_last_four() {
        assert_eq!(
            mask_digit_runs("/numbers/+6591234567/bookings/bk_12"),
            "/numbers/+******4567/bookings/bk_12"
        );
        assert_eq!(mask_digit_runs("/a/12345"), "/a/*2345");
        assert_eq!(mask_digit_runs("/a/1234"), "/a/1234");
        assert_eq!(mask_digit_runs("caller 6591234567é"), "caller ******4567é");
        assert_eq!(mask_digit_runs("call +65 9123 4567"), "call +** **** 4567");
        assert_eq!(
            mask_digit_runs("+1 (415) 555-0100 then 98765"),
            "+* (***) ***-0100 then *8765"
        );
        assert_eq!(
            mask_digit_runs("on 2026-12-07 at 20:52"),
            "on 2026-12-07 at 20:52"
        );
        assert_eq!(mask_digit_runs("12-345678"), "12-**5678");
    }
}
