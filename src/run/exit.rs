//! The exit codes of every command, in one table ([`Exit`], [`TABLE`]): `main.rs` maps
//! each failure to one of them, and `--help` prints the table.

/// What a command's exit code says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Success.
    Ok = 0,
    /// Bad input: a config, scenario, trace, spec, option value or output folder that
    /// cannot be used; stderr names each problem and how to fix it.
    BadInput = 1,
    /// The command line itself is wrong (unknown flag, missing argument): clap's code.
    Usage = 2,
    /// A file cannot be written, or a server cannot be reached.
    CannotWrite = 3,
    /// A check ran and failed: `compare` found a regression, `load --check` found the
    /// server differing from its ledger.
    CheckFailed = 4,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> std::process::ExitCode {
        std::process::ExitCode::from(exit.code())
    }
}

/// The table as `--help` prints it.
pub const TABLE: &str = "\
Exit codes (every command):
  0  success
  1  bad input: a config, scenario, trace, spec, option value or output folder that
     cannot be used (stderr names each problem and how to fix it)
  2  usage: the command line itself is wrong (unknown flag, missing argument)
  3  cannot write: a report or file cannot be written, or the server cannot be reached
  4  a check failed: compare found a regression, load --check found a mismatch";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_lists_every_code_once_in_order() {
        for exit in [
            Exit::Ok,
            Exit::BadInput,
            Exit::Usage,
            Exit::CannotWrite,
            Exit::CheckFailed,
        ] {
            let line = format!("\n  {}  ", exit.code());
            assert_eq!(TABLE.matches(&line).count(), 1, "{exit:?}");
        }
    }
}
