//! Entry point: parse the command line, hand over to the chosen mode.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use ks_network_apiserver::app::{self, AppError};
use ks_network_apiserver::cli::{Cli, Mode};
use ks_network_apiserver::cluster::crds;
use ks_network_apiserver::http::openapi;

/// mimalloc: 5–10 % less CPU per request than glibc's malloc at the same resident memory, with its arenas committed
/// as they are used (`MIMALLOC_ARENA_EAGER_COMMIT=0`, set by the image; docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.mode {
        Mode::Openapi => print(&format!("{}\n", openapi::pretty_json())),
        Mode::Crds { upstream, out_dir } => match out_dir {
            Some(dir) => write_crds(&dir),
            None => print_crds(upstream),
        },
        Mode::Serve(args) => app::main(app::Mode::Serve, &args),
        Mode::Controller(args) => app::main(app::Mode::Controller, &args),
        Mode::All(args) => app::main(app::Mode::All, &args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ks-network-apiserver: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

fn print(text: &str) -> Result<(), AppError> {
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(AppError::Io)
}

fn print_crds(upstream: bool) -> Result<(), AppError> {
    let mut list = crds::owned();
    if upstream {
        list.extend(crds::upstream());
    }
    let mut out = String::new();
    for crd in &list {
        out.push_str("---\n");
        out.push_str(&crds::to_yaml(crd).map_err(|e| AppError::Io(std::io::Error::other(e)))?);
    }
    print(&out)
}

fn write_crds(dir: &Path) -> Result<(), AppError> {
    let sets = [
        (dir.to_owned(), crds::owned()),
        (dir.join("upstream"), crds::upstream()),
    ];
    for (folder, list) in sets {
        std::fs::create_dir_all(&folder).map_err(AppError::Io)?;
        for crd in &list {
            let yaml = crds::to_yaml(crd).map_err(|e| AppError::Io(std::io::Error::other(e)))?;
            std::fs::write(folder.join(crds::file_name(crd)), yaml).map_err(AppError::Io)?;
        }
    }
    Ok(())
}
