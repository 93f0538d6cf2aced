//! What commands print on stdout, written so that a reader that goes away early
//! (`fraiseql explain … | head -1`) ends the command quietly with exit 0, as ripgrep and
//! the coreutils behave under `| head`, instead of the panic (exit 101) `println!` gives on
//! a broken pipe. Any other write error is a failure like any other (exit 1).

use crate::{Failure, Outcome};
use std::io::Write;

/// Writes `args` to stdout.
pub(crate) fn emit(args: std::fmt::Arguments<'_>) -> Outcome {
    match std::io::stdout().lock().write_fmt(args) {
        Ok(()) => Ok(()),
        Err(e) => Err(write_failure(e)),
    }
}

/// A failed write to stdout: quiet success when the reader is gone, else an error.
fn write_failure(e: std::io::Error) -> Failure {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Failure::silent(0)
    } else {
        Failure::from(anyhow::Error::new(e).context("cannot write to stdout"))
    }
}

/// `println!` that returns an [`Outcome`] instead of panicking; use with `?`.
macro_rules! outln {
    () => {
        $crate::output::emit(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::emit(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` that returns an [`Outcome`] instead of panicking; use with `?`.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::emit(format_args!($($arg)*))
    };
}

pub(crate) use {out, outln};
