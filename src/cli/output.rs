//! What commands print for their reader: each line a write whose failure the command returns,
//! so a reader that goes away (`status | head -3`) ends it quietly instead of in a panic.

use std::io::Write;

/// Prints a line to stdout like `println!`, returning the write's error instead of panicking.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::cli::output::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::cli::output::line(format_args!($($arg)*))
    };
}

pub(crate) fn line(text: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()
}
