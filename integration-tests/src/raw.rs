//! A raw MQTT v5 client for tests that look at the wire itself: what a node publishes, or
//! what a PURISTA bridge would send.

use std::time::Duration;

use rumqttc::v5::mqttbytes::v5::{Packet, Publish};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use tokio::sync::{mpsc, oneshot};
use tributary::codec::{Codec, CodecError, Limits};
use tributary::envelope::Envelope;

use crate::Mosquitto;

/// rumqttc options as every client we start uses them: TCP_NODELAY, a 1 MiB packet limit.
pub fn tuned_options(broker: &Mosquitto, client_id: &str) -> MqttOptions {
    let mut options = MqttOptions::new(client_id, broker.host(), broker.port());
    options.set_max_packet_size(Some(1024 * 1024));
    let mut network = rumqttc::NetworkOptions::new();
    network.set_tcp_nodelay(true);
    options.set_network_options(network);
    options
}

/// A connected client whose event loop runs in a task of its own and forwards every
/// publish it receives.
#[derive(Debug)]
pub struct RawClient {
    /// The client, to publish or subscribe more.
    pub client: AsyncClient,
    /// The receive maximum the broker announced in its CONNACK.
    pub receive_maximum: Option<u16>,
    received: mpsc::UnboundedReceiver<Publish>,
}

impl RawClient {
    /// Connects as `client_id` and subscribes `filters` (QoS 1); returns once the broker has
    /// confirmed them all, or `None` after 5 s.
    pub async fn connect(
        broker: &Mosquitto,
        client_id: &str,
        filters: &[&str],
    ) -> Option<RawClient> {
        let (client, mut event_loop) = AsyncClient::new(tuned_options(broker, client_id), 100);
        for filter in filters {
            client.subscribe(*filter, QoS::AtLeastOnce).await.ok()?;
        }
        let (forward, received) = mpsc::unbounded_channel();
        let (ready_tx, ready) = oneshot::channel();
        let wanted = filters.len();
        actix::spawn(async move {
            let mut ready_tx = Some(ready_tx);
            let mut receive_maximum = None;
            let mut acks = 0;
            loop {
                match event_loop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                        receive_maximum = ack.properties.and_then(|p| p.receive_max);
                        if wanted == 0 {
                            if let Some(tx) = ready_tx.take() {
                                let _ = tx.send(receive_maximum);
                            }
                        }
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        acks += 1;
                        if acks == wanted {
                            if let Some(tx) = ready_tx.take() {
                                let _ = tx.send(receive_maximum);
                            }
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(publish))) => {
                        if forward.send(publish).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        });
        let receive_maximum = tokio::time::timeout(Duration::from_secs(5), ready)
            .await
            .ok()?
            .ok()?;
        Some(RawClient {
            client,
            receive_maximum,
            received,
        })
    }

    /// The next publish received, if one comes within 5 s.
    pub async fn next(&mut self) -> Option<Publish> {
        tokio::time::timeout(Duration::from_secs(5), self.received.recv())
            .await
            .ok()?
    }

    /// The publishes received from now on, each turned into a `T` by `map` (`None` skips one).
    pub fn map<T: 'static>(
        mut self,
        mut map: impl FnMut(Publish) -> Option<T> + 'static,
    ) -> mpsc::UnboundedReceiver<T> {
        let (tx, rx) = mpsc::unbounded_channel();
        actix::spawn(async move {
            let _client = self.client;
            while let Some(publish) = self.received.recv().await {
                if let Some(item) = map(publish) {
                    if tx.send(item).is_err() {
                        return;
                    }
                }
            }
        });
        rx
    }
}

/// The content type a publish carries, if any.
pub fn content_type(publish: &Publish) -> Option<String> {
    publish
        .properties
        .as_ref()
        .and_then(|p| p.content_type.clone())
}

/// A publish's envelope, decoded with the codec its content type names (JSON if none).
pub fn decode(publish: &Publish) -> Result<Envelope, CodecError> {
    let codec = content_type(publish)
        .as_deref()
        .and_then(Codec::from_content_type)
        .unwrap_or(Codec::Json);
    codec.decode(&publish.payload, &Limits::default())
}
