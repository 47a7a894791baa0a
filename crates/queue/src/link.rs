//! One AMQP connection with one channel on it, opened with the topology declared.
//!
//! Each publisher, consumer and ops task owns its own connection: RabbitMQ throttles
//! publishing connections under memory or disk alarms
//! (<https://www.rabbitmq.com/docs/alarms>), and a consumer sharing that connection would
//! then be unable to ack. Reconnection is ours rather than lapin's auto-recovery, so
//! that the backoff, the deadlines and what callers see are decided (and tested) here.

use lapin::{Channel, Connection, ConnectionProperties, types::LongString};

use crate::{Error, QueueSettings, Result, error::amqp, topology};

pub(crate) struct Link {
    pub(crate) connection: Connection,
    pub(crate) channel: Channel,
}

impl Link {
    /// Connects once (no retry), opens a channel and declares the topology on it, all
    /// within `connect_timeout`.
    pub(crate) async fn open(settings: &QueueSettings, role: &str) -> Result<Self> {
        Self::within_connect_timeout(settings, async {
            let link = Self::connect_untimed(settings, role).await?;
            topology::declare(&link.channel, settings).await?;
            Ok(link)
        })
        .await
    }

    /// Like [`Link::open`] without declaring anything (for `status`, which must not
    /// create queues).
    pub(crate) async fn connect(settings: &QueueSettings, role: &str) -> Result<Self> {
        Self::within_connect_timeout(settings, Self::connect_untimed(settings, role)).await
    }

    async fn connect_untimed(settings: &QueueSettings, role: &str) -> Result<Self> {
        let properties = ConnectionProperties::default().with_connection_name(LongString::from(
            format!("{} {role} {}", settings.prefix, process_label()),
        ));
        let connection = Connection::connect_uri(settings.url.uri(), properties)
            .await
            .map_err(amqp("connect"))?;
        let channel = connection
            .create_channel()
            .await
            .map_err(amqp("channel.open"))?;
        Ok(Link {
            connection,
            channel,
        })
    }

    async fn within_connect_timeout(
        settings: &QueueSettings,
        attempt: impl Future<Output = Result<Self>>,
    ) -> Result<Self> {
        let timeout = settings.connect_timeout();
        match tokio::time::timeout(timeout, attempt).await {
            Ok(result) => result,
            Err(_elapsed) => Err(Error::Timeout {
                operation: "connect",
                timeout,
                last_error: "none".into(),
            }),
        }
    }

    /// False once the broker or the network ended the connection or the channel.
    pub(crate) fn is_usable(&self) -> bool {
        self.connection.status().connected() && self.channel.status().connected()
    }

    /// Closes the channel, then the connection, politely (reply code 200). Unsettled
    /// deliveries of the channel go back to their queue.
    pub(crate) async fn close(&self) -> Result<()> {
        // Either may already be gone (a channel error such as NOT_FOUND closes only
        // the channel); close what is left.
        if self.channel.status().connected() {
            self.channel
                .close(200, "bye".into())
                .await
                .map_err(amqp("channel.close"))?;
        }
        if self.connection.status().connected() {
            self.connection
                .close(200, "bye".into())
                .await
                .map_err(amqp("connection.close"))?;
        }
        Ok(())
    }
}

/// `host/pid`, to tell processes apart in consumer tags and in the broker's
/// connection list. Pods set `HOSTNAME` to the pod name.
pub fn process_label() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|host| host.trim().to_owned())
        .filter(|host| !host.is_empty())
        .unwrap_or_else(|| "unknown-host".to_owned());
    format!("{host}/{}", std::process::id())
}
