//! `edge`: the sample with everything on the device (no bridge, no broker). Runs the graph
//! for a number of seconds, prints every aggregate as it comes out of the aggregator, then a
//! summary of how much the aggregation reduced the data, and shuts the node down.

use std::error::Error;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tracing_subscriber::EnvFilter;
use tributary::{Empty, Node};
use tributary_samples::{graph, Aggregate, Forwarder, SampleConfig, TakeSnapshot};

const USAGE: &str = "usage: edge [--seconds N] [--sensors N]
  --seconds N   how long to sample, in seconds (default 5)
  --sensors N   how many sensors to simulate (default 4)
Logs go to stderr; set RUST_LOG to see more than warnings.";

/// What the command line asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Args {
    seconds: u64,
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
            eprintln!("edge: {err}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match actix::System::new().block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("edge: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The arguments, or `None` when help was asked for.
fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut parsed = Args {
        seconds: 5,
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
            "--seconds" => parsed.seconds = number(&name, &value(&name)?)?,
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

async fn run(args: Args) -> Result<(), Box<dyn Error>> {
    let mut config = SampleConfig {
        sensors: args.sensors,
        ..SampleConfig::default()
    };
    let window_ms = config.window_ms();
    // Sampling starts on a window boundary, so that every window printed is a full one: the
    // sensor waits for it by itself.
    let origin_ms = (now_ms() / window_ms + 1) * window_ms;
    config.origin_ms = Some(origin_ms);
    let sampling_starts =
        tokio::time::Instant::now() + Duration::from_millis(origin_ms.saturating_sub(now_ms()));

    let (aggregates, mut received) = mpsc::unbounded_channel();
    let node = graph(Node::builder(), &config)
        .service(move || Forwarder::new(aggregates.clone()))
        .start()?;
    let client = node.client();
    println!(
        "sampling {} sensors every {} ms, aggregating over {} ms windows, for {} s",
        config.sensor_count(),
        config.interval_ms(),
        window_ms,
        args.seconds
    );

    // A window completes when the first reading of the next one arrives: wait for all the
    // windows within the run, with a generous deadline in case the node falls behind.
    let windows = args.seconds.saturating_mul(1000) / window_ms;
    let end_ms = origin_ms + windows * window_ms;
    let wanted = windows.saturating_mul(config.sensor_count() as u64);
    let deadline =
        sampling_starts + Duration::from_secs(args.seconds) + Duration::from_millis(2 * window_ms);
    let mut printed = 0;
    while printed < wanted {
        match tokio::time::timeout_at(deadline, received.recv()).await {
            Ok(Some(aggregate)) if aggregate.window_start_ms < end_ms => {
                print_aggregate(&aggregate, origin_ms);
                printed += 1;
            }
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(_) => {
                tracing::warn!(
                    printed,
                    wanted,
                    "deadline passed before every window completed"
                );
                break;
            }
        }
    }

    let totals = client
        .invoke::<TakeSnapshot>(Empty {}, Empty {})
        .await?
        .totals;
    let report = node.shutdown().await;
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
    println!(
        "node stopped: {} service instances, {} commands abandoned",
        report.instances, report.abandoned
    );
    Ok(())
}

fn print_aggregate(a: &Aggregate, origin_ms: u64) {
    let from = a.window_start_ms.saturating_sub(origin_ms);
    println!(
        "t={}-{}s {} n={} min={:.2} max={:.2} mean={:.2}",
        seconds(from),
        seconds(from + a.window_ms),
        a.sensor,
        a.count,
        a.min,
        a.max,
        a.mean
    );
}

/// Milliseconds as seconds, without a fraction when there is none.
fn seconds(ms: u64) -> String {
    if ms % 1000 == 0 {
        (ms / 1000).to_string()
    } else {
        format!("{:.3}", ms as f64 / 1000.0)
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
                seconds: 5,
                sensors: 4
            }))
        );
        assert_eq!(
            args(&["--seconds", "2", "--sensors=3"]),
            Ok(Some(Args {
                seconds: 2,
                sensors: 3
            }))
        );
        assert_eq!(args(&["--help"]), Ok(None));
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert!(args(&["--seconds"]).is_err());
        assert!(args(&["--seconds", "0"]).is_err());
        assert!(args(&["--seconds", "-1"]).is_err());
        assert!(args(&["--frobnicate"]).is_err());
    }
}
