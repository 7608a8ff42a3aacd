//! `node`: the one binary for every deployment of the sample graph. Its configuration (a
//! TOML file and `TRIBUTARY_*` variables, read by [`NodeConfig`]) says which of the graph's
//! services this node runs and whether and where it bridges; `printer`, a subscriber that
//! prints every aggregate it receives, can run on any node. Runs until Ctrl-C, SIGTERM or
//! `--seconds N`, then shuts the node down gracefully and prints a summary.

use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tracing_subscriber::EnvFilter;
use tributary::{Empty, Node, Service};
use tributary_mqtt::{MqttBridge, NodeConfig};
use tributary_samples::{graph_part, Aggregate, Forwarder, SampleConfig, TakeSnapshot, SERVICES};

const USAGE: &str = "usage: node [--config PATH] [--seconds N] [--sensors N]
  --config PATH  the node's configuration (TOML); default: $TRIBUTARY_CONFIG, else none
  --seconds N    stop after N seconds (default: run until Ctrl-C or SIGTERM)
  --sensors N    how many sensors the sensor service simulates (default 4)
The configuration names the services to run (sensor, aggregator, printer; none named: all)
and the MQTT bridge; TRIBUTARY_* variables override it (TRIBUTARY_SERVICES,
TRIBUTARY_MQTT_HOST, TRIBUTARY_MQTT_PORT, TRIBUTARY_MQTT=off, ...). Logs go to stderr; set
RUST_LOG to see more than warnings.";

