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

/// `text` with every run of five or more digits hidden but its last four
/// (`call +6591234567 now` → `call +******4567 now`): free text (a path, a plugin's log
/// line) may name phone numbers, and logs must not.
pub fn mask_digit_runs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = 0;
    let flush = |run: &mut usize, end: usize, out: &mut String| {
        let digits = &text[end - *run..end];
        if *run >= 5 {
            out.extend(std::iter::repeat_n('*', *run - 4));
            out.push_str(&digits[*run - 4..]);
        } else {
            out.push_str(digits);
        }
        *run = 0;
    };
    for (i, c) in text.char_indices() {
        if c.is_ascii_digit() {
            run += 1;
        } else {
            flush(&mut run, i, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, text.len(), &mut out);
    out
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
    }
}
