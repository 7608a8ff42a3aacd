//! The bridge actor: owns the two rumqttc event loops as streams, keeps the sessions
//! subscribed, and routes what arrives: commands to the node, responses to their callers,
//! events to the local subscriptions.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use rumqttc::v5::mqttbytes::v5::{Packet, PubAckReason, Publish};
use rumqttc::v5::Event;
use serde_json::Value;
use tributary::codec::Codec;
use tributary::envelope::{Envelope, MessageType};
use tributary::{CommandError, LocalSubscription, Status};

use crate::bridge::{Link, FIRST_EVENT, RESPONSES};
use crate::connection::{Conn, Polled};
use crate::dedup::Dedup;
use crate::health::bump;
use crate::properties;
use crate::topic;

/// Owns the two event loops as streams and routes what arrives.
pub(crate) struct BridgeActor {
    link: Arc<Link>,
    /// The node's instance id as text, to tell the node's own commands and those addressed
    /// to it.
    own_instance: String,
    dedup: Dedup,
    /// Reused to build the dedup key of each event delivery.
    event_key: String,
}

impl Actor for BridgeActor {
    type Context = Context<Self>;
}

impl StreamHandler<Polled> for BridgeActor {
    fn handle(&mut self, (conn, polled): Polled, _: &mut Context<Self>) {
        let link = &self.link;
        match polled {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                link.health.connected(conn, link.filter_count(conn));
                tracing::info!(
                    connection = conn.name(),
                    session_present = ack.session_present,
                    "connected to the broker"
                );
                // Every filter, every time: mosquitto 2.0.11 loses `$share` subscriptions
                // across a restart while it reports the session present.
                link.subscribe(conn);
                if conn == Conn::Main {
                    let receive_maximum = ack.properties.as_ref().and_then(|p| p.receive_max);
                    link.main_connected(receive_maximum, ack.session_present);
                    link.node.connected("mqtt");
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                link.incoming.notify_waiters();
                self.inbound(conn, publish);
            }
            Ok(Event::Incoming(Packet::SubAck(_))) => link.health.confirmed(conn),
            Ok(Event::Incoming(Packet::PubAck(ack))) => {
                if ack.reason == PubAckReason::NoMatchingSubscribers {
                    bump(&link.health.no_subscribers);
                }
                if conn == Conn::Main {
                    link.acked();
                }
            }
            Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => {
                link.health.closed(conn);
                match conn {
                    Conn::Main => link.main_ended.notify_waiters(),
                    Conn::Commands => link.commands_ended.notify_waiters(),
                }
            }
            Ok(_) => {}
            Err(err) => {
                if link.health.failed(conn, err.to_string()) {
                    tracing::warn!(connection = conn.name(), cause = %err, "lost the broker; reconnecting with backoff");
                    if conn == Conn::Main {
                        link.node.disconnected("mqtt", err.to_string());
                    }
                } else {
                    tracing::debug!(connection = conn.name(), cause = %err, "connection attempt failed");
                }
            }
        }
    }

    fn finished(&mut self, _: &mut Context<Self>) {
        // One connection closed on purpose; the other goes on.
    }
}

impl BridgeActor {
    pub(crate) fn new(link: Arc<Link>) -> Self {
        BridgeActor {
            own_instance: link.node.instance_id().to_string(),
            link,
            dedup: Dedup::new(16_384),
            event_key: String::new(),
        }
    }

    fn decode(&self, publish: &Publish) -> Option<Envelope> {
        let link = &self.link;
        let codec = publish
            .properties
            .as_ref()
            .and_then(|p| p.content_type.as_deref())
            .and_then(Codec::from_content_type)
            .unwrap_or(Codec::Json);
        match codec.decode(&publish.payload, &link.limits) {
            Ok(envelope) => Some(envelope),
            Err(err) => {
                bump(&link.health.undecodable);
                tracing::warn!(cause = %err, topic = %String::from_utf8_lossy(&publish.topic), "undecodable message dropped");
                None
            }
        }
    }

