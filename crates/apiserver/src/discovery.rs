use serde_json::Value; use crate::ResourceDef;
pub enum DiscoveryFormat { Aggregated { version: &'static str, content_type: String }, Legacy }
pub fn negotiate(_a: &str) -> DiscoveryFormat { todo!() }
pub fn aggregated_discovery(_d: &[ResourceDef], _v: &str) -> Value { todo!() }
pub fn api_versions() -> Value { todo!() }
pub fn api_group_list(_d: &[ResourceDef]) -> Value { todo!() }
pub fn api_group(_d: &[ResourceDef], _g: &str) -> Option<Value> { todo!() }
pub fn api_resource_list(_d: &[ResourceDef], _g: &str, _v: &str) -> Option<Value> { todo!() }