/// The subscriber of this binary that prints aggregates.
const PRINTER: &str = Forwarder::NAME;

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Args {
    config: Option<PathBuf>,
    seconds: Option<u64>,
    sensors: usize,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = match parse(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!("node: {err}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let path = args
        .config
        .clone()
        .or_else(|| std::env::var_os("TRIBUTARY_CONFIG").map(PathBuf::from));
    let config = match NodeConfig::load(path.as_deref()).map_err(|e| e.to_string()) {
        Ok(config) => match check_services(&config) {
            Ok(()) => config,
            Err(err) => {
                eprintln!("node: {err}");
                return ExitCode::from(2);
            }
        },
        Err(err) => {
            eprintln!("node: {err}");
            return ExitCode::from(2);
        }
    };
    match actix::System::new().block_on(run(args, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("node: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The arguments, or `None` when help was asked for.
fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut parsed = Args {
        config: None,
        seconds: None,
        sensors: 4,
    };
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (arg, None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match name.as_str() {
            "--config" => parsed.config = Some(value(&name)?.into()),
            "--seconds" => parsed.seconds = Some(number(&name, &value(&name)?)?),
            "--sensors" => parsed.sensors = number(&name, &value(&name)?)?,
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Some(parsed))
}

fn number<T: std::str::FromStr + PartialOrd + Default>(
    name: &str,
    value: &str,
) -> Result<T, String> {
    match value.parse::<T>() {
        Ok(n) if n > T::default() => Ok(n),
        _ => Err(format!(
            "{name} wants a positive whole number, not {value:?}"
        )),
    }
}

/// Refuses service names this binary does not have: a typo would otherwise run nothing.
fn check_services(config: &NodeConfig) -> Result<(), String> {
    match config
        .services
        .iter()
        .find(|name| !SERVICES.contains(&name.as_str()) && name.as_str() != PRINTER)
    {
        Some(unknown) => Err(format!(
            "unknown service {unknown:?}: this node has {}, {PRINTER}",
            SERVICES.join(", ")
        )),
        None => Ok(()),
    }
}

async fn run(args: Args, config: NodeConfig) -> Result<(), Box<dyn Error>> {
    let mut sample = SampleConfig {
        sensors: args.sensors,
        ..SampleConfig::default()
    };
    let window_ms = sample.window_ms();
    // A sensor here starts on the next window boundary, so that every window is a full one.
    let origin_ms = (now_ms() / window_ms + 1) * window_ms;
    sample.origin_ms = Some(origin_ms);

    let (builder, bridge) = config.apply(Node::builder())?;
    let mut builder = graph_part(builder, &sample, |service| config.runs(service));
    let (aggregates, mut received) = mpsc::unbounded_channel();
    if config.runs(PRINTER) {
        builder = builder.service(move || Forwarder::new(aggregates.clone()));
    }
    let node = builder.start()?;

    let running: Vec<&str> = SERVICES
        .into_iter()
        .chain([PRINTER])
        .filter(|service| config.runs(service))
        .collect();
    let link = match &config.mqtt {
        Some(mqtt) => format!(
            "bridged to {}:{} ({}, topic prefix {})",
            mqtt.host, mqtt.port, mqtt.codec, mqtt.prefix
        ),
        None => "no bridge".to_owned(),
    };
    println!(
        "node {}: {}; {link}",
        node.instance_id(),
        running.join(", ")
    );
    if config.runs("sensor") {
        println!(
            "sampling {} sensors every {} ms from {} UTC",
            sample.sensor_count(),
            sample.interval_ms(),
            clock(origin_ms)
        );
    }
    if config.runs("aggregator") {
        println!("aggregating over {window_ms} ms windows");
    }

    let deadline = args
        .seconds
        .map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
    let mut printed = 0u64;
    let stop = shutdown_requested(deadline);
    tokio::pin!(stop);
    let why = loop {
        tokio::select! {
            why = &mut stop => break why,
            Some(aggregate) = received.recv() => {
                print_aggregate(&aggregate);
                printed += 1;
            }
        }
    };
    println!("stopping ({why})");

    if config.runs(PRINTER) {
        println!("aggregates printed: {printed}");
    }
    if config.runs("aggregator") {
        let totals = node
            .client()
            .invoke::<TakeSnapshot>(Empty {}, Empty {})
            .timeout(Duration::from_secs(5))
            .await?
            .totals;
        println!(
            "readings in: {}, aggregated: {} into {} aggregates ({} readings per aggregate), open: {}, late: {}",
            totals.readings_in,
            totals.readings_aggregated,
            totals.aggregates_out,
            totals
                .reduction()
                .map_or_else(|| "-".to_owned(), |r| format!("{r:.1}")),
            totals.readings_open,
            totals.late_readings,
        );
    }
    let report = node.shutdown().await;
    if let Some(bridge) = bridge {
        print_bridge(&bridge);
    }
    println!(
        "node stopped: {} service instances, {} commands abandoned",
        report.instances, report.abandoned
    );
    Ok(())
}

/// Resolves with the reason once Ctrl-C or SIGTERM arrives or the deadline passes.
async fn shutdown_requested(deadline: Option<tokio::time::Instant>) -> &'static str {
    let timer = async {
        match deadline {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = timer => "time is up",
        () = ctrl_c() => "Ctrl-C",
        () = terminate() => "SIGTERM",
    }
}

async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        tracing::warn!("cannot listen for Ctrl-C");
        std::future::pending::<()>().await;
    }
}

#[cfg(unix)]
async fn terminate() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut sigterm) => {
            sigterm.recv().await;
        }
        Err(err) => {
            tracing::warn!(cause = %err, "cannot listen for SIGTERM");
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(not(unix))]
async fn terminate() {
    std::future::pending::<()>().await;
}

fn print_bridge(bridge: &MqttBridge) {
    let health = bridge.health();
    println!(
        "bridge: {} connects, {} connection errors, {} published with no subscriber, {} events dropped, {} undecodable, {} duplicates",
        health.connects,
        health.connection_errors,
        health.no_subscribers,
        health.events_dropped,
        health.undecodable,
        health.duplicates,
    );
}

fn print_aggregate(a: &Aggregate) {
    println!(
        "{}-{} {} n={} min={:.2} max={:.2} mean={:.2}",
        clock(a.window_start_ms),
        clock(a.window_start_ms + a.window_ms),
        a.sensor,
        a.count,
        a.min,
        a.max,
        a.mean
    );
}

/// The UTC time of day of a timestamp: `hh:mm:ss`, with milliseconds when there are any.
fn clock(ms: u64) -> String {
    let secs = ms / 1000 % 86_400;
    let hms = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    match ms % 1000 {
        0 => hms,
        millis => format!("{hms}.{millis:03}"),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Option<Args>, String> {
        parse(list.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn defaults_and_options() {
        assert_eq!(
            args(&[]),
            Ok(Some(Args {
                config: None,
                seconds: None,
                sensors: 4
            }))
        );
        assert_eq!(
            args(&[
                "--config",
                "samples/config/edge.toml",
                "--seconds=3",
                "--sensors",
                "2"
            ]),
            Ok(Some(Args {
                config: Some("samples/config/edge.toml".into()),
                seconds: Some(3),
                sensors: 2
            }))
        );
        assert_eq!(args(&["-h"]), Ok(None));
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert!(args(&["--config"]).is_err());
        assert!(args(&["--seconds", "0"]).is_err());
        assert!(args(&["--sensors", "many"]).is_err());
        assert!(args(&["--frobnicate"]).is_err());
    }

    #[test]
    fn unknown_services_are_refused() {
        let config = |services: &[&str]| NodeConfig {
            services: services.iter().map(|s| (*s).to_owned()).collect(),
            ..NodeConfig::default()
        };
        assert!(check_services(&config(&[])).is_ok());
        assert!(check_services(&config(&["sensor", "aggregator", "printer"])).is_ok());
        let err = check_services(&config(&["sensor", "sensr"])).expect_err("a typo");
        assert!(err.contains("sensr"), "{err}");
    }

    #[test]
    fn clock_shows_the_utc_time_of_day() {
        assert_eq!(clock(1_700_000_000_000), "22:13:20");
        assert_eq!(clock(1_700_000_000_250), "22:13:20.250");
    }
}
