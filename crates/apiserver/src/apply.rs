use serde_json::Value; use apimachinery::ApiError;
pub struct ApplyConflict; impl ApplyConflict { pub fn into_api_error(self, _g: &str, _r: &str, _n: &str) -> ApiError { todo!() } }
pub fn default_manager(_ua: &str) -> String { todo!() }
pub fn server_side_apply(_l: Option<&Value>, _a: &Value, _m: &str, _f: bool, _v: &str, _n: &str) -> Result<Value, ApplyConflict> { todo!() }
pub fn update_managed_fields(_o: Option<&Value>, _n: &mut Value, _m: &str, _op: &str, _s: Option<&str>, _v: &str, _now: &str) {}
