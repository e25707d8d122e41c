//! `workbus`: the server binary.

use clap::{Parser, Subcommand};
use workbus_server::{ServeArgs, Server, ServerConfig};

/// An in-memory event bus that speaks Prefect's work-pool API.
#[derive(Parser)]
#[command(
    name = "workbus",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// `serve`'s flags, also taken without the subcommand.
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve(ServeArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Command::Serve(args)) => args,
        None => cli.serve,
    };
    workbus_server::logging::init(args.log_format);
    let config = match ServerConfig::try_from(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("workbus: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let result = actix_rt::System::new().block_on(async move {
        let server = Server::bind(config).await?;
        // The binary owns the process, so it may give the allocator's free pages back.
        actix_rt::spawn(workbus_server::memory::Trimmer::new().run());
        server.run_until_signal().await
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "workbus failed");
            eprintln!("workbus: {e}");
            // 2 for a setting that cannot work (a webhooks file that does not parse), as
            // for the flags; 1 for what failed at start or while running (NATS unreachable,
            // the port taken).
            std::process::ExitCode::from(if e.is_config() { 2 } else { 1 })
        }
    }
}
