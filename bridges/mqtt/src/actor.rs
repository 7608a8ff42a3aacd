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
                // The last one to use the envelope takes it; the others borrow it.
                let mut envelope = Some(envelope);
                for (i, &id) in ids.iter().enumerate() {
                    let last_id = i + 1 == ids.len();
                    if id == RESPONSES {
                        self.response(&publish, &mut envelope, last_id);
                    } else {
                        let link = self.link.clone();
                        let targets = link
                            .event_routes
                            .get(id.wrapping_sub(FIRST_EVENT))
                            .map_or(&[][..], Vec::as_slice);
                        for (j, &index) in targets.iter().enumerate() {
                            if let Some(sub) = link.subscriptions.get(index) {
                                let last = last_id && j + 1 == targets.len();
                                self.event(index, sub, &mut envelope, last);
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
        // In the instance's mailbox now; the task only waits for the answer and sends it.
        let answer = link.node.handle_owned_command(command, timeout);
        actix::spawn(async move {
            let response = answer.await;
            link.respond(&response, timeout);
        });
    }

    /// Resolves the invoke waiting for `response`; takes its payload when `last`, the
    /// envelope's last use.
    fn response(&mut self, publish: &Publish, response: &mut Option<Envelope>, last: bool) {
        let link = &self.link;
        let Some(response) = response.as_mut() else {
            return;
        };
        let outcome = match response.message_type {
            MessageType::CommandSuccessResponse => Ok(if last {
                response.payload.take()
            } else {
                response.payload.clone()
            }
            .unwrap_or(Value::Null)),
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

    /// Hands the event to one local subscription; takes the envelope when `last`, its last
    /// use.
    fn event(
        &mut self,
        index: usize,
        sub: &LocalSubscription,
        event: &mut Option<Envelope>,
        last: bool,
    ) {
        use std::fmt::Write;
        let Some(borrowed) = event.as_ref() else {
            return;
        };
        self.event_key.clear();
        let _ = write!(self.event_key, "{index}:{}", borrowed.id);
        if !self.dedup.first_time(&self.event_key) {
            bump(&self.link.health.duplicates);
            return;
        }
        let delivered = match event.take_if(|_| last) {
            Some(owned) => self.link.node.deliver_owned_event(&sub.subscriber, owned),
            None => match event.as_ref() {
                Some(borrowed) => self.link.node.deliver_event(&sub.subscriber, borrowed),
                None => return,
            },
        };
        match delivered {
            Ok(0) => bump(&self.link.health.misaddressed),
            Ok(_) => {}
            Err(err) => tracing::warn!(cause = %err, "event not delivered"),
        }
    }
}
