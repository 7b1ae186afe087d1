//! The Omnia operator: reconciles AgentRuntimes (and the PromptPacks, Providers and
//! ToolRegistries they reference) into agent Deployments, and tunes replicas from live load.
//!
//!   omnia-operator [--gateway-image IMAGE] [--runtime-image IMAGE] [--watch-namespace NS]
//!                  [--health-listen ADDR] [--tuner true|false] [--tuner-interval 15s]

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use omnia_operator::reconcile::Context;
use omnia_operator::render::Settings;
use omnia_operator::{controller, health, tune};

#[derive(Debug, Parser)]
#[command(name = "omnia-operator", version, about)]
struct Cli {
    /// The facade container's image for agents that name none.
    #[arg(
        long,
        env = "OMNIA_GATEWAY_IMAGE",
        default_value = "omnia-gateway:0.1.0"
    )]
    gateway_image: String,
    /// The runtime container's image for agents that name none.
    #[arg(
        long,
        env = "OMNIA_RUNTIME_IMAGE",
        default_value = "omnia-runtime:0.1.0"
    )]
    runtime_image: String,
    /// Reconcile only this namespace (empty: every namespace).
    #[arg(long, env = "OMNIA_WATCH_NAMESPACE", default_value = "")]
    watch_namespace: String,
    /// `/healthz`, `/readyz` and `/metrics`.
    #[arg(
        long,
        env = "OMNIA_OPERATOR_HEALTH_LISTEN",
        default_value = "0.0.0.0:8081"
    )]
    health_listen: SocketAddr,
    /// Tune the replicas of agents whose autoscaling type is `tuner`.
    #[arg(long = "tuner", env = "OMNIA_TUNER_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    tuner_enabled: bool,
    /// How often the tuner reads the agents' load (a duration: `15s`, `1m`).
    #[arg(long, env = "OMNIA_TUNER_INTERVAL", default_value = "15s", value_parser = parse_interval)]
    tuner_interval: Duration,
}

fn parse_interval(text: &str) -> Result<Duration, String> {
    let d = omnia_api::parse_duration(text)?;
    if d.is_zero() {
        return Err("must be more than 0".to_owned());
    }
    Ok(d)
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    // kube's rustls client uses the process-wide provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = match kube::Client::try_default().await {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "cannot reach the Kubernetes API (in-cluster config or KUBECONFIG)");
            return ExitCode::FAILURE;
        }
    };
    let namespace = Some(cli.watch_namespace.trim().to_owned()).filter(|ns| !ns.is_empty());
    let settings = Settings {
        gateway_image: cli.gateway_image,
        runtime_image: cli.runtime_image,
    };
    let ctx = Arc::new(Context::new(client.clone(), settings));
    if let Err(e) = health::serve(cli.health_listen, ctx.metrics.clone()).await {
        tracing::error!(addr = %cli.health_listen, error = %e, "cannot listen");
        return ExitCode::FAILURE;
    }
    if cli.tuner_enabled {
        let tuner = tune::TunerLoop::new(client, ctx.metrics.clone(), namespace.clone());
        tokio::spawn(tuner.run(cli.tuner_interval));
    }
    tracing::info!(
        namespace = namespace.as_deref().unwrap_or("*"),
        "operator running"
    );
    controller::run(ctx, namespace).await;
    ExitCode::SUCCESS
}
