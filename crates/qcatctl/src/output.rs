//! Everything `qcatctl` prints goes through here.
//!
//! - Every line is written with display controls escaped: audit entries, user and role
//!   names and error messages carry text someone else chose, and raw ESC, CR or a line
//!   break could forge a line or clear the screen. Our own format strings hold none, so
//!   escaping the whole line changes only what came from outside.
//! - A closed pipe (`qcatctl audit query | head -1`) ends the command quietly, like `cat`;
//!   any other write failure (`>/dev/full`) is an error that says so. Neither panics, and
//!   the run still signs out and flushes its audit entries.

use std::fmt;
use std::io::Write;

use qcat_api::ApiError;

/// Why a command stopped.
#[derive(Debug)]
pub enum CliError {
    Api(ApiError),
    /// The reader of standard output went away: stop quietly.
    Closed,
    /// Standard output could not be written.
    Output(std::io::Error),
}

impl From<ApiError> for CliError {
    fn from(err: ApiError) -> Self {
        CliError::Api(err)
    }
}

impl CliError {
    /// The exit status (sysexits-style: 74 is EX_IOERR).
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Api(err) => u8::try_from(err.code.exit_code()).unwrap_or(1),
            CliError::Closed => 0,
            CliError::Output(_) => 74,
        }
    }

    /// What to tell the user on standard error (nothing for a closed pipe).
    pub fn report(&self) {
        match self {
            CliError::Api(err) => eline(format_args!("error[{}]: {}", err.code, err.message)),
            CliError::Closed => {}
            CliError::Output(err) => eline(format_args!(
                "error: cannot write to standard output: {err}"
            )),
        }
    }
}

fn write_error(err: std::io::Error) -> CliError {
    if err.kind() == std::io::ErrorKind::BrokenPipe {
        CliError::Closed
    } else {
        CliError::Output(err)
    }
}

/// One line of standard output, escaped.
pub fn line(args: fmt::Arguments<'_>) -> Result<(), CliError> {
    let text = args.to_string();
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", qcat_api::text::escape_controls(&text)).map_err(write_error)?;
    out.flush().map_err(write_error)
}

/// JSON on standard output: serde's escapes, plus JSON `\u` escapes (`\u009b`, `\u202e`) for
/// the controls serde leaves raw.
pub fn json(value: &impl serde::Serialize) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value).map_err(|err| ApiError::internal(&err))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", qcat_api::text::escape_json_controls(&text)).map_err(write_error)?;
    out.flush().map_err(write_error)
}

/// A stream for bulk output (exports): write errors map like [`line`]'s.
pub fn finish(result: std::io::Result<()>) -> Result<(), CliError> {
    result.map_err(write_error)
}

/// One line of standard error, escaped. A failure to write there has nowhere to be reported.
pub fn eline(args: fmt::Arguments<'_>) {
    let text = args.to_string();
    let _ = writeln!(
        std::io::stderr().lock(),
        "{}",
        qcat_api::text::escape_controls(&text)
    );
}

/// `println!` through [`line`]; returns early on a write failure.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))?
    };
}

/// `eprintln!` through [`eline`].
macro_rules! note {
    ($($arg:tt)*) => {
        $crate::output::eline(format_args!($($arg)*))
    };
}

pub(crate) use {note, out};
