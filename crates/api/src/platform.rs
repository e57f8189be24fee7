//! STUB (being replaced): `platform.tkestack.io/v1`.
pub fn resources() -> Vec<apiserver::ResourceDef> { Vec::new() }
