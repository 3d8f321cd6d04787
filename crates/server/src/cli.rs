//! The command line.

use clap::{Args, Parser, Subcommand};

/// Switchboard: a Socket.IO-compatible real-time server.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about, args_conflicts_with_subcommands = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// `serve` is the default command: its options may be given without it.
    #[command(flatten)]
    serve: ServeArgs,
}

impl Cli {
    /// The command to run (`serve` when none was named).
    pub(crate) fn into_command(self) -> Command {
        self.command.unwrap_or(Command::Serve(self.serve))
    }
}

/// The subcommands.
#[derive(Debug, Subcommand, PartialEq, Eq)]
pub(crate) enum Command {
    /// Run the server (the default).
    Serve(ServeArgs),
}

/// Options of `serve`.
#[derive(Debug, Args, PartialEq, Eq)]
pub(crate) struct ServeArgs {
    /// TCP port to listen on; 0 picks a free port (the real one is printed).
    #[arg(long, env = "SWITCHBOARD_PORT", default_value_t = 3000)]
    pub(crate) port: u16,
    /// Address or host name to bind.
    #[arg(long, env = "SWITCHBOARD_HOST", default_value = "127.0.0.1")]
    pub(crate) host: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, clap::Error> {
        Cli::try_parse_from(std::iter::once("switchboard").chain(args.iter().copied()))
            .map(Cli::into_command)
    }

    fn serve(host: &str, port: u16) -> Command {
        Command::Serve(ServeArgs { port, host: host.to_owned() })
    }

    // The environment variables are not set in the test environment; their wiring is covered
    // by the integration test that starts the binary.
    #[test]
    fn serve_is_the_default_command() {
        assert_eq!(parse(&[]).unwrap(), serve("127.0.0.1", 3000));
        assert_eq!(parse(&["--port", "0"]).unwrap(), serve("127.0.0.1", 0));
        assert_eq!(
            parse(&["serve", "--host", "::1", "--port", "8080"]).unwrap(),
            serve("::1", 8080)
        );
    }

    #[test]
    fn bad_arguments_are_rejected() {
        assert!(parse(&["--port", "70000"]).is_err());
        assert!(parse(&["--port", "0", "serve"]).is_err());
        assert!(parse(&["frobnicate"]).is_err());
    }
}
