//! The two MQTT connections of a node and the streams that poll them.
//!
//! - **main**: a durable session (clean start off, session expiry set, client id derived from
//!   the instance id) carrying event subscriptions and responses, so a node that was away gets
//!   what it missed. Everything the node publishes goes out here.
//! - **commands**: a clean-start session with no expiry carrying the command subscriptions.
//!   mosquitto keeps routing a durable offline member of a shared subscription its share
//!   of the messages; a session that ends with the connection leaves the group at once, so
//!   no command waits for an instance that is gone.

use std::time::Duration;

use futures_util::stream::{self, Stream};
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{ConnectionError, Event, EventLoop, MqttOptions};
use tributary::InstanceId;

use crate::config::MqttConfig;

/// The most publishes rumqttc may have unacknowledged on one connection: well above the
/// bridge's own window, far below rumqttc's default of 65,535.
pub(crate) const OUTGOING_INFLIGHT_LIMIT: u16 = 128;

/// Which of the node's connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Conn {
    /// The durable session: events, responses, everything published.
    Main,
    /// The clean session: commands.
    Commands,
}

impl Conn {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Conn::Main => "main",
            Conn::Commands => "commands",
        }
    }

    /// The client id: stable per node and connection.
    pub(crate) fn client_id(self, instance: InstanceId) -> String {
        match self {
            Conn::Main => format!("{instance}-m"),
            Conn::Commands => format!("{instance}-c"),
        }
    }
}

/// rumqttc's options for one of the node's connections.
pub(crate) fn options(config: &MqttConfig, instance: InstanceId, conn: Conn) -> MqttOptions {
    let mut options = MqttOptions::new(conn.client_id(instance), config.host.clone(), config.port);
    options.set_keep_alive(Duration::from_secs(config.keep_alive_secs.max(5)));
    options.set_max_packet_size(Some(config.max_packet_size));
    // rumqttc keeps a slot per packet id it may use, filled up front: 216 bytes for each of
    // 65,535 ids, 14 MB resident per connection, unless told a smaller limit. The bridge never
    // has more than its window (at most 20) of publishes unacknowledged.
    options.set_outgoing_inflight_upper_limit(OUTGOING_INFLIGHT_LIMIT);
    let mut network = rumqttc::NetworkOptions::new();
    network.set_tcp_nodelay(true);
    options.set_network_options(network);
    if let Some(credentials) = &config.credentials {
        options.set_credentials(credentials.username.clone(), credentials.password.clone());
    }
    match conn {
        Conn::Main => {
            options.set_clean_start(false);
            options.set_session_expiry_interval(Some(config.session_expiry_secs.max(1)));
        }
        Conn::Commands => {
            options.set_clean_start(true);
            options.set_session_expiry_interval(None);
        }
    }
    options
}

/// Options that end the main session: a clean start with no expiry discards the durable
/// session, and the new one ends with the connection.
pub(crate) fn end_session_options(config: &MqttConfig, instance: InstanceId) -> MqttOptions {
    let mut options = options(config, instance, Conn::Main);
    options.set_clean_start(true);
    options.set_session_expiry_interval(None);
    options
}

/// Exponential backoff with jitter between reconnect attempts.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub(crate) fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            min,
            max,
            attempt: 0,
        }
    }

    /// The wait before the next attempt: `min · 2^attempt`, capped at `max`, then a random
    /// 50–100 % of that, so that many nodes do not reconnect in step.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let factor = 1u32 << self.attempt.min(16);
        self.attempt = self.attempt.saturating_add(1);
        let full = self.min.saturating_mul(factor).min(self.max);
        full.mul_f64(0.5 + fastrand::f64() * 0.5)
    }

    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// What a connection's stream yields.
pub(crate) type Polled = (Conn, Result<Event, ConnectionError>);

/// Polls `eventloop` forever as a stream; after an error the next poll (which reconnects)
/// waits for the backoff. The stream ends once the connection has sent its DISCONNECT, so a
/// closed connection does not come back by itself.
pub(crate) fn poll_stream(
    eventloop: EventLoop,
    conn: Conn,
    backoff: Backoff,
) -> impl Stream<Item = Polled> {
    struct State {
        eventloop: EventLoop,
        backoff: Backoff,
        failed: bool,
        done: bool,
    }
    // Boxed: the stream hands its state from one poll to the next, and an event loop is
    // large enough that copying it for every event shows.
    let state = Box::new(State {
        eventloop,
        backoff,
        failed: false,
        done: false,
    });
    stream::unfold(state, move |mut state| async move {
        if state.done {
            return None;
        }
        if state.failed {
            tokio::time::sleep(state.backoff.next_delay()).await;
        }
        let polled = state.eventloop.poll().await;
        state.failed = polled.is_err();
        match &polled {
            Ok(Event::Incoming(Packet::ConnAck(_))) => state.backoff.reset(),
            Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => state.done = true,
            _ => {}
        }
        Some(((conn, polled), state))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_connections_and_the_session_end_limit_rumqttc_inflight_slots() {
        let config = MqttConfig::new("127.0.0.1", 1883);
        let instance = InstanceId::random();
        for options in [
            options(&config, instance, Conn::Main),
            options(&config, instance, Conn::Commands),
            end_session_options(&config, instance),
        ] {
            assert_eq!(
                options.get_outgoing_inflight_upper_limit(),
                Some(OUTGOING_INFLIGHT_LIMIT)
            );
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let delays: Vec<Duration> = (0..8).map(|_| backoff.next_delay()).collect();
        let caps = [100, 200, 400, 800, 1600, 2000, 2000, 2000];
        for (delay, cap) in delays.iter().zip(caps) {
            let cap = Duration::from_millis(cap);
            assert!(
                *delay <= cap && *delay >= cap / 2,
                "{delay:?} not within 50-100 % of {cap:?}"
            );
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(100));
    }
}
