//! SMTP channels: one e-mail per receiver (`text.header` the subject, `text.body` the plain-text
//! body) through `lettre`. `spec.smtp.tls: true` speaks TLS from the first byte (SMTPS);
//! `false` requires STARTTLS, except towards a loopback address, where a local relay without
//! TLS is accepted. Connections are pooled per channel configuration, so a burst of alerts does
//! not open one connection per message.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use api::notify::channel::Smtp;
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::header::ContentType,
    transport::smtp::{PoolConfig, authentication::Credentials},
};

use super::{SendError, Sent};

type Transport = AsyncSmtpTransport<Tokio1Executor>;

/// The SMTP transports in use, one per channel configuration.
#[derive(Default)]
pub struct Mailer {
    transports: Mutex<HashMap<String, Arc<Transport>>>,
}

/// Whether `host` is this machine.
fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl Mailer {
    fn transport(&self, c: &Smtp) -> Result<Arc<Transport>, SendError> {
        use sha2::Digest;
        let key = hex::encode(sha2::Sha256::digest(format!(
            "{}\0{}\0{}\0{}\0{}",
            c.smtp_host, c.smtp_port, c.tls, c.email, c.password
        )));
        let mut transports = self.transports.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = transports.get(&key) {
            return Ok(t.clone());
        }
        let bad = |e: lettre::transport::smtp::Error| {
            SendError::permanent(format!("the SMTP server {}:{}: {e}", c.smtp_host, c.smtp_port))
        };
        let builder = if c.tls {
            Transport::relay(&c.smtp_host).map_err(bad)?
        } else if is_loopback(&c.smtp_host) {
            Transport::builder_dangerous(&c.smtp_host)
        } else {
            Transport::starttls_relay(&c.smtp_host).map_err(bad)?
        };
        let mut builder = builder
            .port(c.smtp_port)
            .timeout(Some(Duration::from_secs(20)))
            .pool_config(PoolConfig::new().max_size(16).idle_timeout(Duration::from_secs(60)));
        if !c.password.is_empty() {
            builder = builder.credentials(Credentials::new(c.email.clone(), c.password.clone()));
        }
        let t = Arc::new(builder.build());
        // Channels change rarely; a few stale configurations are dropped wholesale.
        if transports.len() > 64 {
            transports.clear();
        }
        transports.insert(key, t.clone());
        Ok(t)
    }

    /// Sends one plain-text e-mail from the channel's address to `to`; answers its Message-ID.
    pub async fn send(&self, c: &Smtp, to: &str, subject: &str, body: &str) -> Sent {
        let from = c
            .email
            .parse()
            .map_err(|e| SendError::permanent(format!("the channel's sender address {:?}: {e}", c.email)))?;
        let to_addr = to.parse().map_err(|e| SendError::permanent(format!("the address {to:?}: {e}")))?;
        let domain = c.email.rsplit_once('@').map_or("tke", |(_, d)| d);
        let id = format!("<{}@{}>", uuid::Uuid::new_v4(), domain);
        let subject: String = subject.chars().map(|ch| if ch == '\r' || ch == '\n' { ' ' } else { ch }).collect();
        let msg = Message::builder()
            .from(from)
            .to(to_addr)
            .subject(subject)
            .message_id(Some(id.clone()))
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_string())
            .map_err(|e| SendError::permanent(format!("the e-mail could not be built: {e}")))?;
        let transport = self.transport(c)?;
        match transport.send(msg).await {
            Ok(_) => Ok(id),
            Err(e) => {
                let msg =
                    format!("the SMTP server {}:{}: {}", c.smtp_host, c.smtp_port, controller_runtime::error_chain(&e));
                // 5xx answers are final; no answer, a 4xx or a broken connection may pass later.
                if e.is_permanent() { Err(SendError::permanent(msg)) } else { Err(SendError::transient(msg)) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_hosts() {
        assert!(super::is_loopback("127.0.0.1"));
        assert!(super::is_loopback("::1"));
        assert!(super::is_loopback("localhost"));
        assert!(!super::is_loopback("mail.example.org"));
        assert!(!super::is_loopback("10.0.0.1"));
    }
}
