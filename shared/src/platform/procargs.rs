//! macOS's `sysctl(KERN_PROCARGS2)` buffer, parsed: a process's arguments as
//! the kernel keeps them, one string each, so an install path with a space
//! stays one argument (`ps -o args=` joins them with spaces). The parser is
//! plain bytes in, strings out, so Linux runs its tests; `macos.rs` makes
//! the call.
//!
//! The layout (xnu `bsd/kern/kern_sysctl.c`, `sysctl_procargsx`): the
//! argument count as a native `int`, the executable's path and its NUL, NUL
//! padding, then `argc` NUL-terminated arguments, then the environment.

/// The arguments in a `KERN_PROCARGS2` buffer, or `None` when it is too
/// short or holds fewer arguments than its count says.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
pub fn parse_procargs2(buffer: &[u8]) -> Option<Vec<String>> {
    let count = buffer.get(..4)?;
    let argc = usize::try_from(i32::from_ne_bytes(count.try_into().ok()?)).ok()?;
    let rest = &buffer[4..];
    // The executable's path, then the padding NULs before argv[0].
    let path_end = memchr::memchr(0, rest)?;
    let start = path_end + rest[path_end..].iter().take_while(|b| **b == 0).count();
    let mut args = Vec::with_capacity(argc.min(4096));
    let mut strings = rest.get(start..)?.split(|b| *b == 0);
    for _ in 0..argc {
        let arg = strings.next()?;
        args.push(String::from_utf8_lossy(arg).into_owned());
    }
    // The last argument must have had its NUL: `split` yields a final piece
    // without one only at the buffer's end.
    let consumed: usize = args.iter().map(|a| a.len() + 1).sum();
    (start + consumed <= rest.len()).then_some(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buffer(argc: i32, path: &str, padding: usize, strings: &[&str]) -> Vec<u8> {
        let mut out = argc.to_ne_bytes().to_vec();
        out.extend_from_slice(path.as_bytes());
        out.push(0);
        out.extend(std::iter::repeat_n(0, padding));
        for s in strings {
            out.extend_from_slice(s.as_bytes());
            out.push(0);
        }
        out
    }

    #[test]
    fn arguments_with_spaces_stay_whole_and_the_environment_is_left_out() {
        let buf = buffer(
            3,
            "/bin/bash",
            5,
            &[
                "bash",
                "/Users/me/My Tools/v0/bin/v0-prune-daemon",
                "--flag",
                "HOME=/Users/me",
                "PATH=/usr/bin",
            ],
        );
        assert_eq!(
            parse_procargs2(&buf),
            Some(vec![
                "bash".to_owned(),
                "/Users/me/My Tools/v0/bin/v0-prune-daemon".to_owned(),
                "--flag".to_owned(),
            ])
        );
    }

    #[test]
    fn short_or_lying_buffers_are_refused() {
        assert_eq!(parse_procargs2(&[]), None);
        assert_eq!(parse_procargs2(&[1, 0]), None);
        assert_eq!(parse_procargs2(&buffer(-1, "/x", 0, &["a"])), None);
        // Says three arguments, holds two.
        assert_eq!(parse_procargs2(&buffer(3, "/x", 2, &["a", "b"])), None);
        // The last argument cut before its NUL.
        let mut cut = buffer(1, "/x", 0, &["abc"]);
        cut.pop();
        assert_eq!(parse_procargs2(&cut), None);
        assert_eq!(parse_procargs2(&buffer(0, "/x", 3, &[])), Some(Vec::new()));
    }
}
