//! `notify.tkestack.io/v1` (reference 1.6 and 6): how the platform tells people things.
//! Channels (SMTP, webhook, Tencent Cloud SMS, WeChat) with write-only secrets, templates of the
//! messages (Go template syntax, namespaced by their channel), receivers and receiver groups,
//! message requests (one send through one channel and template, namespaced by the channel, with
//! every receiver's fate in its status) and messages (what was delivered, the users' inbox).

pub mod channel;
pub mod common;
pub mod message;
pub mod message_request;
pub mod receiver;
pub mod receiver_group;
pub mod template;

pub use channel::Channel;
pub use message::Message;
pub use message_request::MessageRequest;
pub use receiver::Receiver;
pub use receiver_group::ReceiverGroup;
pub use template::Template;

/// The API group.
pub const GROUP: &str = "notify.tkestack.io";
/// The version of the group.
pub const VERSION: &str = "v1";
/// `apiVersion` of every object of the group.
pub const API_VERSION: &str = "notify.tkestack.io/v1";

/// Every resource of the group, in discovery order.
#[cfg(feature = "server")]
pub fn resources() -> Vec<apiserver::ResourceDef> {
    vec![
        channel::definition(),
        template::definition(),
        receiver::definition(),
        receiver_group::definition(),
        message_request::definition(),
        message::definition(),
    ]
}