    fn inbound(&mut self, conn: Conn, publish: Publish) {
        let Some(envelope) = self.decode(&publish) else {
            return;
        };
        match conn {
            Conn::Commands => self.command(publish, envelope),
            Conn::Main => {
                let ids = publish
                    .properties
                    .as_ref()
                    .map_or(&[][..], |p| &p.subscription_identifiers);
                for &id in ids {
                    if id == RESPONSES {
                        self.response(&publish, &envelope);
                    } else {
                        let link = self.link.clone();
                        let targets = link.event_routes.get(id.wrapping_sub(FIRST_EVENT));
                        for &index in targets.into_iter().flatten() {
                            if let Some(sub) = link.subscriptions.get(index) {
                                self.event(index, sub, &envelope);
                            }
                        }
                    }
                }
            }
        }
    }

    fn command(&mut self, publish: Publish, command: Envelope) {
        let link = self.link.clone();
        let own = self.own_instance.as_str();
        let for_us = command.message_type == MessageType::Command
            && command.sender.instance_id.as_deref() != Some(own)
            && link.command_keys.iter().any(|key| {
                topic::command_is_for(&command, &key.service, &key.version, &key.command)
            })
            && command
                .receiver
                .as_ref()
                .and_then(|r| r.instance_id.as_deref())
                .is_none_or(|instance| instance == own);
        if !for_us {
            bump(&link.health.misaddressed);
            return;
        }
        if !self.dedup.first_time(&command.id) {
            bump(&link.health.duplicates);
            return;
        }
        let timeout = publish
            .properties
            .as_ref()
            .and_then(|p| p.message_expiry_interval)
            .map_or(tributary::DEFAULT_TIMEOUT, |secs| {
                Duration::from_secs(u64::from(secs.max(1)))
            });
        actix::spawn(async move {
            let response = link.node.handle_command(&command, timeout).await;
            link.respond(&response, timeout);
        });
    }

    fn response(&mut self, publish: &Publish, response: &Envelope) {
        let link = &self.link;
        let outcome = match response.message_type {
            MessageType::CommandSuccessResponse => {
                Ok(response.payload.clone().unwrap_or(Value::Null))
            }
            MessageType::CommandErrorResponse => match response.error_payload() {
                Ok(error) => Err(CommandError {
                    status: Status(error.status),
                    message: error.message,
                    data: error.data,
                    handled: response.is_handled_error.unwrap_or(false),
                }),
                Err(err) => Err(CommandError {
                    status: Status::INTERNAL_SERVER_ERROR,
                    message: err.to_string(),
                    data: None,
                    handled: false,
                }),
            },
            // Anything else addressed to this instance is not a response.
            _ => return,
        };
        let Some(correlation_id) =
            properties::received_correlation_id(publish.properties.as_ref(), response)
        else {
            bump(&link.health.misaddressed);
            return;
        };
        match link.pending.remove(correlation_id) {
            Some((_, reply)) => {
                let _ = reply.send(outcome);
            }
            // A success event of a command this node ran for itself: the event, not a reply.
            None if response.event_name.is_some() => {}
            None => {
                bump(&link.health.late_responses);
                tracing::warn!(
                    correlation_id,
                    "late response dropped: its caller stopped waiting"
                );
            }
        }
    }

    fn event(&mut self, index: usize, sub: &LocalSubscription, event: &Envelope) {
        use std::fmt::Write;
        self.event_key.clear();
        let _ = write!(self.event_key, "{index}:{}", event.id);
        if !self.dedup.first_time(&self.event_key) {
            bump(&self.link.health.duplicates);
            return;
        }
        match self.link.node.deliver_event(&sub.subscriber, event) {
            Ok(0) => bump(&self.link.health.misaddressed),
            Ok(_) => {}
            Err(err) => tracing::warn!(cause = %err, "event not delivered"),
        }
    }
}
