//! Command line: one binary, five modes.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::LogFormat;

/// `--version`: the package version and the commit built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("KSNET_COMMIT"),
    ")"
);

/// KubeSphere's network API server on Calico and Kubernetes.
#[derive(Debug, Parser)]
#[command(name = "ks-network-apiserver", version = VERSION, about)]
pub struct Cli {
    #[command(subcommand)]
    pub mode: Mode,
}

#[derive(Debug, Subcommand)]
pub enum Mode {
    /// Serve the HTTP API.
    Serve(RunArgs),
    /// Run the reconcilers (and the operational endpoints).
    Controller(RunArgs),
    /// Serve the HTTP API and run the reconcilers in one process.
    All(RunArgs),
    /// Print the OpenAPI document.
    Openapi,
    /// Print the CRDs the project owns (with --upstream, also the Calico and tenant CRDs for test clusters).
    Crds {
        /// Include the Calico and KubeSphere tenant CRDs (for test and demo clusters).
        #[arg(long)]
        upstream: bool,
        /// Write one file per CRD into this folder instead of printing; upstream ones always, into its `upstream/`.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

/// Settings of the long-running modes. Each flag overrides the config file and `KSNET_*` variables.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Configuration file (YAML); every key has a default.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// kubeconfig file (`kubeconfig`); default: $KUBECONFIG, then ~/.kube/config, then in-cluster.
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Listen address (`server.bindAddress`).
    #[arg(long, value_name = "HOST:PORT")]
    pub bind_address: Option<String>,
    /// Log format (`log.format`).
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log filter (`log.level`), e.g. `info` or `debug`.
    #[arg(long, value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Set any configuration key, e.g. `--set auth.cacheTTLSeconds=30` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub set: Vec<(String, String)>,
}

impl RunArgs {
    /// The flags as `(key, value)` overrides, in precedence order (later wins).
    pub fn overrides(&self) -> Vec<(String, String)> {
        let mut out = self.set.clone();
        let mut push = |key: &str, value: Option<String>| {
            if let Some(value) = value {
                out.push((key.to_owned(), value));
            }
        };
        push(
            "kubeconfig",
            self.kubeconfig.as_ref().map(|p| p.display().to_string()),
        );
        push("server.bindAddress", self.bind_address.clone());
        push(
            "log.format",
            self.log_format.map(|f| match f {
                LogFormat::Text => "text".to_owned(),
                LogFormat::Json => "json".to_owned(),
            }),
        );
        push("log.level", self.log_level.clone());
        out
    }
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))
}
