//! PURISTA's `convertToSnakeCase`, by hand.
//!
//! PURISTA collects the matches of
//! `/[A-Z]{2,}(?=[A-Z][a-z]+[0-9]*|\b)|[A-Z]?[a-z]+[0-9]*|[A-Z]|[0-9]+/g`, lower-cases them and
//! joins them with `_`; a string with no match comes back unchanged. The regex has a
//! look-ahead, which the `regex` crate does not support, so [`snake_case`] scans the string
//! itself, trying the four alternatives in the regex's order at each position.

/// PURISTA's snake_case of `input`, as every topic level is written.
///
/// Words are runs of ASCII letters and digits split at case changes (`getHTTPResponse` →
/// `get_http_response`, `sensor2Reading` → `sensor2_reading`, `9lives` → `9_lives`);
/// everything else (`-`, `/`, spaces, `_`, non-ASCII letters) only separates words and is
/// dropped. A string without any ASCII letter or digit (`""`, `+`, `#`, `..`) is returned
/// unchanged, as PURISTA does.
///
/// The conversion is lossy: `myService`, `MyService`, `my-service` and `my_service` all give
/// `my_service`.
pub fn snake_case(input: &str) -> String {
    let mut out = String::with_capacity(input.len() + 8);
    snake_case_into(&mut out, input);
    out
}

/// Appends PURISTA's snake_case of `input` to `out`; returns whether `input` has a word (an
/// ASCII letter or digit). Without one, `input` is appended as it is.
pub(crate) fn snake_case_into(out: &mut String, input: &str) -> bool {
    if is_snake_case(input) {
        out.push_str(input);
        return true;
    }
    let bytes = input.as_bytes();
    let start = out.len();
    let mut matched = false;
    let mut at = 0;
    while at < bytes.len() {
        match word_at(bytes, at) {
            Some(len) => {
                if matched {
                    out.push('_');
                }
                matched = true;
                // A word is ASCII, so these bytes are whole characters.
                out.extend(
                    bytes[at..at + len]
                        .iter()
                        .map(|b| char::from(b.to_ascii_lowercase())),
                );
                at += len;
            }
            None => at += 1,
        }
    }
    if !matched {
        out.truncate(start);
        out.push_str(input);
    }
    matched
}

/// Whether `input` is its own snake_case and has a word: words of lowercase letters followed by
/// digits (`sensor2`), or of digits alone, joined by single `_`. The regex matches each such
/// word whole, and joins them with `_` again.
fn is_snake_case(input: &str) -> bool {
    !input.is_empty()
        && input.split('_').all(|word| {
            let letters = word.bytes().take_while(u8::is_ascii_lowercase).count();
            !word.is_empty() && word.bytes().skip(letters).all(|b| b.is_ascii_digit())
        })
}

/// The length of the regex's match that starts at `at`, if one does.
///
/// Non-ASCII bytes never match and are not word characters, exactly like the UTF-16 code
/// units JavaScript sees for them.
fn word_at(bytes: &[u8], at: usize) -> Option<usize> {
    let is_upper = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_uppercase);
    let is_lower = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_lowercase);
    let is_digit = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_digit);
    let run =
        |from: usize, class: &dyn Fn(usize) -> bool| (from..).take_while(|&i| class(i)).count();

    // 1. `[A-Z]{2,}(?=[A-Z][a-z]+[0-9]*|\b)`: the greedy run of capitals backs off one
    //    letter at a time until the look-ahead holds. Only two lengths can succeed: the
    //    whole run, if a word boundary follows it (the end, or a byte that is not
    //    `[A-Za-z0-9_]`), or the run less its last capital, if that capital starts a
    //    capitalised word (`HTTPServer` → `HTTP`). Shorter lengths are followed by two
    //    capitals, which neither branch accepts.
    let capitals = run(at, &is_upper);
    if capitals >= 2 {
        let end = at + capitals;
        if !bytes.get(end).is_some_and(|&b| is_word_byte(b)) {
            return Some(capitals);
        }
        if capitals >= 3 && is_lower(end) {
            return Some(capitals - 1);
        }
    }
    // 2. `[A-Z]?[a-z]+[0-9]*`.
    let start = if is_upper(at) && is_lower(at + 1) {
        at + 1
    } else {
        at
    };
    let lowers = run(start, &is_lower);
    if lowers > 0 {
        let end = start + lowers;
        return Some(end + run(end, &is_digit) - at);
    }
    // 3. `[A-Z]`.
    if capitals > 0 {
        return Some(1);
    }
    // 4. `[0-9]+`.
    Some(run(at, &is_digit)).filter(|&digits| digits > 0)
}

