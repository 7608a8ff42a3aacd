//! A node of the test graph in a process of its own, configured like any deployment: from a
//! file named by `TRIBUTARY_CONFIG` and the `TRIBUTARY_*` environment variables.
//!
//! It prints `ready <instance id>` once its bridge is connected, and shuts down gracefully
//! when its standard input closes (or on SIGTERM), printing `stopped`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tributary::Node;
use tributary_integration_tests::graph;
use tributary_mqtt::NodeConfig;

#[actix::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let file = std::env::var_os("TRIBUTARY_CONFIG").map(PathBuf::from);
    let config = NodeConfig::load(file.as_deref())?;
    let received = Arc::new(Mutex::new(graph::Received::default()));
    let builder = graph::graph(Node::builder(), &config.services, received);
    let (builder, bridge) = config.apply(builder)?;
    let node = builder.start()?;
    if let Some(bridge) = &bridge {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !bridge.health().ready {
            if tokio::time::Instant::now() > deadline {
                return Err("the bridge did not connect within 10 s".into());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    println!("ready {}", node.instance_id());
    std::io::stdout().flush()?;

    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut stdin = tokio::io::stdin();
    let mut sink = Vec::new();
    tokio::select! {
        _ = stdin.read_to_end(&mut sink) => {}
        _ = terminate.recv() => {}
    }
    let report = node.shutdown().await;
    println!("stopped abandoned={}", report.abandoned);
    Ok(())
}
