use crate::ResourceDef;
pub struct OpenApiDocs;
pub fn build(_d: &[ResourceDef], _v: &str) -> OpenApiDocs { todo!() }
pub fn serve(_d: &OpenApiDocs, _p: &str, _q: Option<&str>, _h: &axum::http::HeaderMap) -> Option<axum::http::Response<axum::body::Body>> { todo!() }
