//! `mandate-mcp-list TIMEOUT_SECONDS`: read an endpoint as JSON on stdin, connect to that
//! MCP server, print its tool listing as JSON. Run by `mandate mcp pin|verify|scan`, so
//! the `mandate` binary itself carries no async runtime.

use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

/// Connect to one MCP server and print its tool listing as JSON.
///
/// The endpoint comes on stdin as JSON, as mandate writes it from the MCP configuration
/// (`{"Stdio": {...}}` or `{"Http": {...}}`); `mandate mcp pin|verify|scan` run this
/// program, so the `mandate` binary itself carries no async runtime.
#[derive(Parser)]
#[command(
    name = "mandate-mcp-list",
    version,
    after_help = "Exit codes:\n  0  the listing was printed\n  1  the server could not be started, reached or listed\n  2  usage error, or the endpoint on stdin is not valid"
)]
struct Args {
    /// Seconds to wait for the server before giving up.
    #[arg(default_value_t = 20)]
    timeout_seconds: u64,
}

fn main() -> ExitCode {
    let timeout = Args::parse().timeout_seconds;
    let mut input = Vec::new();
    if let Err(error) = std::io::stdin().read_to_end(&mut input) {
        eprintln!("cannot read the endpoint from stdin: {error}");
        return ExitCode::from(2);
    }
    let endpoint: mandate_mcp::Endpoint = match serde_json::from_slice(&input) {
        Ok(endpoint) => endpoint,
        Err(error) => {
            eprintln!("the endpoint on stdin is not valid: {error}");
            return ExitCode::from(2);
        }
    };
    match mandate_mcp::list_tools(&endpoint, Duration::from_secs(timeout)) {
        Ok(listing) => match serde_json::to_string(&listing) {
            Ok(text) => {
                println!("{text}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("cannot encode the listing: {error}");
                ExitCode::from(2)
            }
        },
        Err(error) => {
            eprintln!("{error}");
            ExitCode::from(1)
        }
    }
}
