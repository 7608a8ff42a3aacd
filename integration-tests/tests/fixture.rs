//! Proves the mosquitto fixture: it starts a broker that MQTT v5 clients can use, restarts
//! and crashes it on the same port with its persistence, keeps fixtures apart, and leaves
//! no process behind.
#![allow(clippy::unwrap_used)]

use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use rumqttc::NetworkOptions;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tributary_integration_tests::{eventually_async, Mosquitto, MosquittoConfig};

/// The bound on every single wait in these tests.
const DEADLINE: Duration = Duration::from_secs(5);

/// One rumqttc v5 client whose event loop runs in its own task and forwards incoming
/// packets to `incoming`.
struct Client {
    client: AsyncClient,
    incoming: mpsc::UnboundedReceiver<Packet>,
    poll_task: JoinHandle<()>,
}

impl Client {
    /// Connects with the options design rule 3.6 asks for: TCP_NODELAY and an explicit
    /// max packet size. `durable` adds clean start off and a session expiry; the id is
    /// then what identifies the session.
    fn connect(broker: &Mosquitto, id: &str, durable: bool) -> Self {
        let mut options = MqttOptions::new(id, broker.host(), broker.port());
        options.set_keep_alive(Duration::from_secs(30));
        options.set_max_packet_size(Some(1024 * 1024));
        let mut network = NetworkOptions::new();
        network.set_tcp_nodelay(true);
        options.set_network_options(network);
        if durable {
            options.set_clean_start(false);
            options.set_session_expiry_interval(Some(3600));
        }
        let (client, mut event_loop) = AsyncClient::new(options, 64);
        let (tx, incoming) = mpsc::unbounded_channel();
        let poll_task = tokio::spawn(async move {
            loop {
                match event_loop.poll().await {
                    Ok(Event::Incoming(packet)) => {
                        if tx.send(packet).is_err() {
                            return;
                        }
                    }
                    Ok(Event::Outgoing(_)) => {}
                    // rumqttc retries at once, thousands of times a second: back off.
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        });
        Self {
            client,
            incoming,
            poll_task,
        }
    }

    /// The next incoming packet that `pick` maps to `Some`, within [`DEADLINE`].
    async fn next<T>(&mut self, mut pick: impl FnMut(Packet) -> Option<T>) -> T {
        timeout(DEADLINE, async {
            loop {
                let packet = self.incoming.recv().await.expect("poll task ended");
                if let Some(found) = pick(packet) {
                    return found;
                }
            }
        })
        .await
        .expect("expected packet within the deadline")
    }

    /// Waits for the CONNACK and returns its `session_present`.
    async fn connack(&mut self) -> bool {
        self.next(|p| match p {
            Packet::ConnAck(ack) => Some(ack.session_present),
            _ => None,
        })
        .await
    }

    /// Subscribes to `filter` with QoS 1 and waits for the SUBACK.
    async fn subscribe(&mut self, filter: &str) {
        self.client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .unwrap();
        self.next(|p| matches!(p, Packet::SubAck(_)).then_some(()))
            .await;
    }

    /// Publishes `payload` to `topic` with QoS 1 and waits for the PUBACK.
    async fn publish(&mut self, topic: &str, payload: &str) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.to_owned())
            .await
            .unwrap();
        self.next(|p| matches!(p, Packet::PubAck(_)).then_some(()))
            .await;
    }

    /// The payload of the next message received.
    async fn received(&mut self) -> String {
        self.next(|p| match p {
            Packet::Publish(publish) => {
                Some(String::from_utf8_lossy(&publish.payload).into_owned())
            }
            _ => None,
        })
        .await
    }

    /// Drops the connection without DISCONNECT, as a crashed client would: the broker
    /// keeps a durable session.
    async fn drop_connection(self) {
        self.poll_task.abort();
        let _ = self.poll_task.await;
    }
}

fn accepts(broker: &Mosquitto) -> bool {
    TcpStream::connect((broker.host(), broker.port())).is_ok()
}

fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qos1_publish_reaches_a_subscriber() {
    let broker = Mosquitto::start().unwrap();

    let mut subscriber = Client::connect(&broker, "fixture-sub", false);
    assert!(!subscriber.connack().await, "a new client has no session");
    subscriber.subscribe("fixture/qos1").await;

    let mut publisher = Client::connect(&broker, "fixture-pub", false);
    publisher.connack().await;
    publisher.publish("fixture/qos1", "hello").await;

    assert_eq!(subscriber.received().await, "hello");
    assert!(broker.log().contains("New client connected"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_a_durable_session_and_its_subscription() {
    let mut broker = Mosquitto::start().unwrap();
    let port = broker.port();

    let mut durable = Client::connect(&broker, "fixture-durable", true);
    assert!(!durable.connack().await);
    durable.subscribe("fixture/durable").await;
    durable.drop_connection().await;

    // Queued for the offline session, then saved by the graceful stop.
    let mut publisher = Client::connect(&broker, "fixture-durable-pub", false);
    publisher.connack().await;
    publisher.publish("fixture/durable", "queued").await;
    publisher.drop_connection().await;

    broker.restart().unwrap();
    assert_eq!(broker.port(), port, "a restart keeps the port");
    assert!(broker.log().contains("Saving in-memory database"));

    let mut durable = Client::connect(&broker, "fixture-durable", true);
    assert!(durable.connack().await, "the session survived the restart");
    assert_eq!(durable.received().await, "queued");

    // The subscription survived too: no re-subscribe before this publish.
    let mut publisher = Client::connect(&broker, "fixture-durable-pub", false);
    publisher.connack().await;
    publisher.publish("fixture/durable", "live").await;
    assert_eq!(durable.received().await, "live");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_keeps_what_the_last_autosave_wrote() {
    let mut broker = Mosquitto::start().unwrap();

    let mut durable = Client::connect(&broker, "fixture-crash", true);
    assert!(!durable.connack().await);
    durable.subscribe("fixture/crash").await;
    durable.drop_connection().await;

    assert!(
        broker.wait_for_autosave(DEADLINE),
        "no autosave:\n{}",
        broker.log()
    );
    broker.crash_and_restart().unwrap();

    let mut durable = Client::connect(&broker, "fixture-crash", true);
    assert!(
        durable.connack().await,
        "the autosaved session survived the crash"
    );
    let mut publisher = Client::connect(&broker, "fixture-crash-pub", false);
    publisher.connack().await;
    publisher.publish("fixture/crash", "after crash").await;
    assert_eq!(durable.received().await, "after crash");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_persistence_a_restart_forgets_sessions() {
    let mut broker = MosquittoConfig::default()
        .persistence(false)
        .start()
        .unwrap();

    let mut durable = Client::connect(&broker, "fixture-volatile", true);
    assert!(!durable.connack().await);
    durable.drop_connection().await;

    broker.restart().unwrap();
    let mut durable = Client::connect(&broker, "fixture-volatile", true);
    assert!(!durable.connack().await, "nothing was persisted");
    assert!(!broker.dir().join("mosquitto.db").exists());
}

#[test]
fn a_killed_broker_refuses_connections_until_restarted() {
    let mut broker = Mosquitto::start().unwrap();
    assert!(broker.is_running());
    assert!(accepts(&broker));

    broker.kill();
    assert!(!broker.is_running());
    assert_eq!(broker.pid(), None);
    let refused = TcpStream::connect((broker.host(), broker.port())).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);

    broker.restart().unwrap();
    assert!(broker.is_running());
    assert!(accepts(&broker));
}

#[test]
fn stop_is_graceful_and_writes_the_database() {
    let mut broker = Mosquitto::start().unwrap();
    broker.stop().unwrap();
    assert!(!broker.is_running());
    assert!(!accepts(&broker));
    let log = broker.log();
    assert!(log.contains("terminating"), "{log}");
    assert!(broker.dir().join("mosquitto.db").exists());
    broker.stop().unwrap();
}

#[test]
fn two_fixtures_get_different_ports_and_directories() {
    let first = Mosquitto::start().unwrap();
    let second = Mosquitto::start().unwrap();
    assert_ne!(first.port(), second.port());
    assert_ne!(first.dir(), second.dir());
    assert!(accepts(&first));
    assert!(accepts(&second));
}

#[test]
fn drop_stops_the_process_and_removes_its_directory() {
    let broker = Mosquitto::start().unwrap();
    let pid = broker.pid().unwrap();
    let dir = broker.dir().to_path_buf();
    let port = broker.port();
    assert!(process_exists(pid));

    drop(broker);
    assert!(!process_exists(pid), "process {pid} outlived its fixture");
    assert!(!dir.exists());
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn a_bad_config_line_fails_with_the_log() {
    let err = MosquittoConfig::default()
        .extra_line("no_such_option 1")
        .start()
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("exited during startup"), "{text}");
    assert!(text.contains("no_such_option"), "{text}");
}

#[test]
fn max_packet_size_is_set_on_the_broker() {
    let broker = MosquittoConfig::default()
        .max_packet_size(10 * 1024)
        .start()
        .unwrap();
    let config = std::fs::read_to_string(broker.dir().join("mosquitto.conf")).unwrap();
    assert!(config.lines().any(|l| l == "max_packet_size 10240"));
}

#[tokio::test(flavor = "current_thread")]
async fn eventually_async_lets_other_tasks_run_between_checks() {
    // On a single-threaded runtime the setter runs only if the pauses yield to it.
    let flag = Arc::new(AtomicBool::new(false));
    let setter = tokio::spawn({
        let flag = Arc::clone(&flag);
        async move { flag.store(true, Ordering::SeqCst) }
    });
    assert!(eventually_async(DEADLINE, async || flag.load(Ordering::SeqCst)).await);
    setter.await.unwrap();

    let start = std::time::Instant::now();
    assert!(!eventually_async(Duration::from_millis(20), async || false).await);
    assert!(start.elapsed() >= Duration::from_millis(20));
}
