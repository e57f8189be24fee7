use serde_json::Value; use apimachinery::ApiError;
#[derive(Clone, Copy, Debug, PartialEq, Eq)] pub enum PatchType { Json, Merge, StrategicMerge, Apply }
impl PatchType { pub fn from_content_type(_s: &str) -> Option<Self> { None } }
pub fn apply_patch(_o: &Value, _t: PatchType, _b: &[u8]) -> Result<Value, ApiError> { todo!() }