/// A JavaScript `\w` character without the `u` flag: `[A-Za-z0-9_]`.
fn is_word_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_cases() {
        for (input, expected) in [
            ("", ""),
            ("+", "+"),
            ("#", "#"),
            ("..", ".."),
            ("/", "/"),
            ("__none__", "none"),
            ("none", "none"),
            ("Ümlaut", "mlaut"),
            ("日本", "日本"),
            ("a日b", "a_b"),
            ("ABÜ", "ab"),
            ("ABC1", "a_b_c_1"),
            ("ABC_d", "a_b_c_d"),
            ("ABCdef", "ab_cdef"),
            ("ABc", "a_bc"),
            ("AB", "ab"),
            ("AB-c", "ab_c"),
            ("007", "007"),
            ("x1y22Z333", "x1_y22_z_333"),
            ("1.0.0-beta.2", "1_0_0_beta_2"),
        ] {
            assert_eq!(snake_case(input), expected, "snake_case({input:?})");
        }
    }

    #[test]
    fn names_already_in_snake_case_come_back_unchanged() {
        for plain in [
            "bench",
            "echo",
            "1",
            "007",
            "sensor2",
            "a_1",
            "user_service",
            "x1_y22",
        ] {
            assert!(is_snake_case(plain), "{plain}");
            assert_eq!(snake_case(plain), plain);
        }
        for other in [
            "", "_", "a__b", "_a", "a_", "1a", "a1b", "A", "a-b", "none!",
        ] {
            assert!(!is_snake_case(other), "{other}");
        }
    }

    /// Every string of up to six characters over an alphabet that exercises each branch of
    /// the regex, against [`literal`], a direct transcription of the regex with JavaScript's
    /// backtracking.
    #[test]
    fn agrees_with_a_literal_backtracking_reading_of_the_regex() {
        const ALPHABET: [char; 8] = ['A', 'B', 'a', 'b', '0', '_', '-', 'Ü'];
        let mut strings = vec![String::new()];
        let mut checked = 0;
        for _ in 0..6 {
            let mut longer = Vec::with_capacity(strings.len() * ALPHABET.len());
            for prefix in &strings {
                for c in ALPHABET {
                    let mut s = prefix.clone();
                    s.push(c);
                    assert_eq!(snake_case(&s), literal(&s), "snake_case({s:?})");
                    checked += 1;
                    longer.push(s);
                }
            }
            strings = longer;
        }
        assert_eq!(checked, (1..=6).map(|n| 8usize.pow(n)).sum::<usize>());
    }

    /// The regex, read literally: at each position try every alternative in order, each
    /// quantifier from its greediest count down, and check the look-ahead as written.
    fn literal(input: &str) -> String {
        let s: Vec<char> = input.chars().collect();
        let upper = |i: usize| s.get(i).is_some_and(char::is_ascii_uppercase);
        let lower = |i: usize| s.get(i).is_some_and(char::is_ascii_lowercase);
        let digit = |i: usize| s.get(i).is_some_and(char::is_ascii_digit);
        let word = |i: usize| {
            s.get(i)
                .is_some_and(|&c| c.is_ascii_alphanumeric() || c == '_')
        };
        // `[A-Z][a-z]+[0-9]*` matches at `i` (the look-ahead needs any match, so one lower).
        let capital_word = |i: usize| upper(i) && lower(i + 1);
        let boundary = |i: usize| (i > 0 && word(i - 1)) != word(i);
        let mut words = Vec::new();
        let mut i = 0;
        while i < s.len() {
            let mut found = None;
            // Alternative 1.
            let max = (i..).take_while(|&j| upper(j)).count();
            for n in (2..=max).rev() {
                if capital_word(i + n) || boundary(i + n) {
                    found = Some(n);
                    break;
                }
            }
            // Alternative 2: `[A-Z]?` tries one capital, then none.
            if found.is_none() {
                for capital in [1, 0] {
                    if capital == 1 && !upper(i) {
                        continue;
                    }
                    let lowers = (i + capital..).take_while(|&j| lower(j)).count();
                    if lowers > 0 {
                        let end = i + capital + lowers;
                        found = Some(end + (end..).take_while(|&j| digit(j)).count() - i);
                        break;
                    }
                }
            }
            // Alternatives 3 and 4.
            if found.is_none() && upper(i) {
                found = Some(1);
            }
            if found.is_none() {
                found = Some((i..).take_while(|&j| digit(j)).count()).filter(|&n| n > 0);
            }
            match found {
                Some(n) => {
                    words.push(s[i..i + n].iter().collect::<String>().to_ascii_lowercase());
                    i += n;
                }
                None => i += 1,
            }
        }
        if words.is_empty() {
            input.to_owned()
        } else {
            words.join("_")
        }
    }
}
